"""Typed validation of a whole run config *before any work starts*: a typo, a count that is not a
positive integer or a fraction outside [0, 1] never costs a backbone load or an extraction.

Every problem is one line naming the key, the value, where it came from (the command-line override
or the config file) and the fix. The keys and their meaning: ``configs/bench.yaml``.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import lightning as L
from omegaconf import DictConfig, ListConfig, OmegaConf

from rns_bench.backbones import BACKBONES
from rns_bench.core.atomic_io import can_write_in
from rns_bench.core.errors import ConfigError, RNSBenchError
from rns_bench.features.cache import STORAGE_DTYPES
from rns_bench.methods import load_methods
from rns_bench.methods.base import QUERY_MODES
from rns_bench.proposals import PROPOSERS
from rns_bench.runs.config import RunConfig, extraction_options

PUBLISHED_SEEDS = "published"
WRITTEN_DIRS = ("results_dir", "cache_dir", "region_cache_dir", "presence_cache_dir")
READ_ONLY_OK = ("cache_dir", "region_cache_dir")  # read-only and complete is fine: nothing to write
# the top-level keys of configs/bench.yaml: RunConfig's fields but the derived ones (``resolved`` is the
# whole config, not a key)
TOP_LEVEL_KEYS = frozenset(f.name for f in fields(RunConfig) if not f.metadata.get("derived")) - {"resolved"}
ROW_KEYS = frozenset({"method", "options", "tuned_params_of"})
PROTOCOL_KEYS = frozenset({"visual_drop_fraction", "text_drop_fraction"})
# Trainer arguments the run sets itself (one Trainer per run, evaluated through Trainer.test).
TRAINER_SET_BY_RUN = frozenset(
    {"logger", "enable_progress_bar", "enable_model_summary", "enable_checkpointing", "use_distributed_sampler"}
)


def command_line_overrides() -> list[str]:
    """The overrides of the running Hydra app (none when the config was composed in code)."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def validate_config(cfg: DictConfig, overrides: Sequence[str] = ()) -> RunConfig:
    """The typed :class:`RunConfig` of ``cfg``, built once; first raise :class:`ConfigError` (one line) on the
    first problem of ``cfg``; ``overrides`` are the command-line overrides, so the message can name the one
    at fault."""
    where = _Origin(overrides)
    _check_dataset_block(cfg)
    _known_keys(cfg, TOP_LEVEL_KEYS, "", where)
    _check_counts(cfg, where)
    _check_modes(cfg, where)
    _check_trainer(cfg.get("trainer"), where)
    _check_rows(cfg, where)
    _check_component(cfg.get("backbone"), "backbone", BACKBONES, where)
    if cfg.get("query_mode") == "region" or (cfg.get("proposer") and cfg.proposer.get("name")):
        _check_component(cfg.get("proposer"), "proposer", PROPOSERS, where, optional=True)
    _check_folders(cfg, where)
    return RunConfig.of(cfg)


def _check_counts(cfg: DictConfig, where: _Origin) -> None:
    """Shots, seeds and every count: whole numbers in range."""
    _check_shots(cfg.get("shots"), where)
    _check_seeds(cfg.get("seeds"), where)
    _positive_int_or_null(cfg.get("test_limit"), "test_limit", where, "evaluate every test image")
    _positive_int(cfg.get("batch_size"), "batch_size", where)
    _positive_int_or_null(cfg.get("checkpoint_every"), "checkpoint_every", where, "never checkpoint a run")
    _workers(cfg.get("test_loader_workers", "auto"), "test_loader_workers", where)
    trials = (cfg.get("tuning") or {}).get("n_trials", 1)
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ConfigError(
            f"tuning.n_trials={_show(trials)}{where('tuning.n_trials')}: a study needs at least one "
            "trial; set tuning.n_trials to a whole number ≥ 1 (configs/tuning/default.yaml: 10)"
        )
    saved = cfg.get("save_predictions", 0)
    if isinstance(saved, bool) or not isinstance(saved, int) or saved < 0:
        raise ConfigError(
            f"save_predictions={_show(saved)}{where('save_predictions')} must be a whole number of "
            "test images (0 saves none)"
        )


