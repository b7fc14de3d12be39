"""``python -m rns_bench.segment``: segment your own images with your own support (``rns_bench.cli.segment``)."""
