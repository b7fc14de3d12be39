"""Support-bank build time: ``SupportBank.add_image`` image by image, against the former growth.

Synthetic support images: 24×32 patches of 16 px (a 4:3 image at a 384 px short side; the
per-image pooling is constant work, and a smaller image keeps the full run near a minute),
D = 512 unit-norm features, up to 6 classes each (about 6 bank rows per image, the growth of a
real bank; ADE B = 20 is ≈ 1,000 support images, CUB B = 20 ≈ 4,000). Each figure is one build
of a bank, timed at its checkpoints; ms/image is the build time so far over the images so far,
so it stays flat when building is linear and twice the images take ≈ twice the time. The former
growth (one ``torch.cat`` of every row per image, quadratic) is re-created here for comparison,
on fewer images in the full run (4,000 would take minutes). Nothing is asserted on time.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from rns_bench.support.bank import SupportBank, check_features

GRID = (24, 32)
PATCH = 16
DIM = 512
NUM_CLASSES = 150
CLASSES_PER_IMAGE = 6
DISTINCT_IMAGES = 16  # cycled: generating 4,000 feature maps would cost more than pooling them


class TimedBank(SupportBank):
    """A bank that adds up the seconds spent in ``add_rows`` (the growth, without the pooling)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.growth_seconds = 0.0

    def add_rows(self, rows: torch.Tensor, labels: torch.Tensor, image_ids: list[str]) -> None:
        start = time.perf_counter()
        self.append(rows, labels, image_ids)
        self.growth_seconds += time.perf_counter() - start

    def append(self, rows: torch.Tensor, labels: torch.Tensor, image_ids: list[str]) -> None:
        super().add_rows(rows, labels, image_ids)


class CatGrowthBank(TimedBank):
    """The bank as it grew before: every append concatenates all rows so far (quadratic)."""

    def append(self, rows: torch.Tensor, labels: torch.Tensor, image_ids: list[str]) -> None:
        check_features(rows, "support rows")
        self.features = torch.cat([self.features, rows.to(self.features)])
        self.labels = torch.cat([self.labels, labels.long().cpu()])
        self.image_ids.extend(image_ids)
        self.class_sums.index_add_(0, labels.long().cpu(), rows.to(self.class_sums))
        self.class_counts += torch.bincount(labels.long().cpu(), minlength=self.num_classes)


def synthetic_images(count: int, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``count`` ((h, w, D) unit-norm features, (H, W) label map of ≈ 6 classes in blocky regions)."""
    g = torch.Generator().manual_seed(seed)
    images = []
    for _ in range(count):
        features = F.normalize(torch.randn(*GRID, DIM, generator=g), dim=-1)
        classes = torch.randperm(NUM_CLASSES, generator=g)[:CLASSES_PER_IMAGE]
        coarse = classes[torch.randint(CLASSES_PER_IMAGE, (4, 5), generator=g)]  # regions of ≈ 6×6 patches
        label = F.interpolate(coarse[None, None].float(), size=(GRID[0] * PATCH, GRID[1] * PATCH), mode="nearest")[
            0, 0
        ].long()
        images.append((features, label))
    return images


def time_build(
    bank: TimedBank, images: list[tuple[torch.Tensor, torch.Tensor]], checkpoints: list[int]
) -> list[tuple[int, int, float, float]]:
    """Add images (cycled) to ``bank`` up to the last checkpoint: (images, rows, seconds, of which
    growth) at each."""
    marks, elapsed = [], 0.0
    for n in range(1, max(checkpoints) + 1):
        features, label = images[n % len(images)]
        start = time.perf_counter()
        bank.add_image(f"support{n}", features, label, PATCH)
        elapsed += time.perf_counter() - start
        if n in checkpoints:
            marks.append((n, len(bank), elapsed, bank.growth_seconds))
    return marks


def print_bank_perf(short: bool) -> None:
    """Print the build time of a support bank at 1,000 / 2,000 / 4,000 images (short: 250 / 500 /
    1,000), ms per image and the ratio of the last two, for the bank and for the former growth."""
    sizes = [250, 500, 1000] if short else [1000, 2000, 4000]
    images = synthetic_images(DISTINCT_IMAGES)
    time_build(TimedBank(NUM_CLASSES, DIM), images, [DISTINCT_IMAGES])  # warm-up: first-call costs
    print(
        f"Support bank build (SupportBank.add_image; {GRID[0]}×{GRID[1]} patches of {PATCH} px, D = {DIM}, "
        f"≤ {CLASSES_PER_IMAGE} classes per image), {torch.get_num_threads()} CPU threads"
    )
    print(f"{'growth':16} {'images':>6} {'rows':>6} {'build s':>8} {'ms/image':>9} {'of which add_rows':>17}")
    for name, bank, checkpoints in (
        ("doubling", TimedBank(NUM_CLASSES, DIM), sizes),
        ("torch.cat (old)", CatGrowthBank(NUM_CLASSES, DIM), sizes if short else sizes[:2]),
    ):
        marks = time_build(bank, images, checkpoints)
        for count, rows, seconds, growth in marks:
            print(
                f"{name:16} {count:6d} {rows:6d} {seconds:8.2f} {1000 * seconds / count:9.2f} "
                f"{1000 * growth / count:17.3f}"
            )
        (small, _, t_small, g_small), (large, _, t_large, g_large) = marks[-2], marks[-1]
        print(
            f"{name:16} {large}/{small} images: build time ×{t_large / t_small:.2f}, add_rows "
            f"×{g_large / g_small:.2f} (linear: ×{large / small:.0f})"
        )
