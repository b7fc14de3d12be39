"""Methods by registry name. Built-ins live here; competitor packages (``baselines``)
register theirs through the ``rns_bench.methods`` entry-point group, so this package never
imports them by path."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import Any

from rns_bench.core.registry import Registry
from rns_bench.methods import rns_method, zero_shot  # noqa: F401  (registrants)
from rns_bench.methods.base import SegMethod
from rns_bench.methods.registry import METHODS


def load_methods() -> Registry:
    """The registry with every plugin registered under the ``rns_bench.methods`` entry-point group."""
    for entry in entry_points(group="rns_bench.methods"):
        entry.load()
    return METHODS


def build_method(
    name: str,
    class_names: Sequence[str],
    patch_size: int,
    options: dict[str, Any] | None = None,
    query_mode: str = "patch",
) -> SegMethod:
    """Build method ``name`` with its typed ``options`` (a misspelt option is an error)."""
    method_cls = load_methods().get(name)
    return method_cls(class_names, patch_size, query_mode=query_mode, **(options or {}))


__all__ = ["METHODS", "SegMethod", "build_method", "load_methods"]
