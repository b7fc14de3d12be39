"""Personalized segmentation (paper §8.4, Fig. 7) on the toy world: one open-vocabulary method, a
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

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from rns_bench.core.errors import ConfigError
from rns_bench.core.labels import IGNORE_INDEX
from rns_bench.metrics.miou import confusion_matrix, iou_from_confusion
from rns_bench.runs.open_world import OpenWorldSegmenter
from rns_bench.toy.personal import Scene, generic_support, personal_scenes
from rns_bench.toy.world import PERSONAL_PREFIX, ToyWorld

STUDY = "personalized"  # experiment.kind, and the records' folder: results/toy/<backbone>/personalized/<row>/
DATASET = "toy"  # the study runs in the toy world only (its instance looks are generated)
STUDY_VERSION = 1  # bump when the study's scenes or scoring change: old records are then not reused


def study_folder(results_dir: Path, backbone: str) -> Path:
    """Where the study's records of ``backbone`` are (one folder per method row)."""
    return Path(results_dir) / DATASET / backbone / STUDY


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
