"""rns-bench: the reference benchmark suite for few-shot open-vocabulary semantic segmentation."""

__version__ = "0.1.0"
