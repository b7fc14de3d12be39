"""A run's loggers (``configs/logger/default.yaml``: CSV always, W&B when enabled) and what a run publishes
to W&B once its record is written."""

from __future__ import annotations

from pathlib import Path

from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger

from rns_bench.runs.config import RunConfig
from rns_bench.runs.plan import PlannedRun
from rns_bench.runs.records import RunRecord


def make_loggers(run: RunConfig, planned: PlannedRun) -> list[Logger]:
    """The run's loggers from ``run.logger``: CSV under the run's name and fingerprint; W&B when enabled,
    one W&B run per record, grouped by dataset and row."""
    key, version = planned.key, f"{planned.key.cell}-{planned.fingerprint[:12]}"
    loggers: list[Logger] = [instantiate(run.logger["csv"], name=key.log_name, version=version)]
    unlink_planted_links(Path(loggers[0].log_dir))  # Lightning writes its CSV files in place
    wandb = dict(run.logger["wandb"])
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
            {"run": planned.identity, "fingerprint": planned.fingerprint, "resolved": run.resolved}
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


def publish_to_wandb(loggers: list[Logger], record: RunRecord, record_path: Path) -> None:
    """The run's W&B summary (mIoU, aAcc, fingerprint), its per-class IoU table and its record as an
    artifact; then the W&B run is finished, so the next record gets its own."""
    for logger in loggers:
        if type(logger).__name__ != "WandbLogger":
            continue
        import wandb

        run = logger.experiment
        metrics, per_class = record.metrics, record.per_class_iou
        table = wandb.Table(columns=["class", "IoU"], data=[[name, value] for name, value in per_class.items()])
        run.log({"per_class_IoU": table})
        run.summary.update({k: v for k, v in metrics.items() if isinstance(v, int | float)})
        run.summary["fingerprint"] = record.fingerprint
        artifact = wandb.Artifact(
            f"record-{record.fingerprint[:12]}",
            type="run-record",
            metadata={"row": record.row, "shots": record.shots, "seed": record.seed},
        )
        artifact.add_file(str(record_path))
        run.log_artifact(artifact)
        run.finish()
