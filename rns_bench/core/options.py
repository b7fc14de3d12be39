"""Typed option dataclasses built from config mappings: a misspelt key fails with the valid ones, a value of
the wrong type (``k=eight``, ``alphas=[]``, ``use_text="false"``) with the option, the value and what it takes."""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields
from typing import Any, TypeVar

from rns_bench.core.errors import ConfigError

T = TypeVar("T")

# The scalar types an option takes: (whether a value is one, what it must be, the value to keep).
_SCALARS: dict[type, tuple[Callable[[Any], bool], str, Callable[[Any], Any]]] = {
    bool: (lambda value: isinstance(value, bool), "true or false", lambda value: value),
    int: (lambda value: not isinstance(value, bool) and isinstance(value, int), "a whole number", lambda value: value),
    float: (lambda value: not isinstance(value, bool) and isinstance(value, int | float), "a number", float),
    str: (lambda value: isinstance(value, str), "a string", lambda value: value),
}


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
    scalar = next((kind for kind in _SCALARS if hint is kind), None)
    if scalar is not None:
        accepts, what, convert = _SCALARS[scalar]
        if not accepts(value):
            raise ConfigError(f"{name}={value!r} must be {what}{example}")
        return convert(value)
    if origin is tuple:
        return _checked_tuple(value, arguments, name, default, example)
    return value  # other types: the dataclass checks them itself


def _checked_tuple(value: Any, arguments: tuple[Any, ...], name: str, default: Any, example: str) -> tuple:
    """``value`` as ``tuple[arguments]`` (``tuple[T, ...]`` or one type per place), each item checked."""
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigError(f"{name}={value!r} must be a list{example}")
    if len(arguments) == 2 and arguments[1] is Ellipsis:
        if not value and default not in (MISSING, None, ()):
            raise ConfigError(f"{name}=[] must not be empty{example}")
        return tuple(checked_value(v, arguments[0], f"{name}[{i}]") for i, v in enumerate(value))
    if len(value) != len(arguments):
        raise ConfigError(f"{name}={list(value)!r} must have {len(arguments)} values{example}")
    return tuple(checked_value(v, a, f"{name}[{i}]") for i, (v, a) in enumerate(zip(value, arguments, strict=True)))
