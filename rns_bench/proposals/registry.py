"""The region-proposer registry (a leaf: registrants import only this)."""

from rns_bench.core.registry import Registry
from rns_bench.proposals.base import Proposer

PROPOSERS: Registry[type[Proposer]] = Registry("proposer")
