"""Errors the suite raises on bad input. Each message names the bad value and the fix."""

from __future__ import annotations


class RNSBenchError(Exception):
    """Base class of every error the suite raises on purpose."""


class UnknownNameError(RNSBenchError, KeyError):
    """A registry name (dataset, method, backbone, ...) that is not registered."""

    def __init__(self, kind: str, name: str, valid: list[str]):
        self.kind, self.name, self.valid = kind, name, valid
        super().__init__(f"unknown {kind} {name!r}; valid {kind} names: {', '.join(valid) or '(none registered)'}")

    def __str__(self) -> str:  # KeyError would quote the whole message
        return self.args[0]


class InputError(RNSBenchError, ValueError):
    """Input data (features, labels, files, configs) that the suite cannot use as given."""


class ConfigError(RNSBenchError, ValueError):
    """A config key or value that does not fit the component it configures."""
