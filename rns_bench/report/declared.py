"""What an experiment declares: the config of each report cell, and whether a record is of it.

A report cell (dataset × results folder × method row) reads only records of the config the experiment
declares, with the command line's overrides on top (``make experiment`` gives the sweep and the report
the same ``ARGS``). The declared config of a dataset is composed as the sweep composes that job:
``configs/bench.yaml`` with ``experiment=<name> dataset=<key> backbone=<backbone>`` and the overrides. A
swept override (``dataset=voc,ade``, ``protocol.visual_drop_fraction=0.1,0.5``) is not one config: the
report's datasets and columns stand for it. The cell then takes the protocol of its results folder.

A record is the cell's when :meth:`CellConfig.why_not` finds nothing:

* its ``identity`` equals the one the sweep would give the cell's runs (``run_identity`` of the composed
  config) in every part a config declares: the row's method and its options before tuning
  (``identity.method.row_options``), the backbone's name, options (runtime ones aside) and windows, the
  extraction settings, the protocol (fractions, query mode, proposer, sampler) and the evaluation settings
  (batch size, precision). Not compared, as no config declares them: tuned parameters (chosen per cell),
  the backbone's provenance (checkout, weight hashes) and the data's content hashes;
* its test split is the declared one: every test image, or the first ``test_limit`` where one is declared
  (a ``test_limit`` that cut nothing is the full split) — a smoke run is not a full run;
* its B is a declared shot count and its seed a declared seed (``seeds: published``: the dataset's).

Matching the declared fields, rather than an expected ``config_fingerprint``, keeps records usable when the
data or a backbone checkout is another copy (the fingerprint hashes their content): several configs can
then match one cell; the report uses the newest and says in what they differ.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rns_bench.core.errors import ConfigError, RNSBenchError
from rns_bench.core.paths import CONFIG_DIR
from rns_bench.data.datasets import DatasetSpec, resolve_data_root
from rns_bench.data.declared import dataset_spec, spec_for_key
from rns_bench.runs.config import RunConfig, dataset_key, protocol_tag
from rns_bench.runs.fingerprint import identity_differences, run_identity
from rns_bench.runs.key import RunKey
from rns_bench.runs.records import RunRecord
from rns_bench.runs.schema import PUBLISHED_SEEDS

# A results folder (runs.config.protocol_tag, plus ``_support-<key>`` for support from another dataset).
FOLDER = re.compile(
    r"^(?:full|nv(?P<visual>[0-9.e+-]+)_nt(?P<text>[0-9.e+-]+))"
    r"(?:_region-(?P<proposer>.+?))?(?:_support-(?P<support>.+))?$"
)
# Identity paths shown as the config keys that set them (the override a user would type).
CONFIG_KEYS = (
    ("method.row_options.", "rows.{row}.options."),
    ("method.name", "rows.{row}.method"),
    ("evaluation.batch_size", "batch_size"),
    ("evaluation.precision", "trainer.precision"),
    ("protocol.query_mode", "query_mode"),
    ("protocol.proposer.", "proposer."),
)
SHOWN_DIFFERENCES = 3
MISSING = "(absent)"


@dataclass(frozen=True)
class ProtocolFolder:
    """What a results folder's name says: fractions without images / names, region proposer, support dataset."""

    visual_drop_fraction: float
    text_drop_fraction: float
    proposer: str | None  # None: patch queries
    support_dataset: str | None  # None: support from the test dataset itself


def parse_protocol_folder(folder: str) -> ProtocolFolder | None:
    """``nv0.5_nt0_region-sam2`` → its parts; None when ``folder`` is not a results folder name."""
    match = FOLDER.match(folder)
    if match is None:
        return None
    try:
        visual, text = float(match["visual"] or 0.0), float(match["text"] or 0.0)
    except ValueError:
        return None
    return ProtocolFolder(visual, text, match["proposer"], match["support"])


def override_key(override: str) -> str:
    return override.partition("=")[0].lstrip("+~")


def protocol_overrides(folder: str) -> list[str]:
    """The sweep overrides whose runs land in results folder ``folder`` (``full_region-sam2``: region mode
    with SAM 2.1 proposals, full support)."""
    parsed = parse_protocol_folder(folder)
    if parsed is None or parsed.support_dataset:
        raise ConfigError(
            f"protocol={folder} is not a results folder; use full, full_region-<proposer> or "
            "nv<fraction>_nt<fraction>[_region-<proposer>] (e.g. protocol=full_region-sam2)"
        )
    overrides = [
        f"protocol.visual_drop_fraction={parsed.visual_drop_fraction}",
        f"protocol.text_drop_fraction={parsed.text_drop_fraction}",
    ]
    return (
        [*overrides, "query_mode=region", f"proposer={parsed.proposer}"]
        if parsed.proposer
        else [*overrides, "query_mode=patch"]
    )


