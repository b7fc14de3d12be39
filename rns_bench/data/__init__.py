"""Datasets: specs, on-disk readers, support sampling, presence, preparation.

The benchmarks and every other real dataset are declarations (``configs/dataset/<key>.yaml``, read
by ``data.declared.spec_for_key``); the synthetic ``toy`` dataset registers in code from ``rns_bench.toy``.
"""
