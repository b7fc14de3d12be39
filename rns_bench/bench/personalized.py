"""The job of a personalized-segmentation experiment (``experiment.kind: personalized``, Fig. 7).

For every row of ``methods`` (open-vocabulary rows: RNS, kNN-CLIP, FREEDA) it runs the study of
:mod:`rns_bench.runs.personalized` and writes, under ``results/toy/<backbone>/personalized/<row>/``,
the shown scenes (``<fingerprint>/image_i.png`` and the ``truth_i`` / ``before_i`` / ``after_i`` label
maps, the instance's support ``support_i.png`` / ``support_mask_i.png``) and then the record
``<fingerprint>.json`` (the study's figures). The fingerprint covers the setup, the backbone and the
row's method and options: a finished row is skipped, a changed one runs again beside the old record.
"""

from __future__ import annotations

import time
from pathlib import Path

from omegaconf import DictConfig

from rns_bench.core.atomic_io import save_label_png, save_rgb_png
from rns_bench.core.errors import ConfigError
from rns_bench.runs.config import dataset_key, method_rows
from rns_bench.runs.fingerprint import FINGERPRINT_LENGTH, fingerprint
from rns_bench.runs.personalized import (
    DATASET,
    STUDY,
    declared_study,
    run_personalized,
    study_folder,
    study_identity,
    study_scenes,
)
from rns_bench.runs.records import environment, has_record, write_record
from rns_bench.runs.schema import command_line_overrides, validate_config


def is_personalized(cfg: DictConfig) -> bool:
    experiment = cfg.get("experiment")
    return isinstance(experiment, DictConfig) and experiment.get("kind") == STUDY


def run_personalized_experiment(cfg: DictConfig) -> str:
    """Run the study for each row without a current record; return the summary lines."""
    validate_config(cfg, command_line_overrides())
    name = str(cfg.experiment.get("name", STUDY))
    if dataset_key(cfg) != DATASET:
        raise ConfigError(
            f"{name} runs on the toy world's personal instance, not dataset={dataset_key(cfg)}; "
            f"drop the dataset override (it is {DATASET})"
        )
    setup, backbone, backbone_options = declared_study(cfg)
    folder = study_folder(Path(cfg.results_dir), backbone)
    lines, scenes = [], None
    for row in method_rows(cfg):
        identity = study_identity(setup, backbone, backbone_options, row.method, row.options)
        full = fingerprint(identity)
        record_path = folder / row.row / f"{full[:FINGERPRINT_LENGTH]}.json"
        if has_record(record_path, full):
            lines.append(f"{row.row}: done before ({record_path})")
            continue
        print(f"{row.row}: personalized segmentation of {setup.personal_name!r} ({row.method})", flush=True)
        scenes = scenes if scenes is not None else study_scenes(setup)  # rendered once, for every row that runs
        started = time.perf_counter()
        result = run_personalized(
            setup,
            backbone,
            row.method,
            row.options,
            cache_dir=Path(cfg.cache_dir) if cfg.get("cache_dir") else None,
            backbone_options=backbone_options,
            scenes=scenes,
        )
        images = folder / row.row / full[:FINGERPRINT_LENGTH]
        for i, scene in enumerate(result.shown):
            save_rgb_png(images / f"image_{i}.png", scene["image"])
            for part in ("truth", "before", "after"):
                save_label_png(images / f"{part}_{i}.png", scene[part])
        for i, item in enumerate(result.support):
            save_rgb_png(images / f"support_{i}.png", item["image"])
            save_label_png(images / f"support_mask_{i}.png", item["mask"].astype("uint8"))
        record = {
            "row": row.row,
            "method": row.method,
            "experiment": name,
            "identity": identity,
            "fingerprint": full,
            "metrics": result.metrics,
            "class_names": result.class_names,
            "personal_class": setup.personal_name,
            "generic_class": setup.class_name,
            "images": images.name,
            "shown": len(result.shown),
            "support_images": len(result.support),
            "images_extracted": result.images_extracted,
            "seconds": round(time.perf_counter() - started, 2),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "environment": environment(),
        }
        write_record(record_path, record)  # last: a record means every image beside it is written
        before, after = result.metrics["before"], result.metrics["after"]
        lines.append(
            f"{row.row}: {setup.personal_name} IoU {before['personal_IoU']:.1f} → {after['personal_IoU']:.1f}"
            f", {setup.class_name} IoU (instance ignored) {before['generic_IoU_without_instance']:.1f} → "
            f"{after['generic_IoU_without_instance']:.1f} ({record_path})"
        )
    return "\n".join(lines)
