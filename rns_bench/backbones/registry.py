"""The backbone registry (a leaf: registrants import only this; lookups live in the package)."""

from rns_bench.backbones.base import Backbone
from rns_bench.core.registry import Registry

BACKBONES: Registry[type[Backbone]] = Registry("backbone")
