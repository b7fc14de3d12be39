"""Evaluate one run: build its method, give it its support, test it through Lightning, make its record."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

from rns_bench.core.errors import ConfigError
from rns_bench.features.dense import device_of
from rns_bench.features.pipeline import loader_workers
from rns_bench.methods import SegMethod, build_method
from rns_bench.ops.resize import PIXEL_PIPELINE
from rns_bench.runs.config import MethodRow, method_row
from rns_bench.runs.context import DatasetContext
from rns_bench.runs.datamodule import FewShotDataModule
from rns_bench.runs.fingerprint import (
    config_fingerprint,
    evaluation_fingerprint,
    fingerprint,
    run_identity,
    tuning_identity,
)
from rns_bench.runs.key import RunKey
from rns_bench.runs.records import environment, write_record
from rns_bench.runs.run_checkpoint import RunCheckpoint
from rns_bench.runs.support import adapted_context, support_images, support_of
from rns_bench.runs.tuned import tuned_options
from rns_bench.support.partial import PartialSupport


@dataclass(frozen=True)
class PlannedRun:
    """One run as the sweep will do it: its key, row, resolved options and fingerprint."""

    key: RunKey
    row: MethodRow
    options: dict[str, Any]
    tuned_from: Path | None
    identity: dict[str, Any]
    fingerprint: str
    tuned_row: MethodRow  # the row whose tuned parameters this run uses (``tuned_params_of``; often ``row``)
    tuning_fingerprint: str  # of ``tuned_row`` at this support set

    def record_path(self, results_dir: Path) -> Path:
        return self.key.record_path(results_dir, self.fingerprint)


def tuning_fingerprint_of(cfg: DictConfig, context: DatasetContext, row: MethodRow, key: RunKey) -> str:
    """The tuning fingerprint of ``row`` (the row that is tuned) at ``key``'s support set."""
    identity = tuning_identity(
        cfg,
        key.with_row(row.row),
        method=row.method,
        options=row.options,
        data=run_data_identity(context, key),
        backbone_provenance=context.backbone.provenance(),
    )
    return fingerprint(identity)


def run_data_identity(context: DatasetContext, key: RunKey) -> dict[str, Any]:
    """The data a run at ``key`` reads, by content: the test split and the drawn support split."""
    return {**context.data_identity, "support": context.support_identity(key.shots, key.seed)}


def plan_run(cfg: DictConfig, context: DatasetContext, row: MethodRow, key: RunKey) -> PlannedRun:
    """Resolve ``row``'s options (its tuned parameters on top, when tuned) and the run's fingerprint."""
    tuned_row = row if row.tuned_params_of == row.row else method_row(cfg, row.tuned_params_of)
    tuning_fp = tuning_fingerprint_of(cfg, context, tuned_row, key)
    options, tuned_from, tuned = tuned_options(
        Path(cfg.results_dir), key.with_row(tuned_row.row), row.options, tuning_fp
    )
    identity = run_identity(
        cfg,
        key,
        method=row.method,
        options=options,
        tuned_params=tuned,
        data=run_data_identity(context, key),
        backbone_provenance=context.backbone.provenance(),
        row_options=row.options,
    )
    return PlannedRun(key, row, options, tuned_from, identity, fingerprint(identity), tuned_row, tuning_fp)


def partial_support(cfg: DictConfig, num_classes: int, seed: int) -> PartialSupport:
    """The run's classes without images / names (rns spec §5), from ``cfg.protocol``."""
    return PartialSupport.of(num_classes, cfg.protocol.visual_drop_fraction, cfg.protocol.text_drop_fraction, seed)


def warn_short_support(context: DatasetContext, plans: list[PlannedRun]) -> None:
    """One warning per support set, before any extraction, naming the classes the pool gives fewer than B
    images (none at all: the class has no visual support in any run of that set)."""
    for shots, seed in dict.fromkeys((plan.key.shots, plan.key.seed) for plan in plans):
        per_class = context.images_per_class(context.support_split(shots, seed))
        short = {name: n for name, n in per_class.items() if n < shots}
        if short:
            shown = ", ".join(f"{name!r} {n}" for name, n in list(short.items())[:5])
            warnings.warn(
                f"B={shots} seed={seed}: {len(short)} class(es) have fewer than B support images because "
                f"the pool has no more ({shown}{', ...' if len(short) > 5 else ''}); records store each "
                "class's count (support_images_per_class)",
                stacklevel=2,
            )


