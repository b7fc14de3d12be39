"""Label-map throughput (part of ``make perf``): seconds per image of ``patch_probs_to_label_map`` (spec §7)
on the CPU against the released chain, re-created below, measured in one run.

Three images at K = 21, 60, 150: ADE-like 512×683 resized to itself (32×43 patches of 16 px: no second
resize) and to short side 448 (OpenCLIP's protocol §3: 448×598, 28×38 patches), and Cityscapes-like
1024×2048 resized to 448×896 (28×56 patches). Two kinds of probabilities, laid out as a method hands them
over ((N, K) → (K, h, w) view): "regions", a dozen classes over Voronoi regions with per-patch noise (what a
segmenter predicts), and "noise", a random class per patch (no class can be skipped anywhere: the worst
case). Each figure is the fastest of a few interleaved runs; the label maps are compared too. Nothing is
asserted on time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F

from rns_bench.ops.label_maps import patch_probs_to_label_map

PATCH = 16
IMAGES = {  # name: (patch grid (h, w), resized (H_r, W_r), original (H, W))
    "ADE 512×683": ((32, 43), (512, 683), (512, 683)),
    "ADE 512×683 @448": ((28, 38), (448, 598), (512, 683)),
    "Cityscapes 1024×2048": ((28, 56), (448, 896), (1024, 2048)),
}
CLASSES = (21, 60, 150)


def released_label_map(
    probs: torch.Tensor, patch_size: int, resized_hw: tuple[int, int], original_hw: tuple[int, int]
) -> torch.Tensor:
    """The released chain as it was: bilinear ×patch, crop, bilinear, argmax (the reference)."""
    _, h, w = probs.shape
    padded = F.interpolate(probs[None], size=(h * patch_size, w * patch_size), mode="bilinear", align_corners=False)
    cropped = padded[:, :, : resized_hw[0], : resized_hw[1]]
    return F.interpolate(cropped, size=original_hw, mode="bilinear", align_corners=False)[0].argmax(dim=0)


def region_probs(num_classes: int, grid: tuple[int, int], seed: int = 0, regions: int = 12) -> torch.Tensor:
    """(K, h, w) softmax probabilities: ``regions`` Voronoi cells of random classes (logit +5) over
    N(0, 1) logit noise per patch and class, as the (N, K) → (K, h, w) view a method hands over."""
    generator = torch.Generator().manual_seed(seed)
    h, w = grid
    seeds = torch.rand(regions, 2, generator=generator) * torch.tensor([h, w])
    classes = torch.randint(0, num_classes, (regions,), generator=generator)
    centres = torch.stack(torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij"), dim=-1)
    label = classes[((centres.reshape(-1, 1, 2) - seeds) ** 2).sum(-1).argmin(dim=1)]
    logits = torch.randn(h * w, num_classes, generator=generator) + 5.0 * F.one_hot(label, num_classes)
    return logits.softmax(dim=1).T.reshape(num_classes, h, w)


def noise_probs(num_classes: int, grid: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """(K, h, w) softmax of N(0, 1) logits: every patch's best class is random."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(grid[0] * grid[1], num_classes, generator=generator)
    return logits.softmax(dim=1).T.reshape(num_classes, *grid)


def fastest(runs: dict[str, Callable[[], object]], repeats: int) -> tuple[dict[str, float], dict[str, object]]:
    """Fastest wall-clock seconds of each run over ``repeats`` interleaved rounds (after one warm-up), and
    each run's last result."""
    best, results = {name: float("inf") for name in runs}, {}
    for round_ in range(repeats + 1):
        for name, run in runs.items():
            started = time.perf_counter()
            results[name] = run()
            if round_:
                best[name] = min(best[name], time.perf_counter() - started)
    return best, results


def print_label_map_perf(short: bool) -> None:
    """Print old vs new seconds per image (CPU) for each image, K and kind of probabilities.
    ``short``: K = 21 and 150, one timed run each."""
    repeats = 1 if short else 3
    print(
        f"Label maps, s/image (CPU, {torch.get_num_threads()} threads; fastest of {repeats} run(s)): "
        "released chain vs patch_probs_to_label_map, same label maps"
    )
    print(f"{'image':<22} {'K':>4} {'probabilities':<14} {'released':>9} {'ours':>8} {'ratio':>7} {'identical':>9}")
    for name, (grid, resized_hw, original_hw) in IMAGES.items():
        for num_classes in (CLASSES[0], CLASSES[-1]) if short else CLASSES:
            for kind, make in (("regions", region_probs), ("noise", noise_probs)):
                args = (make(num_classes, grid), PATCH, resized_hw, original_hw)
                times, maps = fastest(
                    {"released": partial(released_label_map, *args), "ours": partial(patch_probs_to_label_map, *args)},
                    repeats,
                )
                same = torch.equal(maps["released"], maps["ours"])
                print(
                    f"{name:<22} {num_classes:>4} {kind:<14} {times['released']:9.3f} {times['ours']:8.3f} "
                    f"{times['released'] / times['ours']:6.1f}× {'yes' if same else 'NO':>9}"
                )
