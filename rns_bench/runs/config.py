"""The run-level reading of a (validated, ``rns_bench.runs.schema``) config: method rows, the
protocol folder name, the seeds, and the checks that need the registries or the data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rns_bench.core.errors import ConfigError, UnknownNameError
from rns_bench.core.paths import CONFIG_DIR
from rns_bench.data.datasets import DATASETS, DatasetSpec
from rns_bench.data.declared import dataset_spec
from rns_bench.runs.key import STUDY
from rns_bench.toy.world import PERSONAL_PREFIX, ToyWorld


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


def method_row(cfg: DictConfig, name: str) -> MethodRow:
    """Row ``name`` of ``cfg.rows`` (``configs/method/<row>.yaml`` composed there, with overrides)."""
    rows = cfg.get("rows") or {}
    if name not in rows:
        raise ConfigError(
            f"no method row {name!r} in rows; rows: {', '.join(sorted(rows))} "
            "(configs/method/<row>.yaml, or declare one with +rows.<name>={method: ..., options: {...}})"
        )
    row = rows[name]
    options = OmegaConf.to_container(row.get("options") or {}, resolve=True)
    return MethodRow(name, str(row.method), options, str(row.get("tuned_params_of") or ""))


def method_rows(cfg: DictConfig) -> list[MethodRow]:
    """The rows that run (``cfg.methods``), in order."""
    return [method_row(cfg, str(name)) for name in cfg.methods]


def spec_for_key(key: str, data_root: Path) -> DatasetSpec:
    """Dataset ``key``: registered in code, else declared in ``configs/dataset/<key>.yaml`` (the
    commands that take a key, ``python -m rns_bench.data verify food``, see what ``dataset=food`` sees)."""
    if key in DATASETS.names():
        return DATASETS.get(key)
    path = CONFIG_DIR / "dataset" / f"{key}.yaml"
    if not path.is_file():
        declared = sorted(p.stem for p in (CONFIG_DIR / "dataset").glob("*.yaml"))
        raise UnknownNameError("dataset", key, sorted(set(DATASETS.names()) | set(declared)))
    block = OmegaConf.to_container(OmegaConf.load(path), resolve=True).get("dataset")
    if not isinstance(block, dict):
        raise ConfigError(f"{path} has no dataset: block; see configs/dataset/food.yaml for a declared dataset")
    return dataset_spec(block, data_root)


def dataset_key(cfg: DictConfig) -> str:
    """The dataset of ``cfg`` (``configs/dataset/<key>.yaml``; a plain ``dataset: key`` works too)."""
    dataset = cfg.dataset
    return str(dataset.key if isinstance(dataset, DictConfig) else dataset)


def protocol_tag(visual_drop: float, text_drop: float, query_mode: str = "patch", proposer: str | None = None) -> str:
    """Names the results folder: support protocol, plus the proposer in region mode (so a
    region run never reuses a patch run's record)."""
    tag = "full" if not visual_drop and not text_drop else f"nv{visual_drop:g}_nt{text_drop:g}"
    return f"{tag}_region-{proposer}" if query_mode == "region" else tag


def sweep_protocol(cfg: DictConfig) -> str:
    """The results folder of ``cfg``'s runs; support from another dataset (Fig. 9) adds ``_support-<key>``."""
    tag = protocol_tag(
        cfg.protocol.visual_drop_fraction,
        cfg.protocol.text_drop_fraction,
        cfg.query_mode,
        cfg.proposer.name if cfg.get("proposer") else None,
    )
    support = cfg.get("support_dataset")
    return f"{tag}_support-{support}" if support and str(support) != dataset_key(cfg) else tag


def sweep_seeds(cfg: DictConfig, spec: DatasetSpec) -> list[int]:
    """The configured seeds, or with ``seeds: published`` the dataset's published ones for full or
    partial support (§2)."""
    if cfg.seeds != "published":
        return [int(s) for s in cfg.seeds]
    partial = cfg.protocol.visual_drop_fraction or cfg.protocol.text_drop_fraction
    return list(spec.partial_support_seeds if partial else spec.full_support_seeds)


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
