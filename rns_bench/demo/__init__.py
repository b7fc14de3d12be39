"""``python -m rns_bench.demo``: a web page for open-world segmentation (``rns_bench.demo.app``).

Importing this package imports nothing else: the web library (Gradio, the ``demo`` extra) is loaded by
``rns_bench.demo.app`` only, so the rest of the suite never needs it.
"""
