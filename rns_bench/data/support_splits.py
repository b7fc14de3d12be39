"""A dataset's support split for (shots, seed), drawn from its reader (§2) and written as data.

The bench (``RunContext.support_split``) and ``python -m rns_bench.data split`` both go
through :func:`draw_support_split`, so a split written by the command is the split a run uses.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from rns_bench.core.atomic_io import write_text_atomic
from rns_bench.data.datasets import DatasetSpec
from rns_bench.data.sampling import SupportSplit, sample_pool, sample_support

DEFAULT_SUPPORT_SHORT_SIDE = 448  # §2.2: CLIP-like backbones; None = original size (DINOv3.txt)

PresenceOf = Callable[[list[str]], np.ndarray]  # pool image ids → (P, K) bool presence, pool order


def draw_support_split(spec: DatasetSpec, reader, shots: int, seed: int, presence_of: PresenceOf) -> SupportSplit:
    """The B-shot support split of ``spec`` for ``seed``: pool (§2.1), presence (§2.2), draw (§2.3-5).

    ``reader.image_ids(spec.support_split)`` gives the train split in file order.
    """
    ids = reader.image_ids(spec.support_split)
    pool = [ids[i] for i in sample_pool(len(ids), seed)]
    selected = sample_support(presence_of(pool), shots, seed, spec.class_names())
    return SupportSplit(image_ids=tuple(pool[i] for i in selected), shots=shots, seed=seed, dataset=spec.key)


def split_file(
    results_dir: Path, dataset: str, shots: int, seed: int, short_side: int | None = DEFAULT_SUPPORT_SHORT_SIDE
) -> Path:
    """``results_dir/splits/<dataset>/B{shots}_seed{seed}.json`` at the default support resize.

    Presence depends on the support short side, and so can the split: any other short side
    gets its own name (``..._short384.json``, ``..._orig.json`` for the original size).
    """
    name = f"B{shots}_seed{seed}"
    if short_side != DEFAULT_SUPPORT_SHORT_SIDE:
        name += f"_short{short_side}" if short_side is not None else "_orig"
    return Path(results_dir) / "splits" / dataset / f"{name}.json"


def write_support_split(split: SupportSplit, path: Path) -> Path:
    """Write ``split.to_json()`` to ``path`` atomically; returns ``path``."""
    write_text_atomic(Path(path), split.to_json())
    return Path(path)
