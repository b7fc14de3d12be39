"""The method registry (a leaf: registrants, ``baselines`` included, import only this)."""

from rns_bench.core.registry import Registry
from rns_bench.methods.base import SegMethod

METHODS: Registry[type[SegMethod]] = Registry("method")
