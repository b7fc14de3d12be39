"""Scenes of a personal instance in the toy world (paper Fig. 7): one particular object of a class
("my dog") wearing :meth:`ToyWorld.personal_look`, next to generic members of its class.

Every scene is a deterministic function of (world seed, ``seed``, role, index), so the support and
test scenes of a study never overlap and never depend on how many of each are asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rns_bench.toy.world import ToyWorld

ROLES = {"generic_support": 1, "personal_support": 2, "test_with": 3, "test_without": 4}


@dataclass(frozen=True)
class Scene:
    image: np.ndarray  # (H, W, 3) uint8
    label: np.ndarray  # (H, W) uint8: toy classes, ``personal_label`` on the instance, 255 ignore


def _rng(world: ToyWorld, seed: int, role: str, index: int) -> np.random.Generator:
    return np.random.default_rng([world.seed, int(seed), ROLES[role], index])


def generic_support(world: ToyWorld, per_class: int, seed: int = 0) -> list[Scene]:
    """``per_class`` train scenes whose main object is each foreground class in turn (full labels)."""
    scenes = []
    for cls in world.classes[1:]:
        for i in range(per_class):
            image, label = world.render(
                _rng(world, seed, "generic_support", cls.index * 1000 + i), "train", required_class=cls.index
            )
            scenes.append(Scene(image, label))
    return scenes


def personal_scenes(
    world: ToyWorld, class_name: str, role: str, count: int, personal_label: int, seed: int = 0
) -> list[Scene]:
    """``count`` scenes of one role: ``personal_support`` (train; the instance among random objects),
    ``test_with`` (val; the instance and a generic member of its class) or ``test_without`` (val; a
    generic member only). The instance is labelled ``personal_label``."""
    index = world.class_index(class_name)
    look = world.personal_look(class_name)
    split = "train" if role == "personal_support" else "val"
    required = None if role == "personal_support" else index
    personal = None if role == "test_without" else (look, personal_label)
    return [
        Scene(*world.render(_rng(world, seed, role, i), split, required_class=required, personal=personal))
        for i in range(count)
    ]
