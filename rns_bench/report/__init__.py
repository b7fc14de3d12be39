"""Reports over run records next to the paper's numbers (``rns_bench/report/paper/published.csv``)."""
