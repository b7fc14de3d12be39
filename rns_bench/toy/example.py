"""A ready-to-run input for ``python -m rns_bench.segment`` from the toy world (the README's example).

``<folder>/support/`` in the images/ + masks/ layout: ``images/<name>.png``, ``masks/<name>.png``
(class indices, 255 = ignore) and ``classes.txt`` (the 16 toy classes, then "my dog": the toy
world's personal instance of a dog, Fig. 7). Two train scenes per toy class with their full labels
(``generic_*``) and two of the personal dog, only the instance marked (``my_dog_*``).
``<folder>/images/scene_<i>.jpg``: val scenes with a dog, most with the personal one too.
Deterministic; files are written atomically, so a rerun rewrites the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from rns_bench.core.atomic_io import atomic_target, save_label_png, save_rgb_png, write_text_atomic
from rns_bench.core.labels import IGNORE_INDEX
from rns_bench.toy.personal import generic_support, personal_scenes
from rns_bench.toy.world import PERSONAL_PREFIX, ToyWorld

PERSONAL_CLASS = "dog"
PER_CLASS = 2
TEST_SCENES = 4


def write_segment_example(folder: Path, world_seed: int = 0) -> dict[str, int]:
    """Write the example (module doc) under ``folder``; returns how many files of each kind."""
    world = ToyWorld(world_seed)
    personal = world.num_classes
    support = Path(folder) / "support"
    names = [*world.class_names, f"{PERSONAL_PREFIX}{PERSONAL_CLASS}"]
    write_text_atomic(support / "classes.txt", "\n".join(names) + "\n")
    items = [(f"generic_{i}", s.image, s.label) for i, s in enumerate(generic_support(world, PER_CLASS))]
    for i, scene in enumerate(personal_scenes(world, PERSONAL_CLASS, "personal_support", PER_CLASS, personal)):
        items.append(
            (
                f"my_{PERSONAL_CLASS}_{i}",
                scene.image,
                np.where(scene.label == personal, personal, IGNORE_INDEX).astype(np.uint8),
            )
        )
    for name, image, label in items:
        save_rgb_png(support / "images" / f"{name}.png", image)
        save_label_png(support / "masks" / f"{name}.png", label)
    tests = [
        *personal_scenes(world, PERSONAL_CLASS, "test_with", TEST_SCENES - 1, personal),
        *personal_scenes(world, PERSONAL_CLASS, "test_without", 1, personal),
    ]
    for i, scene in enumerate(tests):
        with atomic_target(Path(folder) / "images" / f"scene_{i}.jpg") as tmp:
            Image.fromarray(scene.image).save(tmp, format="JPEG", quality=95)
    return {"support": len(items), "images": len(tests), "classes": len(names)}
