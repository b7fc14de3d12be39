"""Check a command line before Hydra runs it: composition errors (an unknown key, a missing config
choice) and every value (``rns_bench.runs.schema``) become one line naming the override and the fix,
before Hydra creates its output folder or any work starts."""

from __future__ import annotations

import re
from collections.abc import Sequence

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from rns_bench.core.errors import ConfigError
from rns_bench.core.paths import CONFIG_DIR
from rns_bench.runs.config import RunConfig
from rns_bench.runs.schema import validate_config


def overrides_of(argv: Sequence[str]) -> list[str] | None:
    """The plain overrides of ``argv``; None when Hydra flags or sweeps are present (left to Hydra). A list
    (``methods=[zero_shot,rns]``) is not a sweep: Hydra's own override grammar tells them apart."""
    if any(arg.startswith("-") or arg.startswith("hydra") for arg in argv):
        return None
    try:
        parsed = OverridesParser.create().parse_overrides(list(argv))
    except HydraException:
        return list(argv)  # malformed: compose() names it in one line
    return None if any(override.is_sweep_override() for override in parsed) else list(argv)


def preflight(config_name: str, argv: Sequence[str]) -> RunConfig | None:
    """Compose ``config_name`` with ``argv`` and validate it (its :class:`RunConfig`, None when Hydra is left to
    compose it); raise :class:`ConfigError` (one line)."""
    overrides = overrides_of(argv)
    if overrides is None:
        return None
    return validate_config(compose_checked(config_name, overrides), overrides)


def compose_checked(config_name: str, overrides: Sequence[str]) -> DictConfig:
    """``config_name`` composed with ``overrides``; a composition error is a one-line :class:`ConfigError`
    (an unknown key with the valid ones, a missing choice with the choices)."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        try:
            return compose(config_name, overrides=list(overrides))
        except (HydraException, OmegaConfBaseException) as error:
            raise ConfigError(_one_line(error, config_name, list(overrides))) from None


def _one_line(error: Exception, config_name: str, overrides: list[str]) -> str:
    text = " ".join(str(error).split())
    missing = re.search(r"Could not override '([^']+)'", text) or re.search(r"Key '([^']+)' is not in struct", text)
    if missing:
        key = missing.group(1)
        override = next((o for o in overrides if o.split("=", 1)[0].lstrip("+~") == key), key)
        parent, _, name = key.rpartition(".")
        valid = _valid_keys(config_name, parent)
        return (
            f"unknown config key {key} (from the override {override}); valid keys"
            f"{f' of {parent}' if parent else ''}: {', '.join(valid) or '(none)'}. A new key needs a plus "
            f"(+{key}=...) where the component accepts it"
        )
    choice = re.search(r"Could not find '([^']+)'", text)
    if choice:
        group = choice.group(1).rsplit("/", 1)[0]
        options = sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))
        return f"no config {choice.group(1)}.yaml; choices for {group}: {', '.join(options)}"
    return text


def _valid_keys(config_name: str, parent: str) -> list[str]:
    node = compose(config_name)
    for part in [p for p in parent.split(".") if p]:
        node = node.get(part) if isinstance(node, DictConfig) else None
    return sorted(str(k) for k in node) if isinstance(node, DictConfig) else []


__all__ = ["compose_checked", "preflight"]