def check_rows_against_protocol(cfg: DictConfig, context: DatasetContext, plans: list[PlannedRun]) -> None:
    """Rows the protocol leaves nothing to predict from fail now, in one line, before any extraction: every
    name dropped (text_drop_fraction=1) and a row that reads text; every image dropped (visual_drop_fraction=1)
    and a row that reads support."""
    visual, text = float(cfg.protocol.visual_drop_fraction), float(cfg.protocol.text_drop_fraction)
    if visual < 1.0 and text < 1.0:
        return
    for row in {plan.row.row: plan.row for plan in plans}.values():
        method = build_method(
            row.method, context.class_names, context.backbone.patch_size, row.options, query_mode=cfg.query_mode
        )
        if text >= 1.0 and method.reads_text:
            raise ConfigError(
                f"protocol.text_drop_fraction={text:g} drops every class name, but row {row.row!r} "
                f"({row.method}) reads the names' text; run its w/o-text variant (rns with "
                "text_free: true, knn_clip / freeda with use_text: false) or a fraction below 1"
            )
        if visual >= 1.0 and method.reads_support:
            raise ConfigError(
                f"protocol.visual_drop_fraction={visual:g} drops every support image, but row "
                f"{row.row!r} ({row.method}) predicts from support; run methods=[zero_shot] or a "
                "fraction below 1"
            )


def attach_run_support(
    method: SegMethod,
    context: DatasetContext,
    image_ids: tuple[str, ...],
    partial: PartialSupport,
    work_dir: Path | None = None,
) -> DatasetContext:
    """Give ``method`` all it needs from the support images ``image_ids`` under ``partial``: an adapted
    encoder (finetune baselines), the bank, text, pixel-level support. Returns the context whose
    encoder the run's features come from (the adapted one for finetuning)."""
    if method.needs_support_images:  # finetune baselines: this run's features come from an adapted encoder
        images, labels = support_images(context, image_ids, partial.no_images)
        context = adapted_context(method, context, images, labels, work_dir)
    bank, pixels = support_of(context, image_ids, partial, method.needs_support_pixels)
    method.attach_support(bank, context.text_features, partial.text_available)
    if pixels is not None:  # offline baselines trained on pixel labels
        method.attach_support_pixels(pixels)
    return context


def make_loggers(cfg: DictConfig, planned: PlannedRun) -> list[Logger]:
    """The run's loggers from ``cfg.logger`` (``configs/logger/default.yaml``): CSV under the run's
    name and fingerprint; W&B when enabled, one W&B run per record, grouped by dataset and row."""
    key, version = planned.key, f"{planned.key.cell}-{planned.fingerprint[:12]}"
    loggers: list[Logger] = [instantiate(cfg.logger.csv, name=key.log_name, version=version)]
    unlink_planted_links(Path(loggers[0].log_dir))  # Lightning writes its CSV files in place
    wandb = OmegaConf.to_container(cfg.logger.wandb, resolve=True)
    if wandb.pop("enabled", False):
        logger = instantiate(
            wandb,
            group=f"{key.dataset}/{key.backbone}/{key.protocol}",
            job_type=key.row,
            name=f"{key.display}-{planned.fingerprint[:6]}",
            reinit="finish_previous",
            tags=[key.dataset, key.backbone, key.protocol, key.row],
        )
        # ``config`` is instantiate()'s own argument name: the run's config goes in once the run exists.
        logger.experiment.config.update(
            {
                "run": planned.identity,
                "fingerprint": planned.fingerprint,
                "resolved": OmegaConf.to_container(cfg, resolve=True),
            }
        )
        loggers.append(logger)
    return loggers


def unlink_planted_links(folder: Path) -> None:
    """Remove symlinks among ``folder``'s files before a library that writes in place (open(path, "w")) writes
    there: in a shared results folder a planted link would make it overwrite the link's target."""
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_symlink():
                path.unlink()


def publish_to_wandb(loggers: list[Logger], record: dict[str, Any], record_path: Path) -> None:
    """The run's W&B summary (mIoU, aAcc, fingerprint), its per-class IoU table and its record as an
    artifact; then the W&B run is finished, so the next record gets its own."""
    for logger in loggers:
        if type(logger).__name__ != "WandbLogger":
            continue
        import wandb

        run = logger.experiment
        metrics = record["metrics"]
        per_class = metrics.get("per_class_IoU") or {}
        table = wandb.Table(columns=["class", "IoU"], data=[[name, value] for name, value in per_class.items()])
        run.log({"per_class_IoU": table})
        run.summary.update({k: v for k, v in metrics.items() if isinstance(v, int | float)})
        run.summary["fingerprint"] = record["fingerprint"]
        artifact = wandb.Artifact(
            f"record-{record['fingerprint'][:12]}",
            type="run-record",
            metadata={"row": record["row"], "shots": record["shots"], "seed": record["seed"]},
        )
        artifact.add_file(str(record_path))
        run.log_artifact(artifact)
        run.finish()


def make_trainer(cfg: DictConfig, loggers: list[Logger]) -> L.Trainer:
    """``cfg.trainer`` instantiated (any Lightning Trainer argument), plus what every run sets itself."""
    try:
        return instantiate(
            cfg.trainer,
            logger=loggers,
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
            use_distributed_sampler=False,
        )
    except InstantiationException as error:  # Lightning's own words, without Hydra's wrapper and traceback
        cause = error.__cause__ or error
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        given = ", ".join(f"trainer.{k}={v}" for k, v in cfg.trainer.items() if k != "_target_")
        raise ConfigError(
            f"the Lightning Trainer refuses {given}: {first} (configs/trainer/default.yaml; "
            "trainer.accelerator=auto uses a GPU when there is one)"
        ) from None


