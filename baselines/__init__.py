"""Competitor methods, registered in ``rns_bench.methods.METHODS`` on import (entry point
``rns_bench.methods``: ``baselines``)."""

from baselines import freeda, knn_clip, offline_finetune, offline_linear  # noqa: F401
