"""The job of a personalized-segmentation experiment (``experiment.kind: personalized``, Fig. 7).

For every row of ``methods`` (open-vocabulary rows: RNS, kNN-CLIP, FREEDA) it runs the study below and
writes, under ``results/toy/<backbone>/personalized/<row>/``,
the shown scenes (``<fingerprint>/image_i.png`` and the ``truth_i`` / ``before_i`` / ``after_i`` label
maps, the instance's support ``support_i.png`` / ``support_mask_i.png``) and then the record
``<fingerprint>.json`` (the study's figures). The fingerprint covers the setup, the backbone and the
row's method and options: a finished row is skipped, a changed one runs again beside the old record.

The study (paper §8.4, Fig. 7) on the toy world: one open-vocabulary method, a
support set that lets it segment every toy class, then a few support images of one particular object
added at run time as the new class ``my <class>``.

The test scenes hold a generic member of the class; some also hold the personal instance
(:mod:`rns_bench.toy.personal`). Scored in the label space of the toy classes plus ``my <class>``,
before (the instance is not in the vocabulary: at best it is called its class) and after:

* ``personal_IoU``: IoU of ``my <class>``;
* ``generic_IoU``: IoU of the class, the instance's pixels counted as not the class (before its
  support, an instance called by its class name is a false positive of the class);
* ``generic_IoU_without_instance``: IoU of the class with the instance's pixels ignored — whether
  generic members stay generic once the instance has a class of its own;
* where the instance's pixels and the generic pixels go (fractions of each predicted as the personal
  class, the generic class, anything else).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from rns_bench.core.atomic_io import save_label_png, save_rgb_png
from rns_bench.core.errors import ConfigError
from rns_bench.core.labels import IGNORE_INDEX
from rns_bench.metrics.miou import confusion_matrix, iou_from_confusion
from rns_bench.runs.config import PersonalizedSetup, declared_study, method_rows, study_identity
from rns_bench.runs.fingerprint import FINGERPRINT_LENGTH, fingerprint
from rns_bench.runs.key import DATASET, STUDY, study_folder
from rns_bench.runs.records import RunRecord, environment, has_record, write_record
from rns_bench.runs.schema import command_line_overrides, validate_config
from rns_bench.segment.segmenter import OpenWorldSegmenter
from rns_bench.toy.personal import Scene, generic_support, personal_scenes
from rns_bench.toy.world import ToyWorld


def is_personalized(cfg: DictConfig) -> bool:
    experiment = cfg.get("experiment")
    return isinstance(experiment, DictConfig) and experiment.get("kind") == STUDY


def run_personalized_experiment(cfg: DictConfig) -> str:
    """Run the study for each row without a current record; return the summary lines."""
    run = validate_config(cfg, command_line_overrides())
    name = str(cfg.experiment.get("name", STUDY))
    if run.dataset_key != DATASET:
        raise ConfigError(
            f"{name} runs on the toy world's personal instance, not dataset={run.dataset_key}; "
            f"drop the dataset override (it is {DATASET})"
        )
    setup, backbone, backbone_options = declared_study(cfg)
    folder = study_folder(run.results_dir, backbone)
    lines, scenes = [], None
    for row in method_rows(run):
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
            cache_dir=run.cache_dir,
            backbone_options=backbone_options,
            scenes=scenes,
        )
        images = folder / row.row / full[:FINGERPRINT_LENGTH]
        save_study_images(images, result)
        record = RunRecord(
            row=row.row,
            method=row.method,
            experiment=name,
            identity=identity,
            fingerprint=full,
            metrics=result.metrics,
            class_names=result.class_names,
            personal_class=setup.personal_name,
            generic_class=setup.class_name,
            images=images.name,
            shown=len(result.shown),
            support_images=len(result.support),
            images_extracted=result.images_extracted,
            seconds=round(time.perf_counter() - started, 2),
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            environment=environment(),
        )
        write_record(record_path, record)  # last: a record means every image beside it is written
        before, after = result.metrics["before"], result.metrics["after"]
        lines.append(
            f"{row.row}: {setup.personal_name} IoU {before['personal_IoU']:.1f} → {after['personal_IoU']:.1f}"
            f", {setup.class_name} IoU (instance ignored) {before['generic_IoU_without_instance']:.1f} → "
            f"{after['generic_IoU_without_instance']:.1f} ({record_path})"
        )
    return "\n".join(lines)


def save_study_images(images: Path, result: PersonalizedResult) -> None:
    """The shown scenes (image, truth, before, after) and the instance's support (image, mask) as PNGs."""
    for i, scene in enumerate(result.shown):
        save_rgb_png(images / f"image_{i}.png", scene["image"])
        for part in ("truth", "before", "after"):
            save_label_png(images / f"{part}_{i}.png", scene[part])
    for i, item in enumerate(result.support):
        save_rgb_png(images / f"support_{i}.png", item["image"])
        save_label_png(images / f"support_mask_{i}.png", item["mask"].astype("uint8"))