def _check_modes(cfg: DictConfig, where: _Origin) -> None:
    """Query mode, protocol fractions and extraction settings."""
    if cfg.get("query_mode") not in QUERY_MODES:
        raise ConfigError(
            f"query_mode={cfg.get('query_mode')!r}{where('query_mode')} is unknown; choose one of "
            f"{', '.join(QUERY_MODES)}"
        )
    protocol = cfg.get("protocol")
    if not isinstance(protocol, DictConfig):
        raise ConfigError(f"protocol{where('protocol')} must be a mapping with {', '.join(sorted(PROTOCOL_KEYS))}")
    _known_keys(protocol, PROTOCOL_KEYS, "protocol.", where)
    for name in sorted(PROTOCOL_KEYS):
        _fraction(protocol.get(name, 0.0), f"protocol.{name}", where)
    try:
        options = extraction_options(cfg.get("extraction"))
    except RNSBenchError as error:
        raise ConfigError(f"{error}{where('extraction')}") from None
    if options["cache_dtype"] not in STORAGE_DTYPES:
        raise ConfigError(
            f"extraction.cache_dtype={options['cache_dtype']!r}{where('extraction.cache_dtype')} is "
            f"unknown; choose one of {', '.join(STORAGE_DTYPES)}"
        )


def _check_folders(cfg: DictConfig, where: _Origin) -> None:
    """Every folder a run writes can take files; ``data_root`` is a folder."""
    for key in WRITTEN_DIRS:
        if cfg.get(key):
            _check_writable_dir(Path(str(cfg.get(key))), key, where, read_only_ok=key in READ_ONLY_OK)
    if cfg.get("data_root") and Path(str(cfg.data_root)).expanduser().is_file():
        raise ConfigError(
            f"data_root={cfg.data_root}{where('data_root')} is a file; point it at the folder that holds the datasets"
        )


def _check_writable_dir(path: Path, key: str, where: _Origin, read_only_ok: bool = False) -> None:
    """``path`` is (or can be created as) a folder this process may write in; with ``read_only_ok`` an
    existing read-only folder passes (a fully cached feature cache: the sweep refuses it only if it must write)."""
    path = path.expanduser()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.is_file() or (existing != path and not existing.is_dir()):
        raise ConfigError(f"{key}={path}{where(key)}: {existing} is a file, not a folder; choose another {key}")
    if read_only_ok and existing == path and path.is_dir():
        return
    if not can_write_in(existing):
        raise ConfigError(
            f"{key}={path}{where(key)}: cannot write in {existing}; choose a writable {key} (or fix its permissions)"
        )