def with_overrides(overrides: Sequence[str], extra: Sequence[str]) -> list[str]:
    """``overrides`` with ``extra`` replacing those of the same keys (Hydra refuses a group given twice)."""
    replaced = {override_key(o) for o in extra}
    return [*(o for o in overrides if override_key(o) not in replaced), *extra]


def is_sweep(override: str) -> bool:
    """Whether ``override`` sweeps values (``dataset=voc,ade``); a list (``shots=[1,5]``) is one value."""
    try:
        return OverridesParser.create().parse_overrides([override])[0].is_sweep_override()
    except HydraException:
        return False  # malformed: composing names it


def declared_parts(identity: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a run identity that a config declares (module doc), as a record stores them."""
    parts = {name: value for name, value in identity.items() if name != "data"}
    parts["run"] = {k: v for k, v in (identity.get("run") or {}).items() if k not in ("shots", "seed")}
    method = identity.get("method") or {}
    parts["method"] = {"name": method.get("name"), "row_options": method.get("row_options", method.get("options"))}
    parts["backbone"] = {k: v for k, v in (identity.get("backbone") or {}).items() if k != "provenance"}
    return json.loads(json.dumps(parts, default=str))


def value_at(node: Any, path: str) -> Any:
    """The value at dotted ``path`` of nested mappings; :data:`MISSING` where there is none."""
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node


def _show(value: Any) -> str:
    return value if value is MISSING else json.dumps(value, default=str)


@dataclass(frozen=True)
class CellConfig:
    """What one (dataset, results folder, row) declares; :meth:`why_not` tells a record of it from others."""

    row: str
    identity: dict[str, Any]  # declared_parts of the identity the sweep gives the cell's runs
    shots: tuple[int, ...]
    seeds: tuple[int, ...]
    test_limit: int | None

    def why_not(self, record: RunRecord) -> str | None:
        """Why ``record`` is not of this config (one line, the same for every record it applies to); None
        when it is."""
        identity = record.identity
        if not isinstance(identity, Mapping):
            return "no identity: a record from before records knew their config (its sweep re-runs it)"
        split = self._test_split_difference(record)
        if split:
            return split
        parts = declared_parts(identity)
        differences = identity_differences([parts, self.identity])
        if differences:
            shown = [
                f"{self._config_key(p)}={_show(value_at(parts, p))} (declared {_show(value_at(self.identity, p))})"
                for p in differences[:SHOWN_DIFFERENCES]
            ]
            more = f" and {len(differences) - SHOWN_DIFFERENCES} more" if len(differences) > SHOWN_DIFFERENCES else ""
            return f"another config: {', '.join(shown)}{more}"
        if int(record.shots) not in self.shots:
            return f"B = {record.shots} is not declared (shots: {', '.join(map(str, self.shots))})"
        if int(record.seed) not in self.seeds:
            return f"seed {record.seed} is not declared (seeds: {', '.join(map(str, self.seeds))})"
        return None

    def _test_split_difference(self, record: RunRecord) -> str | None:
        limit, count = record.test_limit, record.num_test_images
        count = count if count is not None else value_at(record.identity, "data.num_test_images")
        count = count if isinstance(count, int) else None
        every = limit is None or (count is not None and count < limit)  # a test_limit that cut nothing
        if self.test_limit is None:
            return (
                None if every else (f"smoke run: test_limit={limit} ({count} test images); declared: every test image")
            )
        if limit == self.test_limit or (every and count is not None and count <= self.test_limit):
            return None
        used = "every test image" if every else f"test_limit={limit}"
        return f"{count} test images ({used}); declared: test_limit={self.test_limit}"

    def _config_key(self, path: str) -> str:
        for prefix, key in CONFIG_KEYS:
            if path.startswith(prefix):
                return key.format(row=self.row) + path[len(prefix) :]
        return path


class Declarations:
    """The declared configs of experiment ``experiment`` on ``backbone`` with the sweep's ``overrides``,
    over ``datasets`` (the command line's ``dataset=``; default: the experiment's sweep). One config is
    composed per dataset, when a cell of it has records to match."""

    def __init__(self, experiment: str, backbone: str, overrides: Sequence[str] = (), datasets: Sequence[str] = ()):
        self.experiment, self.backbone = experiment, backbone
        # dataset and backbone are the report's own choices; a swept value is the report's columns
        self.overrides = [o for o in overrides if override_key(o) not in ("dataset", "backbone") and not is_sweep(o)]
        self._configs: dict[str, DictConfig] = {}
        self._cells: dict[tuple[str, str, str], CellConfig] = {}
        first = self._compose(datasets[0] if datasets else None, with_hydra=True)
        swept = OmegaConf.select(first, "hydra.sweeper.params.dataset", default=None)
        self._datasets = (
            [str(d) for d in datasets]
            or [d.strip() for d in str(swept or "").split(",") if d.strip()]
            or [dataset_key(first)]
        )
        self._configs[dataset_key(first)] = first
        # the base (B, seeds, protocol of the report) is the first declared dataset's: a dataset file sets its own
        self.base = self.config(self._datasets[0])

    @property
    def shots(self) -> list[int]:
        return [int(b) for b in self.base.shots]

    def datasets(self) -> list[str]:
        """The command line's ``dataset=``, else the experiment's swept datasets, else the config's dataset."""
        return list(self._datasets)

    def folder(self, with_fractions: bool = True) -> str:
        """The results folder of the base config (fractions left at 0 for a report whose columns set them)."""
        cfg = self.base
        proposer = cfg.proposer.name if cfg.get("proposer") else None
        fractions = (
            (cfg.protocol.visual_drop_fraction, cfg.protocol.text_drop_fraction) if with_fractions else (0.0, 0.0)
        )
        return protocol_tag(*fractions, cfg.query_mode, proposer)

    def summary(self) -> str:
        """One line: what the report counts as declared."""
        cfg = self.base
        seeds = "published" if cfg.seeds == PUBLISHED_SEEDS else ", ".join(str(s) for s in cfg.seeds)
        split = "every test image" if cfg.get("test_limit") is None else f"test_limit={cfg.test_limit}"
        given = " ".join(self.overrides) or "none"
        return (
            f"declared: experiment={self.experiment} backbone={self.backbone}, datasets "
            f"{', '.join(self.datasets())}; B {', '.join(map(str, self.shots))}; seeds {seeds}; {split}; "
            f"overrides: {given}"
        )

    def config(self, dataset: str) -> DictConfig:
        if dataset not in self._configs:
            self._configs[dataset] = self._compose(dataset)
        return self._configs[dataset]

    def cell(self, dataset: str, folder: str, row: str) -> CellConfig:
        """The declared config of ``row``'s runs on ``dataset`` in results folder ``folder``."""
        if (dataset, folder, row) not in self._cells:
            self._cells[dataset, folder, row] = self._cell(dataset, folder, row)
        return self._cells[dataset, folder, row]

    def _cell(self, dataset: str, folder: str, row: str) -> CellConfig:
        protocol = parse_protocol_folder(folder)
        if protocol is None:
            raise ConfigError(f"{folder!r} is not a results folder name (full, nv<fraction>_nt<fraction>, ...)")
        cfg = copy.deepcopy(self.config(dataset))
        cfg.protocol.visual_drop_fraction = protocol.visual_drop_fraction
        cfg.protocol.text_drop_fraction = protocol.text_drop_fraction
        run = RunConfig.of(cfg)
        method = run.row(row)
        key = RunKey(dataset, run.backbone_name, folder, row, 0, 0)
        identity = run_identity(
            run,
            key,
            method=method.method,
            options=method.options,
            tuned_params=None,
            data={},
            backbone_provenance={},
            row_options=method.options,
        )
        seeds = run.seeds_for(self._seed_spec(run, protocol.support_dataset or dataset))  # type: ignore[arg-type]
        return CellConfig(
            row,
            declared_parts(identity),
            run.shots,
            tuple(seeds),
            int(run.test_limit) if run.test_limit is not None else None,
        )

    def _seed_spec(self, run: RunConfig, key: str) -> DatasetSpec | None:
        """The dataset whose published seeds the sweep draws (the support dataset's); None when seeds are given
        (``RunConfig.seeds_for`` reads it only for ``seeds: published``)."""
        if run.seeds != PUBLISHED_SEEDS:
            return None
        root = resolve_data_root(run.data_root)
        try:
            return dataset_spec(run.dataset, root) if key == run.dataset_key else spec_for_key(key, root)
        except RNSBenchError as error:
            raise ConfigError(
                f"seeds=published on {key}: {error} (or give the report the seeds the sweep ran: seeds=[...])"
            ) from None

    def _compose(self, dataset: str | None, with_hydra: bool = False) -> DictConfig:
        overrides = [
            f"experiment={self.experiment}",
            f"backbone={self.backbone}",
            *([f"dataset={dataset}"] if dataset else []),
            *self.overrides,
        ]
        try:
            with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
                return compose("bench", overrides=overrides, return_hydra_config=with_hydra)
        except (HydraException, OmegaConfBaseException) as error:
            reason = " ".join(str(error).split()).split(" Config search path")[0]
            raise ConfigError(
                f"the config of experiment {self.experiment} with {' '.join(overrides[1:])} does not compose: {reason}"
            ) from None