@dataclass
class PersonalizedResult:
    metrics: dict[str, dict[str, float]]  # "before" / "after" → metric → value (% of pixels or IoU %)
    class_names: list[str]  # the vocabulary after (toy classes, then the personal class)
    shown: list[dict[str, np.ndarray]]  # per test scene with the instance: image, truth, before, after
    support: list[dict[str, np.ndarray]]  # the instance's support images and masks (Fig. 16)
    images_extracted: dict[str, int]


def study_scenes(setup: PersonalizedSetup) -> dict[str, list[Scene]]:
    world = ToyWorld(setup.world_seed)
    personal = world.num_classes
    return {
        "generic_support": generic_support(world, setup.generic_support_per_class, setup.scene_seed),
        "personal_support": personal_scenes(
            world, setup.class_name, "personal_support", setup.personal_support, personal, setup.scene_seed
        ),
        "test": [
            *personal_scenes(
                world, setup.class_name, "test_with", setup.test_with_instance, personal, setup.scene_seed
            ),
            *personal_scenes(
                world, setup.class_name, "test_without", setup.test_without_instance, personal, setup.scene_seed
            ),
        ],
    }


def run_personalized(
    setup: PersonalizedSetup,
    backbone: str,
    method: str,
    options: Mapping[str, Any],
    cache_dir: Path | None = None,
    backbone_options: Mapping[str, Any] | None = None,
    scenes: dict[str, list[Scene]] | None = None,
) -> PersonalizedResult:
    """The study for one method (module doc); ``scenes``: ``study_scenes(setup)`` when several methods
    share them (rendered once)."""
    scenes = scenes if scenes is not None else study_scenes(setup)
    names = ToyWorld(setup.world_seed).class_names
    segmenter = OpenWorldSegmenter.create(
        backbone, method, names, options, cache_dir=cache_dir, backbone_options=backbone_options
    )
    for scene in scenes["generic_support"]:
        segmenter.add_support(scene.image, scene.label)
    test = scenes["test"]
    before = segmenter.segment([scene.image for scene in test])
    personal_index = len(names)
    masks = [scene.label == personal_index for scene in scenes["personal_support"]]
    added = segmenter.add_class(setup.personal_name, [s.image for s in scenes["personal_support"]], masks)
    if added != personal_index:
        raise AssertionError(f"the personal class got index {added}, expected {personal_index}")
    after = segmenter.segment([scene.image for scene in test])
    generic_index = names.index(setup.class_name)
    truths = [scene.label for scene in test]
    metrics = {
        "before": score(before, truths, generic_index, personal_index),
        "after": score(after, truths, generic_index, personal_index),
    }
    shown = [
        {"image": scene.image, "truth": scene.label, "before": b, "after": a}
        for scene, b, a in zip(test[: setup.test_with_instance], before, after, strict=False)
    ]
    support = [
        {"image": scene.image, "mask": mask} for scene, mask in zip(scenes["personal_support"], masks, strict=True)
    ]
    return PersonalizedResult(metrics, segmenter.class_names, shown, support, segmenter.images_extracted)


def score(predictions: list[np.ndarray], truths: list[np.ndarray], generic: int, personal: int) -> dict[str, float]:
    """The module doc's figures for label maps over the toy classes plus the personal class."""
    num_classes = personal + 1
    cm = torch.zeros(num_classes, num_classes, dtype=torch.long)
    cm_generic_only = torch.zeros_like(cm)
    for prediction, truth in zip(predictions, truths, strict=True):
        pred = torch.from_numpy(prediction.astype(np.int64))
        target = torch.from_numpy(truth.astype(np.int64))
        cm += confusion_matrix(pred, target, num_classes)
        cm_generic_only += confusion_matrix(pred, target.masked_fill(target == personal, IGNORE_INDEX), num_classes)
    iou = iou_from_confusion(cm) * 100.0
    iou_generic_only = iou_from_confusion(cm_generic_only) * 100.0

    def share(row: int, column: int) -> float:
        total = int(cm[row].sum())
        return 100.0 * float(cm[row, column]) / total if total else float("nan")

    return {
        "personal_IoU": float(iou[personal]),
        "generic_IoU": float(iou[generic]),
        "generic_IoU_without_instance": float(iou_generic_only[generic]),
        "instance_as_personal": share(personal, personal),
        "instance_as_generic": share(personal, generic),
        "generic_as_generic": share(generic, generic),
        "generic_as_personal": share(generic, personal),
        "mIoU": float(torch.nanmean(iou)),
    }