def _check_rows(cfg: DictConfig, where: _Origin) -> None:
    rows = cfg.get("rows") or {}
    methods = cfg.get("methods")
    if not isinstance(methods, ListConfig | list) or not methods:
        raise ConfigError(
            f"methods={_show(methods)}{where('methods')} must be a non-empty list of rows, e.g. "
            f"methods=[rns,zero_shot]; rows: {', '.join(sorted(rows))}"
        )
    registry = load_methods()
    for name in methods:
        if name not in rows:
            close = difflib.get_close_matches(str(name), list(rows), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ConfigError(
                f"methods names the row {name!r}{where('methods')}, which is not in rows; {hint}rows: "
                f"{', '.join(sorted(rows))} (configs/method/<row>.yaml; a new one: "
                f"+rows.{name}={{method: rns, options: {{k: 16}}}})"
            )
    for name in methods:
        row = rows[name]
        if not isinstance(row, DictConfig) or "method" not in row:
            raise ConfigError(
                f"rows.{name}{where(f'rows.{name}')} needs `method` (a registered method: "
                f"{', '.join(registry.names())}) and may have `options`, `tuned_params_of`"
            )
        _known_keys(row, ROW_KEYS, f"rows.{name}.", where)
        if str(row.method) not in registry:
            raise ConfigError(
                f"rows.{name}.method: unknown method {str(row.method)!r}{where(f'rows.{name}.method')}; "
                f"valid method names: {', '.join(registry.names())}"
            )
        method_cls = registry.get(str(row.method))
        options = OmegaConf.to_container(row.get("options") or {}, resolve=True)
        try:  # building a method is cheap (no weights, no data): it is the options' own check
            method_cls(["class a", "class b"], 16, query_mode=cfg.query_mode, **options)
        except (RNSBenchError, TypeError, ValueError) as error:
            raise ConfigError(f"rows.{name} (method {row.method}){where(f'rows.{name}.options')}: {error}") from None
        tuned_of = row.get("tuned_params_of")
        if tuned_of and tuned_of not in rows:
            raise ConfigError(
                f"rows.{name}.tuned_params_of={tuned_of!r}{where(f'rows.{name}.tuned_params_of')} is "
                f"not a row; rows: {', '.join(sorted(rows))}"
            )


def _check_component(node: Any, group: str, registry: Any, where: _Origin, optional: bool = False) -> None:
    """``<group>.name`` is registered and ``<group>.options`` are arguments of its constructor."""
    if not isinstance(node, DictConfig):
        raise ConfigError(f"{group}{where(group)} must be a mapping with name and options (configs/{group}/)")
    name = node.get("name")
    if not name:
        if optional:
            return
        raise ConfigError(f"{group}.name{where(f'{group}.name')} is empty; choose one of {', '.join(registry.names())}")
    if name not in registry:
        raise ConfigError(
            f"{group}.name={name!r}{where(f'{group}.name')} is not registered; choose one of "
            f"{', '.join(registry.names())}"
        )
    parameters = inspect.signature(registry.get(name)).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    for key in node.get("options") or {}:
        if key not in parameters:
            close = difflib.get_close_matches(str(key), list(parameters), n=1)
            raise ConfigError(
                f"{group}.options.{key}{where(f'{group}.options.{key}')} is not an option of {group} "
                f"{name!r}{f'; did you mean {close[0]}?' if close else ''} (options: "
                f"{', '.join(parameters)})"
            )


def _check_trainer(trainer: Any, where: _Origin) -> None:
    if not isinstance(trainer, DictConfig) or "_target_" not in trainer:
        raise ConfigError(f"trainer{where('trainer')} must be a mapping with _target_ (configs/trainer/default.yaml)")
    accepted = set(inspect.signature(L.Trainer.__init__).parameters) - {"self"}
    for key in trainer:
        if key == "_target_":
            continue
        if key in TRAINER_SET_BY_RUN:
            raise ConfigError(f"trainer.{key}{where(f'trainer.{key}')} is set by each run itself; remove it")
        if key not in accepted:
            close = difflib.get_close_matches(str(key), sorted(accepted), n=1)
            raise ConfigError(
                f"trainer.{key}{where(f'trainer.{key}')} is not an argument of lightning.Trainer"
                f"{f'; did you mean trainer.{close[0]}?' if close else ''}"
            )


def _check_shots(shots: Any, where: _Origin) -> None:
    if not isinstance(shots, ListConfig | list):
        raise ConfigError(
            f"shots={_show(shots)}{where('shots')} must be a list of support images per class: "
            f"write shots=[{_show(shots)}] (brackets), e.g. shots=[1,5]"
        )
    if not shots:
        raise ConfigError(f"shots=[]{where('shots')} is empty; give at least one count, e.g. shots=[1]")
    for value in shots:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(
                f"shots={_show(shots)}{where('shots')}: {value!r} is not a positive whole number of "
                "support images per class"
            )
    _no_repeats(list(shots), "shots", where)


def _no_repeats(values: list[Any], key: str, where: _Origin) -> None:
    """A value given twice would run once but be counted twice: name it."""
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        once = _show(list(dict.fromkeys(values)))
        raise ConfigError(
            f"{key}={_show(values)}{where(key)} names {repeated[0]} twice; list each value once: {key}={once}"
        )


def _check_seeds(seeds: Any, where: _Origin) -> None:
    if seeds == PUBLISHED_SEEDS:
        return
    if not isinstance(seeds, ListConfig | list) or not seeds:
        raise ConfigError(
            f"seeds={_show(seeds)}{where('seeds')}: give a non-empty list (seeds=[100,18]) or "
            f"seeds={PUBLISHED_SEEDS} for the dataset's published seeds"
        )
    for value in seeds:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"seeds={_show(seeds)}{where('seeds')}: {value!r} is not a non-negative integer seed")
    _no_repeats(list(seeds), "seeds", where)


