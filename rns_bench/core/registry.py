"""Small name → component registries (the timm ``@register_model`` habit).

Names are stable public identifiers: they appear unchanged in configs, result records,
W&B groups and leaderboard rows, so renaming a module never invalidates a result.

Components registered from outside a registry's package (the toy world's ``toy`` dataset and ``toy_vlm``
backbone, a user's own package) are found through the ``rns_bench.components`` entry-point group: a
lookup that misses imports those packages once, so no caller imports them for their side effect.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from rns_bench.core.errors import UnknownNameError

T = TypeVar("T")
COMPONENT_PLUGINS = "rns_bench.components"  # pyproject.toml: [project.entry-points."rns_bench.components"]
_plugins_loaded: list[bool] = []  # once per process


def load_component_plugins() -> None:
    """Import every package of the ``rns_bench.components`` entry-point group (they register components)."""
    if _plugins_loaded:
        return
    _plugins_loaded.append(True)
    for entry in entry_points(group=COMPONENT_PLUGINS):
        entry.load()


class Registry(Generic[T]):
    """Maps short names to builders; an unknown name lists the valid ones."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(entry: T) -> T:
            if name in self._entries and self._entries[name] is not entry:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = entry
            if isinstance(entry, type) and getattr(entry, "name", None) == "":
                entry.name = name  # a class that names itself takes its registered name (methods)
            return entry

        return decorator

    def get(self, name: str) -> T:
        if name not in self._entries:
            load_component_plugins()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def names(self) -> list[str]:
        load_component_plugins()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        if name not in self._entries:
            load_component_plugins()
        return name in self._entries
