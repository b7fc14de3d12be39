"""The run-level reading of a (validated, ``rns_bench.runs.schema``) config: the typed :class:`RunConfig`
built once from it, method rows, the protocol folder name, the seeds, and the checks that need the
registries or the data."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from rns_bench.core.errors import ConfigError
from rns_bench.data.datasets import DatasetSpec
from rns_bench.features.cache import AUTOCAST_DTYPES
from rns_bench.features.dense import DEFAULT_WINDOW_BATCH
from rns_bench.features.pipeline import loader_workers
from rns_bench.runs.key import STUDY
from rns_bench.toy.world import PERSONAL_PREFIX, ToyWorld

EXTRACTION_DEFAULTS = {
    "image_batch": 8,
    "window_batch": DEFAULT_WINDOW_BATCH,
    "cache_dtype": "float32",
    "support_prefetch": "auto",
    "support_prefetch_max_images": 2000,
    "loader_workers": "auto",
    "autocast": "auto",
    "backbone": "build",
}
SUPPORT_PREFETCH = ("auto", "pool", "drawn")
# build: the backbone from its config (weights); cached: its card from cache_dir (rns_bench.features.backbone_card)
BACKBONE_SOURCES = ("build", "cached")
# Lightning's mixed precisions → the autocast dtype extraction runs under with extraction.autocast=auto.
# "-true" precisions cast the LightningModule's weights, never the backbone's: its features stay float32.
MIXED_PRECISION_AUTOCAST = {"bf16-mixed": "bfloat16", "bf16": "bfloat16", "16-mixed": "float16", "16": "float16"}


@dataclass(frozen=True)
class MethodRow:
    """A leaderboard row: a registered method with options (``configs/method/<row>.yaml``).

    ``tuned_params_of``: the row whose tuned parameters this row uses (itself by default;
    ``finetune_rns`` uses ``finetune``'s: the same encoder training).
    """

    row: str
    method: str
    options: dict[str, Any]
    tuned_params_of: str = ""

    def __post_init__(self) -> None:
        if not self.tuned_params_of:
            object.__setattr__(self, "tuned_params_of", self.row)


@dataclass(frozen=True)
class ProtocolConfig:
    """``protocol.*`` (rns spec §5): fractions of the classes without support images / without names."""

    visual_drop_fraction: float = 0.0
    text_drop_fraction: float = 0.0

    @property
    def partial(self) -> bool:
        return bool(self.visual_drop_fraction or self.text_drop_fraction)


@dataclass(frozen=True)
class ExtractionConfig:
    """``extraction.*`` over ``EXTRACTION_DEFAULTS`` (configs/bench.yaml says what each one does)."""

    image_batch: int = EXTRACTION_DEFAULTS["image_batch"]
    window_batch: int = EXTRACTION_DEFAULTS["window_batch"]
    cache_dtype: str = "float32"
    support_prefetch: str = "auto"
    support_prefetch_max_images: int = 2000
    loader_workers: int | str = "auto"
    autocast: str = "auto"
    backbone: str = "build"


@dataclass(frozen=True)
class TuningConfig:
    """``tuning.*`` (``configs/tuning/default.yaml``): study settings, search spaces, storage."""

    n_trials: int = 1
    val_fraction: float | None = None
    split_seed: int | None = None
    sampler_seed: int | None = None
    tpe_startup_trials: int | None = None
    enqueue_defaults: bool = True
    report_every: int | None = None
    pruner: dict[str, Any] | None = None
    heartbeat_s: int | None = None
    storage: str | None = None
    dir: str | None = None
    search_space: dict[str, Any] = field(default_factory=dict)
    wait_for_rank_zero_s: float | None = None

    def setting(self, name: str) -> Any:
        """A study setting as the config gives it (the tuning fingerprint hashes these)."""
        return getattr(self, name)


DERIVED = {"derived": True}  # a RunConfig field read from other keys, not a key of configs/bench.yaml


@dataclass(frozen=True)
class RunConfig:
    """Every top-level key of ``configs/bench.yaml`` (and ``tune.yaml``), typed, built once from the
    composed config by :func:`rns_bench.runs.schema.validate_config`. Free-form nodes (backbone and
    proposer settings, the trainer's and loggers' ``_target_`` nodes, rows, the dataset declaration, the
    experiment) are plain resolved containers. ``resolved``: the whole config, resolved (records keep it)."""

    dataset: Any
    data_root: str | None
    backbone: dict[str, Any]
    proposer: dict[str, Any]
    protocol: ProtocolConfig
    trainer: dict[str, Any]
    logger: dict[str, Any]
    tuning: TuningConfig
    rows: dict[str, Any]
    methods: tuple[str, ...]
    tune_missing: bool
    shots: tuple[int, ...]
    seeds: tuple[int, ...] | str
    query_mode: str
    test_limit: int | None
    batch_size: int
    results_dir: Path
    cache_dir: Path | None
    extraction: ExtractionConfig
    region_cache_dir: Path | None
    presence_cache_dir: Path | None
    experiment: dict[str, Any] | None
    save_predictions: int
    support_dataset: str | None
    checkpoint_every: int | None
    test_loader_workers: int | str
    # Read from the keys above once, in ``of`` (plain values, no config key of their own).
    dataset_key: str = field(metadata=DERIVED)  # configs/dataset/<key>.yaml; a plain ``dataset: key`` works too
    backbone_name: str = field(metadata=DERIVED)
    proposer_name: str | None = field(metadata=DERIVED)
    precision: str = field(metadata=DERIVED)  # trainer.precision (part of every fingerprint)
    # The dtype features are extracted under: extraction.autocast, or with ``auto`` the one trainer.precision
    # implies (bf16-mixed → bfloat16, 16-mixed → float16, else none). It keys the cache and the record: a bf16
    # sweep and a float32 one never read each other's features.
    autocast: str = field(metadata=DERIVED)
    resolved: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, cfg: DictConfig) -> RunConfig:
        """The typed reading of a composed config (``validate_config`` checks it first and calls this)."""
        if "hydra" in cfg:  # composed with Hydra's own node (a report reading an experiment): not a run key
            cfg = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
        plain = OmegaConf.to_container(cfg, resolve=True)
        tuning = plain.get("tuning") or {}
        extraction = ExtractionConfig(**extraction_options(plain.get("extraction")))
        dataset = plain.get("dataset")
        precision = str((plain.get("trainer") or {}).get("precision", "32-true"))
        return cls(
            dataset=dataset,
            data_root=plain.get("data_root"),
            backbone=plain.get("backbone") or {},
            proposer=plain.get("proposer") or {},
            protocol=ProtocolConfig(**(plain.get("protocol") or {})),
            trainer=plain.get("trainer") or {},
            logger=plain.get("logger") or {},
            tuning=TuningConfig(**{f.name: tuning[f.name] for f in fields(TuningConfig) if f.name in tuning}),
            rows=plain.get("rows") or {},
            methods=tuple(str(name) for name in plain.get("methods") or ()),
            tune_missing=bool(plain.get("tune_missing")),
            shots=tuple(int(s) for s in plain.get("shots") or ()),
            seeds=plain["seeds"] if isinstance(plain.get("seeds"), str) else tuple(int(s) for s in plain["seeds"]),
            query_mode=str(plain.get("query_mode")),
            test_limit=plain.get("test_limit"),
            batch_size=int(plain.get("batch_size")),
            results_dir=Path(plain.get("results_dir")),
            cache_dir=_folder(plain.get("cache_dir")),
            extraction=extraction,
            region_cache_dir=_folder(plain.get("region_cache_dir")),
            presence_cache_dir=_folder(plain.get("presence_cache_dir")),
            experiment=plain.get("experiment"),
            save_predictions=int(plain.get("save_predictions") or 0),
            support_dataset=str(plain["support_dataset"]) if plain.get("support_dataset") else None,
            checkpoint_every=plain.get("checkpoint_every"),
            test_loader_workers=plain.get("test_loader_workers", "auto"),
            dataset_key=str(dataset["key"] if isinstance(dataset, dict) else dataset),
            backbone_name=str((plain.get("backbone") or {}).get("name")),
            proposer_name=(plain.get("proposer") or {}).get("name"),
            precision=precision,
            autocast=(
                extraction.autocast
                if extraction.autocast != "auto"
                else MIXED_PRECISION_AUTOCAST.get(precision, "none")
            ),
            resolved=plain,
        )

    def row(self, name: str) -> MethodRow:
        """Row ``name`` of ``rows`` (``configs/method/<row>.yaml`` composed there, with overrides)."""
        if name not in self.rows:
            raise _no_row(name, self.rows)
        row = self.rows[name]
        options = copy.deepcopy(row.get("options") or {})  # a run may extend them; the resolved config stays
        return MethodRow(name, str(row["method"]), options, str(row.get("tuned_params_of") or ""))

    def seeds_for(self, spec: DatasetSpec) -> list[int]:
        """The configured seeds, or with ``seeds: published`` the dataset's published seeds for full or
        partial support (§2)."""
        if self.seeds != "published":
            return [int(s) for s in self.seeds]
        return list(spec.partial_support_seeds if self.protocol.partial else spec.full_support_seeds)


def _folder(value: Any) -> Path | None:
    """A configured folder; null or empty disables it."""
    return Path(str(value)) if value else None


def extraction_options(given: Mapping[str, Any] | DictConfig | None) -> dict[str, Any]:
    """The ``extraction`` block over ``EXTRACTION_DEFAULTS`` (configs without the block get the defaults)."""
    given = OmegaConf.to_container(given, resolve=True) if OmegaConf.is_config(given) else dict(given or {})
    unknown = set(given) - set(EXTRACTION_DEFAULTS)
    if unknown:
        raise ConfigError(
            f"unknown extraction option(s) {sorted(unknown)} in configs/bench.yaml; "
            f"valid: {sorted(EXTRACTION_DEFAULTS)}"
        )
    options = {**EXTRACTION_DEFAULTS, **given}
    if options["support_prefetch"] not in SUPPORT_PREFETCH:
        raise ConfigError(
            f"extraction.support_prefetch={options['support_prefetch']!r} unknown; choose one of {SUPPORT_PREFETCH}"
        )
    if options["backbone"] not in BACKBONE_SOURCES:
        raise ConfigError(f"extraction.backbone={options['backbone']!r} unknown; choose one of {BACKBONE_SOURCES}")
    loader_workers(options["loader_workers"], torch.device("cpu"))  # a bad value fails here, before any work
    if options["autocast"] != "auto" and options["autocast"] not in AUTOCAST_DTYPES:
        raise ConfigError(
            f"extraction.autocast={options['autocast']!r} unknown; choose auto (follows "
            f"trainer.precision) or one of {', '.join(AUTOCAST_DTYPES)}"
        )
    return options


def _no_row(name: str, rows: Mapping[str, Any]) -> ConfigError:
    return ConfigError(
        f"no method row {name!r} in rows; rows: {', '.join(sorted(rows))} "
        "(configs/method/<row>.yaml, or declare one with +rows.<name>={method: ..., options: {...}})"
    )


def method_row(cfg: DictConfig, name: str) -> MethodRow:
    """Row ``name`` of ``cfg.rows`` (for readers of a composed config that is not run: reports)."""
    rows = cfg.get("rows") or {}
    if name not in rows:
        raise _no_row(name, rows)
    row = rows[name]
    options = OmegaConf.to_container(row.get("options") or {}, resolve=True)
    return MethodRow(name, str(row.method), options, str(row.get("tuned_params_of") or ""))


def method_rows(run: RunConfig) -> list[MethodRow]:
    """The rows that run (``methods``), in order."""
    return [run.row(name) for name in run.methods]


def dataset_key(cfg: DictConfig) -> str:
    """The dataset of ``cfg`` (``configs/dataset/<key>.yaml``; a plain ``dataset: key`` works too)."""
    dataset = cfg.dataset
    return str(dataset.key if isinstance(dataset, DictConfig) else dataset)


def protocol_tag(visual_drop: float, text_drop: float, query_mode: str = "patch", proposer: str | None = None) -> str:
    """Names the results folder: support protocol, plus the proposer in region mode (so a
    region run never reuses a patch run's record)."""
    tag = "full" if not visual_drop and not text_drop else f"nv{visual_drop:g}_nt{text_drop:g}"
    return f"{tag}_region-{proposer}" if query_mode == "region" else tag


def sweep_protocol(run: RunConfig) -> str:
    """The results folder of ``run``'s runs; support from another dataset (Fig. 9) adds ``_support-<key>``."""
    protocol = run.protocol
    tag = protocol_tag(
        protocol.visual_drop_fraction,
        protocol.text_drop_fraction,
        run.query_mode,
        run.proposer_name if run.proposer else None,
    )
    support = run.support_dataset
    return f"{tag}_support-{support}" if support and support != run.dataset_key else tag


STUDY_VERSION = 1  # of the personalized study: bump when its scenes or scoring change (old records not reused)


@dataclass(frozen=True)
class PersonalizedSetup:
    """What the study shows (``experiment.personalized`` of ``configs/experiment/fig7_personalized.yaml``)."""

    class_name: str = "dog"
    generic_support_per_class: int = 2  # train scenes per toy class before the instance is added
    personal_support: int = 3  # support images of the instance ("a few examples", Fig. 16)
    test_with_instance: int = 8  # val scenes with the instance and a generic member of its class
    test_without_instance: int = 4  # val scenes with a generic member only
    world_seed: int = 0
    scene_seed: int = 0

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None, where: str) -> PersonalizedSetup:
        values = dict(config or {})
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r}; keys: {', '.join(cls.__dataclass_fields__)}")
        setup = cls(**values)
        world = ToyWorld(setup.world_seed)
        world.personal_look(setup.class_name)  # an unknown or background class fails here, in one line
        for name in ("generic_support_per_class", "personal_support", "test_with_instance"):
            if int(getattr(setup, name)) < 1:
                raise ConfigError(f"{where}: {name}={getattr(setup, name)} must be at least 1")
        if int(setup.test_without_instance) < 0:
            raise ConfigError(f"{where}: test_without_instance={setup.test_without_instance} must be 0 or more")
        return setup

    @property
    def personal_name(self) -> str:
        return f"{PERSONAL_PREFIX}{self.class_name}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def declared_study(cfg: DictConfig) -> tuple[PersonalizedSetup, str, dict[str, Any]]:
    """The study a composed experiment config declares: its setup, backbone name and backbone options."""
    name = str(cfg.experiment.get("name", STUDY))
    setup = PersonalizedSetup.from_config(
        OmegaConf.to_container(cfg.experiment.get("personalized") or {}, resolve=True),
        f"configs/experiment/{name}.yaml: experiment.personalized",
    )
    options = OmegaConf.to_container(cfg.backbone.get("options") or {}, resolve=True)
    return setup, str(cfg.backbone.name), dict(options)  # type: ignore[arg-type]


def study_identity(
    setup: PersonalizedSetup,
    backbone: str,
    backbone_options: Mapping[str, Any],
    method: str,
    options: Mapping[str, Any],
) -> dict[str, Any]:
    """Everything that changes one row's study figures; its hash names the row's record (the job writes it,
    the report looks for the one its config declares)."""
    return {
        "study": STUDY,
        "version": STUDY_VERSION,
        "setup": setup.as_dict(),
        "backbone": {"name": backbone, "options": dict(backbone_options)},
        "method": {"name": method, "options": dict(options)},
    }
