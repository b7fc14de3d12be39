"""Datasets: specs, on-disk readers, support sampling, presence, preparation.

Importing the package registers the paper's benchmark datasets (``data.benchmarks``); the
synthetic ``toy`` dataset registers from ``rns_bench.toy``.
"""

from rns_bench.data import benchmarks  # noqa: F401  (registrant)