def _positive_int(value: Any, key: str, where: _Origin) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{key}={_show(value)}{where(key)} must be a positive integer")


def _check_dataset_block(cfg: DictConfig) -> None:
    """A dataset file without its ``# @package _global_`` line nests its block at dataset.dataset."""
    dataset = cfg.get("dataset")
    if isinstance(dataset, DictConfig) and "key" not in dataset and "dataset" in dataset:
        name = dataset.dataset.get("key", "<key>") if isinstance(dataset.dataset, DictConfig) else "<key>"
        raise ConfigError(
            f"configs/dataset/{name}.yaml lacks its first line `# @package _global_` (its dataset: "
            "block landed at dataset.dataset); add that line, as in the example of docs/datasets.md"
        )
    if dataset is None or (isinstance(dataset, DictConfig) and "key" not in dataset):
        raise ConfigError(
            "the dataset config has no key: a configs/dataset/<name>.yaml needs a dataset: block "
            'with key: <name> (see docs/datasets.md, "Declare your own dataset")'
        )


def _workers(value: Any, key: str, where: _Origin) -> None:
    if value != "auto" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ConfigError(f"{key}={_show(value)}{where(key)} must be a whole number >= 0 or auto")


def _positive_int_or_null(value: Any, key: str, where: _Origin, null_means: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{key}={_show(value)}{where(key)} must be a positive integer, or null to {null_means}")


def _fraction(value: Any, key: str, where: _Origin) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        raise ConfigError(f"{key}={_show(value)}{where(key)} must be a fraction of the classes in [0, 1]")


def _known_keys(node: DictConfig, valid: frozenset[str], prefix: str, where: _Origin) -> None:
    for key in node:
        if key not in valid:
            close = difflib.get_close_matches(str(key), sorted(valid), n=1)
            raise ConfigError(
                f"unknown config key {prefix}{key}{where(f'{prefix}{key}')}"
                f"{f'; did you mean {prefix}{close[0]}?' if close else ''} (valid: "
                f"{', '.join(sorted(valid))})"
            )


def _show(value: Any) -> str:
    if isinstance(value, ListConfig | DictConfig):
        value = OmegaConf.to_container(value, resolve=False)
    return (
        str(value).replace(" ", "")
        if isinstance(value, list)
        else repr(value)
        if isinstance(value, str)
        else str(value)
    )


class _Origin:
    """`` (from the override shots=1)`` when a command-line override set ``key``, else where the default
    lives."""

    def __init__(self, overrides: Sequence[str]):
        self.overrides = [str(o) for o in overrides]

    def __call__(self, key: str) -> str:
        for override in reversed(self.overrides):  # the last one wins, as in Hydra
            name = override.lstrip("+~").split("=", 1)[0]
            if name == key or name.startswith(f"{key}.") or key.startswith(f"{name}."):
                return f" (from the override {override})"
        top = key.split(".", 1)[0]
        if top == "rows":
            row = key.split(".")[1] if "." in key else ""
            return f" (in configs/method/{row}.yaml or the experiment that declares it)" if row else ""
        group = {
            "trainer": "configs/trainer/",
            "protocol": "configs/protocol/",
            "backbone": "configs/backbone/",
            "proposer": "configs/proposer/",
            "tuning": "configs/tuning/",
        }.get(top)
        return f" (in {group}<choice>.yaml)" if group else " (in configs/bench.yaml or configs/local/)"
