"""Small seeded feature-level problems for the RNS tests: support images as (h, w, D)
feature grids with block label maps, and labelled test queries."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rns_bench.support.bank import SupportBank

PATCH = 16


@dataclass
class Problem:
    num_classes: int
    dim: int
    support_features: list[torch.Tensor]  # each (h, w, D)
    support_labels: list[torch.Tensor]  # each (16h, 16w), 255 = ignore
    text: torch.Tensor  # (K, D)
    queries: list[torch.Tensor]  # per test image (N, D)
    targets: list[torch.Tensor]  # per test image (N,)


def make_problem(
    seed: int = 0,
    num_classes: int = 6,
    dim: int = 32,
    support_images: int = 6,
    test_images: int = 4,
    grid: int = 4,
    visual_noise: float = 0.45,
    text_noise: float = 0.6,
    text_gap: float = 0.8,
    shift: float = 0.35,
) -> Problem:
    """Class centres on the sphere; image features = centre + noise; text = centre + noise
    + a shared offset (modality gap); test images share a per-class appearance shift."""
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(num_classes, dim, generator=g), dim=-1)
    gap = F.normalize(torch.randn(dim, generator=g), dim=0)
    text = F.normalize(
        centres + text_noise * torch.randn(num_classes, dim, generator=g) / dim**0.5 * 3 + text_gap * gap, dim=-1
    )
    test_shift = shift * F.normalize(torch.randn(num_classes, dim, generator=g), dim=-1)

    def image(classes: torch.Tensor, shifted: bool) -> torch.Tensor:
        centre = centres[classes] + (test_shift[classes] if shifted else 0)
        noise = visual_noise * torch.randn(*classes.shape, dim, generator=g) / dim**0.5 * 3
        return F.normalize(centre + noise, dim=-1)

    support_features, support_labels = [], []
    for i in range(support_images):
        # every class appears in some support image: two classes per image, in quadrants
        a, b = i % num_classes, (i * 3 + 1) % num_classes
        grid_labels = torch.full((grid, grid), a)
        grid_labels[: grid // 2, : grid // 2] = b
        labels = grid_labels.repeat_interleave(PATCH, 0).repeat_interleave(PATCH, 1)
        labels[PATCH * grid // 2 - 1, :] = 255  # an ignore row
        support_features.append(image(grid_labels, shifted=False))
        support_labels.append(labels)
    queries, targets = [], []
    for _ in range(test_images):
        present = torch.randperm(num_classes, generator=g)[:3]
        y = present[torch.randint(0, 3, (grid * grid * 4,), generator=g)]
        queries.append(image(y, shifted=True))
        targets.append(y)
    return Problem(num_classes, dim, support_features, support_labels, text, queries, targets)


def accuracy(probs: list[torch.Tensor], targets: list[torch.Tensor]) -> float:
    hits = sum(int((p.argmax(1) == t).sum()) for p, t in zip(probs, targets, strict=True))
    return hits / sum(len(t) for t in targets)


def agreement(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    same = sum(int((x.argmax(1) == y.argmax(1)).sum()) for x, y in zip(a, b, strict=True))
    return same / sum(len(x) for x in a)


def bank_of(problem: Problem) -> SupportBank:
    """The support bank of a problem's support images."""
    bank = SupportBank(problem.num_classes, problem.dim)
    for i, (f, y) in enumerate(zip(problem.support_features, problem.support_labels, strict=True)):
        bank.add_image(f"s{i}", f, y, PATCH)
    return bank
