"""Dense features, their extraction and their on-disk cache."""
