"""Typed option dataclasses built from config mappings: a misspelt key fails with the valid ones, a value of
the wrong type (``k=eight``, ``alphas=[]``, ``use_text="false"``) with the option, the value and what it takes."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, fields
from typing import Any, TypeVar

from rns_bench.core.errors import ConfigError

T = TypeVar("T")


def options_from_dict(cls: type[T], options: Mapping[str, Any], what: str) -> T:
    """``cls(**options)`` after checking every key is a field of the dataclass ``cls`` and every value its type."""
    valid = {f.name for f in fields(cls)}
    unknown = sorted(set(options) - valid)
    if unknown:
        raise ConfigError(f"unknown {what} option(s) {unknown}; valid options: {sorted(valid)}")
    hints = typing.get_type_hints(cls)
    defaults = {f.name: f.default for f in fields(cls)}
    return cls(
        **{
            name: checked_value(value, hints[name], f"{what} option {name}", defaults[name])
            for name, value in options.items()
        }
    )


def checked_value(value: Any, hint: Any, name: str, default: Any = MISSING) -> Any:
    """``value`` as the type ``hint`` takes (YAML lists become tuples, ints floats); ConfigError otherwise."""
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in arguments:
            return None
        hint = next(a for a in arguments if a is not type(None))
        return checked_value(value, hint, name, default)
    example = f" (e.g. {default!r})" if default is not MISSING and default is not None else ""
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name}={value!r} must be true or false{example}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name}={value!r} must be a whole number{example}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{name}={value!r} must be a number{example}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name}={value!r} must be a string{example}")
        return value
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise ConfigError(f"{name}={value!r} must be a list{example}")
        if len(arguments) == 2 and arguments[1] is Ellipsis:
            if not value and default not in (MISSING, None, ()):
                raise ConfigError(f"{name}=[] must not be empty{example}")
            return tuple(checked_value(v, arguments[0], f"{name}[{i}]") for i, v in enumerate(value))
        if len(value) != len(arguments):
            raise ConfigError(f"{name}={list(value)!r} must have {len(arguments)} values{example}")
        return tuple(checked_value(v, a, f"{name}[{i}]") for i, (v, a) in enumerate(zip(value, arguments, strict=True)))
    return value  # other types: the dataclass checks them itself
