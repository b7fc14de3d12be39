"""Reports over run records next to the paper's numbers (``results/paper/published.csv``)."""
