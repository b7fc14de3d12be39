"""What one run is: its key and fingerprint, its context, evaluating it, its record."""