def run_one(cfg: DictConfig, context: DatasetContext, planned: PlannedRun) -> dict[str, Any]:
    """Evaluate one planned run through ``Trainer.test``, write its record (rank 0) and publish it to
    the loggers; returns the record (empty on DDP workers)."""
    started = time.perf_counter()
    key, method_row, options, tuned_from = planned.key, planned.row, planned.options, planned.tuned_from
    partial = partial_support(cfg, len(context.class_names), key.seed)
    method = build_method(
        method_row.method, context.class_names, context.backbone.patch_size, options, query_mode=cfg.query_mode
    )
    if cfg.get("save_predictions"):
        method.prediction_dir = key.work_dir(Path(cfg.results_dir)) / f"predictions-{planned.fingerprint[:12]}"
        method.save_predictions = int(cfg.save_predictions)
    workers = loader_workers(cfg.get("test_loader_workers", "auto"), device_of(context.backbone), "test_loader_workers")
    datamodule = FewShotDataModule(context, key.shots, key.seed, batch_size=cfg.batch_size, loader_workers=workers)
    datamodule.setup()
    per_class = context.images_per_class(datamodule.split)  # the sweep warned about short classes before extracting
    run_context = attach_run_support(
        method, context, datamodule.split.image_ids, partial, key.work_dir(Path(cfg.results_dir))
    )
    datamodule.context = run_context
    support_seconds = time.perf_counter() - started

    loggers = make_loggers(cfg, planned)
    trainer = make_trainer(cfg, loggers)
    checkpoint = None
    if cfg.get("checkpoint_every"):
        checkpoint = RunCheckpoint.of(
            Path(cfg.results_dir),
            key,
            planned.fingerprint,
            int(cfg.checkpoint_every),
            trainer.global_rank,
            trainer.world_size,
        )
        method.checkpoint, method.resume_from = checkpoint, checkpoint.load(len(context.class_names))
        datamodule.skip_images = method.resume_from[1] if method.resume_from is not None else 0
    trainer.test(method, datamodule=datamodule, verbose=False)
    record = {
        "fingerprint": planned.fingerprint,
        "config_fingerprint": config_fingerprint(planned.identity),
        "identity": planned.identity,
        "dataset": key.dataset,
        "backbone": key.backbone,
        "protocol": key.protocol,
        "row": key.row,
        "method": method_row.method,
        "method_options": options,
        "tuned_params": str(tuned_from) if tuned_from else None,
        "query_mode": cfg.query_mode,
        "shots": key.shots,
        "seed": key.seed,
        "support_split": {"sha256": datamodule.split.sha256, "image_ids": list(datamodule.split.image_ids)},
        "support_dataset": context.support_spec.key,  # the test dataset's own key unless support came from another
        "support_images_per_class": per_class,
        "classes_without_images": list(partial.no_images),
        "classes_without_names": list(partial.no_names),
        "class_list_sha256": context.spec.class_list_sha256(),
        "pixel_pipeline": PIXEL_PIPELINE,
        "backbone_provenance": context.backbone.provenance(),
        "num_test_images": len(context.test_ids),
        # test images counted by an earlier, killed process of this run (resumed from its checkpoint)
        "resumed_after_images": datamodule.skip_images,
        "metrics": method.results,
        "predictions": dict(method.saved_predictions),  # image id → palette PNG of the predicted label map
        "timings_s": {"support": round(support_seconds, 3), "total": round(time.perf_counter() - started, 3)},
        # Seconds per image, GPU-synchronised: backbone extraction (test / support settings) and region
        # proposals as measured by this process's stores (null: every image came from the cache), and
        # the method's prediction per test image with its parts (RNS: training set, training, prediction).
        "seconds_per_image": {
            "extraction_test": run_context.test_store.seconds_per_image(),
            "extraction_support": run_context.support_store.seconds_per_image(),
            "proposals": context.region_store.seconds_per_image() if context.region_store is not None else None,
            "support": round(support_seconds / max(1, len(datamodule.split.image_ids)), 6),
            **{
                f"method_{part}" if part != "method" else "method": value
                for part, value in method.seconds_per_image().items()
            },
        },
        "config": OmegaConf.to_container(cfg, resolve=True),
        "environment": environment(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if not method.reads_support:  # one evaluation serves every shots and seed (runs.shared_evaluation)
        record["evaluation_fingerprint"] = evaluation_fingerprint(planned.identity)
    if not trainer.is_global_zero:
        return {}
    path = planned.record_path(Path(cfg.results_dir))
    write_record(path, record)
    if checkpoint is not None:  # every rank's matrix is in the record now
        for partial in path.parent.glob(f"{path.stem}.partial-rank*.safetensors"):
            partial.unlink(missing_ok=True)
    publish_to_wandb(loggers, record, path)
    return record
