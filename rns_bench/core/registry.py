"""Small name → component registries (the timm ``@register_model`` habit).

Names are stable public identifiers: they appear unchanged in configs, result records,
W&B groups and leaderboard rows, so renaming a module never invalidates a result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from rns_bench.core.errors import UnknownNameError

T = TypeVar("T")


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
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries
