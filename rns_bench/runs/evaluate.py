"""Evaluate one run: build its method, give it its support, test it through Lightning, make its record."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger

from rns_bench.core.errors import ConfigError
from rns_bench.features.dense import device_of
from rns_bench.features.pipeline import loader_workers
from rns_bench.methods import SegMethod, build_method
from rns_bench.ops.resize import PIXEL_PIPELINE
from rns_bench.runs.config import RunConfig
from rns_bench.runs.context import RunContext
from rns_bench.runs.datamodule import FewShotDataModule
from rns_bench.runs.fingerprint import config_fingerprint, evaluation_fingerprint
from rns_bench.runs.loggers import make_loggers, publish_to_wandb
from rns_bench.runs.plan import PlannedRun
from rns_bench.runs.records import RunRecord, environment, write_record
from rns_bench.runs.run_checkpoint import RunCheckpoint
from rns_bench.runs.support import adapted_context, partial_support, support_images, support_of
from rns_bench.support.partial import PartialSupport


def attach_run_support(
    method: SegMethod,
    context: RunContext,
    image_ids: tuple[str, ...],
    partial: PartialSupport,
    work_dir: Path | None = None,
) -> RunContext:
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


def make_trainer(trainer: dict[str, Any], loggers: list[Logger]) -> L.Trainer:
    """The ``trainer`` node (``_target_``: any Lightning Trainer argument) instantiated, plus what every run
    sets itself."""
    try:
        return instantiate(
            trainer,
            logger=loggers,
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
            use_distributed_sampler=False,
        )
    except InstantiationException as error:  # Lightning's own words, without Hydra's wrapper and traceback
        cause = error.__cause__ or error
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        given = ", ".join(f"trainer.{k}={v}" for k, v in trainer.items() if k != "_target_")
        raise ConfigError(
            f"the Lightning Trainer refuses {given}: {first} (configs/trainer/default.yaml; "
            "trainer.accelerator=auto uses a GPU when there is one)"
        ) from None


def run_one(run: RunConfig, context: RunContext, planned: PlannedRun) -> RunRecord | None:
    """Evaluate one planned run through ``Trainer.test``, write its record (rank 0) and publish it to
    the loggers; returns the record (None on DDP workers)."""
    started = time.perf_counter()
    key = planned.key
    partial = partial_support(run.protocol, len(context.class_names), key.seed)
    method = build_method(
        planned.row.method, context.class_names, context.backbone.patch_size, planned.options, query_mode=run.query_mode
    )
    if run.save_predictions:
        method.prediction_dir = key.work_dir(run.results_dir) / f"predictions-{planned.fingerprint[:12]}"
        method.save_predictions = int(run.save_predictions)
    workers = loader_workers(run.test_loader_workers, device_of(context.backbone), "test_loader_workers")
    datamodule = FewShotDataModule(context, key.shots, key.seed, batch_size=run.batch_size, loader_workers=workers)
    datamodule.setup()
    per_class = context.images_per_class(datamodule.split)  # the sweep warned about short classes before extracting
    run_context = attach_run_support(
        method, context, datamodule.split.image_ids, partial, key.work_dir(run.results_dir)
    )
    datamodule.context = run_context
    support_seconds = time.perf_counter() - started

    loggers = make_loggers(run, planned)
    trainer = make_trainer(run.trainer, loggers)
    checkpoint = None
    if run.checkpoint_every:
        checkpoint = RunCheckpoint.of(
            run.results_dir,
            key,
            planned.fingerprint,
            int(run.checkpoint_every),
            trainer.global_rank,
            trainer.world_size,
        )
        method.checkpoint, method.resume_from = checkpoint, checkpoint.load(len(context.class_names))
        datamodule.skip_images = method.resume_from[1] if method.resume_from is not None else 0
    trainer.test(method, datamodule=datamodule, verbose=False)
    record = run_record(run, context, planned, method, datamodule, partial, per_class)
    seconds = seconds_per_image(context, run_context, method, support_seconds, len(datamodule.split.image_ids))
    timings = {"support": round(support_seconds, 3), "total": round(time.perf_counter() - started, 3)}
    record = dataclasses.replace(record, seconds_per_image=seconds, timings_s=timings)
    if not method.reads_support:  # one evaluation serves every shots and seed (runs.shared_evaluation)
        record = dataclasses.replace(record, evaluation_fingerprint=evaluation_fingerprint(planned.identity))
    if not trainer.is_global_zero:
        return None
    path = planned.record_path(run.results_dir)
    write_record(path, record)
    if checkpoint is not None:  # every rank's matrix is in the record now
        for partial_matrix in path.parent.glob(f"{path.stem}.partial-rank*.safetensors"):
            partial_matrix.unlink(missing_ok=True)
    publish_to_wandb(loggers, record, path)
    return record


def run_record(
    run: RunConfig,
    context: RunContext,
    planned: PlannedRun,
    method: SegMethod,
    datamodule: FewShotDataModule,
    partial: PartialSupport,
    per_class: dict[str, int],
) -> RunRecord:
    """The record of an evaluated run (``seconds_per_image`` and ``timings_s`` are filled in by the caller)."""
    key = planned.key
    return RunRecord(
        fingerprint=planned.fingerprint,
        config_fingerprint=config_fingerprint(planned.identity),
        identity=planned.identity,
        dataset=key.dataset,
        backbone=key.backbone,
        protocol=key.protocol,
        row=key.row,
        method=planned.row.method,
        method_options=planned.options,
        tuned_params=str(planned.tuned_from) if planned.tuned_from else None,
        query_mode=run.query_mode,
        shots=key.shots,
        seed=key.seed,
        support_split={"sha256": datamodule.split.sha256, "image_ids": list(datamodule.split.image_ids)},
        support_dataset=context.support_spec.key,  # the test dataset's own key unless support came from another
        support_images_per_class=per_class,
        classes_without_images=list(partial.no_images),
        classes_without_names=list(partial.no_names),
        class_list_sha256=context.spec.class_list_sha256(),
        pixel_pipeline=PIXEL_PIPELINE,
        backbone_provenance=context.backbone.provenance(),
        num_test_images=len(context.test_ids),
        # test images counted by an earlier, killed process of this run (resumed from its checkpoint)
        resumed_after_images=datamodule.skip_images,
        metrics=method.results,
        predictions=dict(method.saved_predictions),  # image id → palette PNG of the predicted label map
        config=run.resolved,
        environment=environment(),
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        nulls=frozenset({"tuned_params", "timings_s", "seconds_per_image"}),  # written as null until filled in
    )


def seconds_per_image(
    context: RunContext, run_context: RunContext, method: SegMethod, support_seconds: float, support_images: int
) -> dict[str, Any]:
    """Seconds per image, GPU-synchronised: backbone extraction (test / support settings) and region
    proposals as measured by this process's stores (null: every image came from the cache), and
    the method's prediction per test image with its parts (RNS: training set, training, prediction)."""
    return {
        "extraction_test": run_context.test_store.seconds_per_image(),
        "extraction_support": run_context.support_store.seconds_per_image(),
        "proposals": context.region_store.seconds_per_image() if context.region_store is not None else None,
        "support": round(support_seconds / max(1, support_images), 6),
        **{
            f"method_{part}" if part != "method" else "method": value
            for part, value in method.seconds_per_image().items()
        },
    }
