"""Typed option dataclasses built from config mappings: a misspelt key fails with the valid ones."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

from rns_bench.core.errors import ConfigError

T = TypeVar("T")


def options_from_dict(cls: type[T], options: Mapping[str, Any], what: str) -> T:
    """``cls(**options)`` after checking every key is a field of the dataclass ``cls``."""
    valid = {f.name for f in fields(cls)}
    unknown = sorted(set(options) - valid)
    if unknown:
        raise ConfigError(f"unknown {what} option(s) {unknown}; valid options: {sorted(valid)}")
    # YAML has lists where the dataclass has tuples (alphas, betas): the same value, one type.
    defaults = {f.name: f.default for f in fields(cls)}
    return cls(**{k: tuple(v) if isinstance(defaults.get(k), tuple) and isinstance(v, list) else v
                  for k, v in options.items()})
