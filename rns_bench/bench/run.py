"""A benchmark sweep: every (method row, shots, seed) of one dataset, one record per run."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import lightning as L
import optuna
import torch
from lightning.pytorch.loggers import CSVLogger, Logger
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from rns_bench.backbones import build_backbone
from rns_bench.bench.leaderboard import write_leaderboard
from rns_bench.bench.records import (
    RunKey,
    environment,
    has_current_record,
    read_records,
    retire_stale_record,
    write_record,
)
from rns_bench.data.datamodule import DatasetContext, FewShotDataModule
from rns_bench.data.datasets import DatasetSpec, get_dataset, resolve_data_root
from rns_bench.errors import ConfigError
from rns_bench.features.build import build_feature_stores, prefetches_support_pool
from rns_bench.methods import build_method
from rns_bench.ops.resize import PIXEL_PIPELINE
from rns_bench.proposals import build_proposer
from rns_bench.proposals.cache import RegionCache
from rns_bench.proposals.store import RegionStore
from rns_bench.tuning.params import best_params_path, has_current_params, tuned_options
from rns_bench.tuning.support import support_images, support_pixels

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


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


def load_method_row(row: str, config_dir: Path = CONFIG_DIR) -> MethodRow:
    path = config_dir / "method" / f"{row}.yaml"
    if not path.exists():
        valid = sorted(p.stem for p in (config_dir / "method").glob("*.yaml"))
        raise ConfigError(f"no method config {path}; valid method rows: {', '.join(valid)}")
    spec = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    unknown = set(spec) - {"method", "options", "tuned_params_of"}
    if unknown or "method" not in spec:
        raise ConfigError(f"{path}: needs `method` and may have `options`, `tuned_params_of` (got {sorted(spec)})")
    return MethodRow(row, spec["method"], spec.get("options") or {}, spec.get("tuned_params_of") or "")


def dropped_classes(num_classes: int, fraction: float, seed: int) -> list[int]:
    """The first int(f·K) classes of the seeded permutation (rns spec §5; the same
    permutation for visual and textual drops, as the released code)."""
    order = torch.randperm(num_classes, generator=torch.Generator().manual_seed(seed))
    return order[: int(fraction * num_classes)].tolist()


def protocol_tag(visual_drop: float, text_drop: float, query_mode: str = "patch", proposer: str | None = None) -> str:
    """Names the results folder: support protocol, plus the proposer in region mode (so a
    region run never reuses a patch run's record)."""
    tag = "full" if not visual_drop and not text_drop else f"nv{visual_drop:g}_nt{text_drop:g}"
    return f"{tag}_region-{proposer}" if query_mode == "region" else tag


def make_loggers(cfg: DictConfig, key: RunKey) -> list[Logger]:
    name = f"{key.dataset}/{key.backbone}/{key.protocol}/{key.row}"
    loggers: list[Logger] = [CSVLogger(Path(cfg.results_dir) / "logs", name=name,
                                       version=f"B{key.shots}_seed{key.seed}")]
    if cfg.logger.wandb.enabled:
        from lightning.pytorch.loggers import WandbLogger

        loggers.append(WandbLogger(project=cfg.logger.wandb.project, group=f"{key.dataset}/{key.row}",
                                   name=f"{key.row}-B{key.shots}-s{key.seed}", mode=cfg.logger.wandb.mode,
                                   save_dir=str(Path(cfg.results_dir) / "logs"), reinit=True))
    return loggers


def run_one(cfg: DictConfig, context: DatasetContext, method_row: MethodRow, key: RunKey) -> dict[str, Any]:
    """Evaluate one method row at (shots, seed) through ``Trainer.test``; returns the record."""
    started = time.perf_counter()
    num_classes = len(context.class_names)
    no_images = dropped_classes(num_classes, cfg.protocol.visual_drop_fraction, key.seed)
    no_names = dropped_classes(num_classes, cfg.protocol.text_drop_fraction, key.seed)
    text_available = torch.ones(num_classes, dtype=torch.bool)
    text_available[no_names] = False
    tuned_key = replace(key, row=method_row.tuned_params_of)
    options, tuned_from = tuned_options(Path(cfg.results_dir), tuned_key, method_row.options)
    method = build_method(method_row.method, context.class_names, context.backbone.patch_size,
                          options, query_mode=cfg.query_mode)
    if method.needs_support_images:  # finetune baselines: this run's features come from an adapted encoder
        split = context.support_split(key.shots, key.seed)
        images, labels = support_images(context, split.image_ids, no_images)
        work_dir = key.path(Path(cfg.results_dir)).with_suffix("")
        context = context.with_backbone(method.adapt_encoder(context.backbone, images, labels,
                                                             context.support_store.short_side, work_dir))
    datamodule = FewShotDataModule(context, key.shots, key.seed, batch_size=cfg.batch_size)
    bank = datamodule.support_bank()
    if no_images:
        bank = bank.without_classes(no_images)
    method.attach_support(bank, context.text_features, text_available if no_names else None)
    if method.needs_support_pixels:  # offline baselines trained on pixel labels
        method.attach_support_pixels(support_pixels(context, datamodule.split.image_ids, no_images))
    support_seconds = time.perf_counter() - started

    trainer = L.Trainer(accelerator=cfg.trainer.accelerator, devices=cfg.trainer.devices,
                        strategy=cfg.trainer.strategy, logger=make_loggers(cfg, key),
                        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                        use_distributed_sampler=False)
    trainer.test(method, datamodule=datamodule, verbose=False)
    record = {
        "dataset": key.dataset, "backbone": key.backbone, "protocol": key.protocol, "row": key.row,
        "method": method_row.method, "method_options": options,
        "tuned_params": str(tuned_from) if tuned_from else None, "query_mode": cfg.query_mode,
        "shots": key.shots, "seed": key.seed,
        "support_split": {"sha256": datamodule.split.sha256, "image_ids": list(datamodule.split.image_ids)},
        "classes_without_images": no_images, "classes_without_names": no_names,
        "class_list_sha256": context.spec.class_list_sha256(),
        "pixel_pipeline": PIXEL_PIPELINE,
        "backbone_provenance": context.backbone.provenance(),
        "num_test_images": len(context.test_ids),
        "metrics": method.results,
        "timings_s": {"support": round(support_seconds, 3),
                      "total": round(time.perf_counter() - started, 3)},
        "config": OmegaConf.to_container(cfg, resolve=True),
        "environment": environment(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return record if trainer.is_global_zero else {}


def build_context(cfg: DictConfig) -> DatasetContext:
    spec = get_dataset(cfg.dataset)
    backbone_options = OmegaConf.to_container(cfg.backbone.options, resolve=True) or {}
    backbone = build_backbone(cfg.backbone.name, **backbone_options)
    stores = build_feature_stores(cfg, spec, backbone)  # support and test settings differ (protocol §3)
    presence_dir = Path(cfg.presence_cache_dir) if cfg.get("presence_cache_dir") else None
    return DatasetContext(spec, resolve_data_root(cfg.data_root), stores["support"], stores["test"],
                          test_limit=cfg.test_limit, presence_cache_dir=presence_dir,
                          region_store=build_region_store(cfg, spec, stores["test"].short_side))


def build_region_store(cfg: DictConfig, spec: DatasetSpec, test_short_side: int | None) -> RegionStore | None:
    """Region proposals of the test images in region mode (rns spec §6), cached on disk."""
    if cfg.query_mode != "region":
        return None
    if not cfg.proposer.name:
        raise ConfigError("query_mode=region needs region proposals: add proposer=felzenszwalb (CPU) or "
                          "proposer=sam2 with proposer.options.checkpoint=/path/to/sam2.1_hiera_large.pt")
    proposer = build_proposer(cfg.proposer.name, **(OmegaConf.to_container(cfg.proposer.options, resolve=True) or {}))
    cache = (RegionCache(Path(cfg.region_cache_dir), spec.key, proposer, test_short_side, spec.data_version)
             if cfg.get("region_cache_dir") else None)
    return RegionStore(proposer, cache)


def sweep_protocol(cfg: DictConfig) -> str:
    return protocol_tag(cfg.protocol.visual_drop_fraction, cfg.protocol.text_drop_fraction, cfg.query_mode,
                        cfg.proposer.name if cfg.get("proposer") else None)


def sweep_seeds(cfg: DictConfig, spec: DatasetSpec) -> list[int]:
    """The configured seeds, else the dataset's published ones for full or partial support (§2)."""
    if cfg.seeds:
        return [int(s) for s in cfg.seeds]
    partial = cfg.protocol.visual_drop_fraction or cfg.protocol.text_drop_fraction
    return list(spec.partial_support_seeds if partial else spec.full_support_seeds)


def run_sweep(cfg: DictConfig) -> str:
    """Run every missing (row, shots, seed) and return the leaderboard markdown."""
    rows = [load_method_row(row) for row in cfg.methods]  # fail on a bad name before any work
    context = build_context(cfg)
    protocol = sweep_protocol(cfg)
    results_dir = Path(cfg.results_dir)
    # A support set's rows run one after another: finetune and finetune_rns share one finetuned encoder.
    keys = [(row, RunKey(context.spec.key, cfg.backbone.name, protocol, row.row, int(b), int(s)))
            for b in cfg.shots for s in sweep_seeds(cfg, context.spec) for row in rows]
    todo = [(row, key) for row, key in keys if not has_current_record(key.path(results_dir))]
    retired = [moved for _, key in todo if (moved := retire_stale_record(key.path(results_dir)))]
    if retired:
        print(f"{len(retired)} records were computed through another pixel path (decode/resize) and will be "
              f"re-run; the old ones are kept under {retired[0].parent}/ (and the other rows' stale/ folders)")
    print(f"{len(keys) - len(todo)} of {len(keys)} runs already have records; running {len(todo)}.")
    if todo:
        prefetch_support_pool(cfg, context)
    progress = tqdm(todo, desc="runs", unit="run")
    for row, key in progress:
        progress.set_postfix_str(f"{key.row} B={key.shots} seed={key.seed}")
        if cfg.get("tune_missing"):
            tune_if_missing(cfg, context, row, key)
        record = run_one(cfg, context, row, key)
        if record:
            write_record(key.path(results_dir), record)
    print(f"features extracted by this sweep: {context.test_store.extracted} test, "
          f"{context.support_store.extracted} support images (all else from "
          f"{cfg.cache_dir or 'memory'}; finetune rows extract their own, uncached)")
    if not _is_main_process():
        return ""  # DDP workers evaluated their share; rank 0 writes records and the leaderboard
    records = [r for r in read_records(results_dir, context.spec.key, cfg.backbone.name, protocol)
               if r["row"] in {row.row for row in rows}]
    title = f"{context.spec.key} · {cfg.backbone.name} · {protocol}"
    out_dir = results_dir / context.spec.key / cfg.backbone.name / protocol
    text = write_leaderboard(records, out_dir, title)
    return f"{text}\nrecords, leaderboard.md/.csv/.png: {out_dir}"


def prefetch_support_pool(cfg: DictConfig, context: DatasetContext) -> None:
    """Extract every support-pool image into the feature cache when ``extraction.support_prefetch``
    says so: then no later seed or shot count extracts anything."""
    pool = context.reader.image_ids(context.spec.support_split)
    if not prefetches_support_pool(cfg, len(pool)):
        return
    with tqdm(total=len(pool), desc="support pool features", unit="image", leave=False) as progress:
        context.support_store.precompute(pool, context.reader.read_image, progress)


def tune_if_missing(cfg: DictConfig, context: DatasetContext, row: MethodRow, key: RunKey) -> None:
    """Tune the row's parameters for this support set first when it has a search space
    (``tuning.search_space``) and no tuned file yet (``make bench``: offline baselines tuned)."""
    from rns_bench.tuning.run import describe, search_spaces, tune_one  # tuning builds on this module

    tuned_key = replace(key, row=row.tuned_params_of)
    tuned_file = best_params_path(Path(cfg.results_dir), tuned_key)
    if row.tuned_params_of not in search_spaces(cfg) or has_current_params(tuned_file):
        return
    if not _is_main_process():  # rank 0 tunes; every rank must then run with the same parameters
        wait_for_file(tuned_file, float(cfg.tuning.wait_for_rank_zero_s), has_current_params)
        return
    if len(context.support_split(key.shots, key.seed).image_ids) < 2:
        tqdm.write(f"{row.row} B={key.shots} seed={key.seed}: one support image, nothing to validate on; "
                   "running with the configured options")
        return
    tuned_row = row if row.tuned_params_of == row.row else load_method_row(row.tuned_params_of)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one summary line per study, not one per trial
    try:
        tqdm.write(describe(tune_one(cfg, context, tuned_row, tuned_key)))
    finally:
        optuna.logging.set_verbosity(verbosity)


def wait_for_file(path: Path, timeout_s: float, ready: Callable[[Path], bool] = Path.exists,
                  poll_s: float = 2.0) -> None:
    """Block until ``ready(path)`` (written by rank 0), or fail after ``timeout_s`` with the fix."""
    deadline = time.monotonic() + timeout_s
    while not ready(path):
        if time.monotonic() > deadline:
            raise ConfigError(f"waited {timeout_s:.0f} s for rank 0's tuned parameters {path}; on several nodes "
                              "results_dir must be shared, or tune first with `python -m rns_bench.tuning`")
        time.sleep(poll_s)


def _is_main_process() -> bool:
    # Set by Lightning's launchers (and torchrun / SLURM) for the processes it starts.
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))) == 0
