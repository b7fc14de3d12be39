"""The CPU label maps equal the released chain's bit for bit (spec §7), for every input.

``released_*`` below restate the chain as it was released (``F.interpolate`` bilinear, align_corners=False;
crop; bilinear; argmax), independently of ``rns_bench.ops.label_maps``. Random cases cover K from 1 to 150,
patch grids with h or w = 1, odd sizes, crops, non-integer scales, a second resize up, down and to the
same size, the layouts a caller may hand over (the (N, K) → (K, h, w) view a method passes, channels-first,
channels-last, strided), and values built to stress the class pruning: a few dominant classes, near-ties
inside and just outside its margin, exact ties, constants, negatives, tiny and non-finite values. The
machinery (several class pieces per image, tiles) is also forced on small images.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rns_bench.ops import label_maps_fast as label_maps
from rns_bench.ops.label_maps import patch_probs_to_label_map, region_probs_to_label_map


def released_patch(probs, patch_size, resized_hw, original_hw):
    _, h, w = probs.shape
    padded = F.interpolate(
        probs.unsqueeze(0), size=(h * patch_size, w * patch_size), mode="bilinear", align_corners=False
    ).squeeze(0)
    cropped = padded[:, : resized_hw[0], : resized_hw[1]]
    return (
        F.interpolate(cropped.unsqueeze(0), size=tuple(original_hw), mode="bilinear", align_corners=False)
        .squeeze(0)
        .argmax(dim=0)
    )


def released_region(probs, region_map, original_hw):
    painted = probs[region_map].permute(2, 0, 1)
    return (
        F.interpolate(painted.unsqueeze(0), size=tuple(original_hw), mode="bilinear", align_corners=False)
        .squeeze(0)
        .argmax(dim=0)
    )


KINDS = ("few", "few", "scene", "peaky", "flat", "margin", "ties", "const", "neg", "tiny")


def class_maps(kind: str, shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    """(K, ...) values of one kind (K = shape[0])."""
    num = shape[0]
    if kind == "few":  # three classes share the image, per-patch noise around them
        present = torch.randperm(num, generator=g)[:3]
        label = present[torch.randint(0, len(present), shape[1:], generator=g)]
        onehot = F.one_hot(label, num).movedim(-1, 0)
        return (0.5 * torch.randn(shape, generator=g) + 8.0 * onehot).softmax(dim=0)
    if kind == "scene":  # a dozen classes over Voronoi regions of the grid, N(0, 1) logit noise
        seeds = torch.rand(12, len(shape) - 1, generator=g) * torch.tensor(shape[1:])
        centres = torch.stack(torch.meshgrid(*(torch.arange(n) + 0.5 for n in shape[1:]), indexing="ij"), dim=-1)
        label = torch.randint(0, num, (12,), generator=g)[((centres[..., None, :] - seeds) ** 2).sum(-1).argmin(-1)]
        return (torch.randn(shape, generator=g) + 5.0 * F.one_hot(label, num).movedim(-1, 0)).softmax(dim=0)
    if kind == "peaky":
        onehot = F.one_hot(torch.randint(0, num, shape[1:], generator=g), num).movedim(-1, 0)
        return (torch.randn(shape, generator=g) + 5.0 * onehot).softmax(dim=0)
    if kind == "flat":
        return torch.rand(shape, generator=g).softmax(dim=0)
    if kind == "margin":  # two classes a few ulps apart (kept), or 2.5e-5 apart (pruned: margin is 1e-4 × max)
        values = torch.rand(shape, generator=g) * 0.01
        first, second = torch.randperm(num, generator=g)[:2] if num > 1 else (0, 0)
        values[first] = 0.5
        close = torch.rand(1, generator=g) < 0.5
        jitter = torch.randint(-3, 4, shape[1:], generator=g) * 1e-7 if close else -2.5e-5
        values[second] = 0.5 * (1 + jitter)
        return values
    if kind == "ties":
        return (torch.rand(shape, generator=g) * 3).round() / 3
    if kind == "const":
        return torch.full(shape, 0.25)
    if kind == "neg":
        return torch.randn(shape, generator=g) * 50
    return torch.rand(shape, generator=g) * 1e-38  # subnormal products


def layouts(maps: torch.Tensor):
    """The same (K, h, w) values as a caller may lay them out."""
    num, h, w = maps.shape
    yield maps.contiguous()
    yield maps.reshape(num, h * w).T.contiguous().T.reshape(num, h, w)  # SegMethod.label_map_of's view
    yield maps.permute(1, 2, 0).contiguous().permute(2, 0, 1)
    spaced = torch.zeros(2 * num, h, w)
    spaced[::2] = maps
    yield spaced[::2]


def random_case(rng: random.Random):
    num = rng.choice([1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 21, 23, 37, 60, 150])
    h, w = rng.choice([1, rng.randint(1, 9)]), rng.randint(1, 9)
    patch = rng.choice([1, 2, 3, 7, 14, 16])
    padded = (h * patch, w * patch)
    resized = tuple(rng.choice([n, max(1, n - rng.randint(0, patch)), rng.randint(1, n)]) for n in padded)
    original = tuple(rng.choice([n, rng.randint(1, 3 * n + 5), rng.randint(1, n)]) for n in resized)
    return num, h, w, patch, resized, original


def assert_patch_cases(seed: int, count: int) -> None:
    rng, g = random.Random(seed), torch.Generator().manual_seed(seed)
    for _ in range(count):
        num, h, w, patch, resized, original = random_case(rng)
        kind = rng.choice(KINDS)
        if kind in ("few", "margin") and (num < 4 or rng.random() < 0.5):
            num = rng.choice([21, 60, 150])
        for probs in layouts(class_maps(kind, (num, h, w), g)):
            want = released_patch(probs, patch, resized, original)
            got = patch_probs_to_label_map(probs, patch, resized, original)
            assert got.dtype == want.dtype and torch.equal(got, want), (
                num,
                h,
                w,
                patch,
                resized,
                original,
                kind,
                probs.stride(),
            )


@pytest.mark.parametrize("seed", range(24))
def test_patch_label_maps_equal_the_released_chain(seed):
    assert_patch_cases(seed, 12)


@pytest.mark.parametrize("seed", range(6))
def test_patch_label_maps_equal_it_a_few_classes_at_a_time(seed, monkeypatch):
    monkeypatch.setattr(label_maps, "_PIECE_VALUES", 300)  # several pieces per image, each its own call
    assert_patch_cases(100 + seed, 12)


def dyadic_sizes(rng: random.Random, padded: int, patch: int) -> tuple[int, int]:
    """(resized, original) along one axis: the same, or resized / original = a / B with B a power of two
    (the cases tiles are cut for), or any."""
    pick = rng.random()
    if pick < 0.3:
        resized = rng.randint(max(1, padded - patch), padded)
        return resized, resized
    if pick < 0.8:
        denominator, numerator = rng.choice([1, 2, 4, 8, 16]), rng.randint(1, 21)
        numerator += numerator % 2 == 0 and denominator > 1  # lowest terms
        if numerator <= padded:
            times = rng.randint(1, padded // numerator)
            return times * numerator, times * denominator
    resized = rng.randint(1, padded)
    return resized, rng.randint(1, 2 * resized + 3)


@pytest.mark.parametrize("seed", range(10))
def test_patch_label_maps_equal_it_tile_by_tile(seed, monkeypatch):
    monkeypatch.setattr(label_maps, "_TILE_COST", 0)  # tile whenever it saves anything
    rng, g = random.Random(200 + seed), torch.Generator().manual_seed(200 + seed)
    for _ in range(10):
        num, patch = rng.choice([4, 5, 9, 21, 37, 60, 150]), rng.choice([1, 2, 4, 8, 16])
        h, w = rng.randint(1, 24), rng.randint(1, 16)
        (resized_h, original_h), (resized_w, original_w) = (dyadic_sizes(rng, n * patch, patch) for n in (h, w))
        resized, original = (resized_h, resized_w), (original_h, original_w)
        kind = rng.choice(["few", "few", "peaky", "margin", "ties", "flat"])
        for probs in list(layouts(class_maps(kind, (num, h, w), g)))[1:3]:  # channels-last inputs tile
            assert torch.equal(
                patch_probs_to_label_map(probs, patch, resized, original),
                released_patch(probs, patch, resized, original),
            ), (num, h, w, patch, resized, original, kind)


def test_patch_label_maps_equal_it_with_one_thread(torch_threads):
    torch_threads(1)
    assert_patch_cases(300, 16)


def test_the_thread_setting_is_restored(torch_threads):
    torch_threads(2)  # tiles and candidates run on one thread, then the caller's setting is back
    probs = class_maps("scene", (60, 20, 24), torch.Generator().manual_seed(0))
    patch_probs_to_label_map(probs.reshape(60, -1).T.contiguous().T.reshape(60, 20, 24), 16, (320, 380), (320, 380))
    assert torch.get_num_threads() == 2


# (patch grid, resized, original) as the suite meets them: ADE at its size (SigLIP 2) and resized to short
# side 448 (CLIP), and Cityscapes at 448 (the second resize up by 16/7).
REAL = [((32, 43), (512, 683), (512, 683)), ((28, 38), (448, 598), (512, 683)), ((28, 56), (448, 896), (1024, 2048))]


@pytest.mark.parametrize(("grid", "resized", "original"), REAL)
@pytest.mark.parametrize("kind", ["scene", "flat", "margin"])
def test_real_sizes(grid, resized, original, kind):
    num = 150 if original[0] < 1024 else 21
    maps = class_maps(kind, (num, *grid), torch.Generator().manual_seed(7))
    for probs in list(layouts(maps))[:2]:
        assert torch.equal(
            patch_probs_to_label_map(probs, 16, resized, original), released_patch(probs, 16, resized, original)
        )


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), 3e38])
def test_non_finite_and_huge_values_take_the_released_chain(bad):
    probs = class_maps("few", (21, 5, 6), torch.Generator().manual_seed(0))
    probs[3, 2, 2] = bad
    for maps in layouts(probs):
        assert torch.equal(
            patch_probs_to_label_map(maps, 16, (77, 90), (100, 95)), released_patch(maps, 16, (77, 90), (100, 95))
        )


def test_classes_are_pruned_and_the_checks_hold_on_this_build():
    if torch.backends.cpu.get_cpu_capability() != "AVX512":  # where the checks were seen to hold
        pytest.skip("another CPU build of ATen: the fast path may decline (the label maps stay the released ones)")
    assert label_maps._aten_bilinear_is_per_channel() and label_maps._lane_period() == 8
    probs = class_maps("few", (150, 32, 43), torch.Generator().manual_seed(1))
    rows = label_maps._patch_windows(32, 512, 512, 512, True)
    cols = label_maps._patch_windows(43, 688, 683, 683, True)
    candidates, _, _ = label_maps._block_candidates(probs, rows, cols)
    assert len(label_maps._lane_safe(candidates.flatten(1).any(dim=1))) <= 24  # 3 classes + remainder lanes


@pytest.mark.parametrize(
    ("n_in", "n_out"),
    [(1, 5), (7, 7), (32, 512), (28, 448), (448, 1024), (598, 683), (683, 512), (13, 4), (5, 1), (9, 100)],
)
def test_source_windows_hold_every_source_the_kernel_reads(n_in, n_out):
    eye = torch.eye(n_in).reshape(n_in, 1, n_in).expand(n_in, 2, n_in)  # channel c: a one at source column c
    weights = F.interpolate(eye[None].contiguous(), size=(2, n_out), mode="bilinear", align_corners=False)[0, :, 0]
    first, last = label_maps._source_windows(n_in, n_out)
    read = weights.T != 0  # (n_out, n_in)
    columns = torch.arange(n_in)
    inside = (columns >= torch.from_numpy(first)[:, None]) & (columns <= torch.from_numpy(last)[:, None])
    assert bool((read <= inside).all())
    assert np.all(last - first <= 2)


def random_regions(rng: random.Random, g: torch.Generator):
    count, height, width = rng.randint(1, 30), rng.randint(1, 50), rng.randint(1, 50)
    seeds = torch.rand(count, 2, generator=g) * torch.tensor([height, width])
    centres = torch.stack(torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing="ij"), -1)
    region_map = ((centres[:, :, None] - seeds) ** 2).sum(-1).argmin(-1)
    return count, region_map.int() if rng.random() < 0.3 else region_map


@pytest.mark.parametrize("seed", range(10))
def test_region_label_maps_equal_the_released_chain(seed, monkeypatch):
    if seed % 2:
        monkeypatch.setattr(label_maps, "_PIECE_VALUES", 500)
    rng, g = random.Random(400 + seed), torch.Generator().manual_seed(400 + seed)
    for _ in range(20):
        count, region_map = random_regions(rng, g)
        num = rng.choice([1, 2, 3, 4, 5, 8, 9, 21, 37, 60, 150])
        kind = rng.choice(KINDS)
        if kind in ("few", "margin") and num < 4:
            num = 21
        probs = class_maps(kind, (num, count), g).T  # (R, K)
        if rng.random() < 0.5:
            probs = probs.contiguous()
        height, width = region_map.shape
        original = (
            rng.choice([height, rng.randint(1, 3 * height), rng.randint(1, height)]),
            rng.choice([width, rng.randint(1, 3 * width), rng.randint(1, width)]),
        )
        assert torch.equal(
            region_probs_to_label_map(probs, region_map, original), released_region(probs, region_map, original)
        ), (num, count, region_map.shape, original, kind)


def test_probabilities_that_require_grad():
    probs = class_maps("scene", (21, 9, 11), torch.Generator().manual_seed(0)).requires_grad_()
    assert torch.equal(
        patch_probs_to_label_map(probs, 16, (140, 170), (150, 171)), released_patch(probs, 16, (140, 170), (150, 171))
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_takes_the_released_chain():
    probs = class_maps("few", (21, 6, 7), torch.Generator().manual_seed(0)).cuda()
    assert torch.equal(
        patch_probs_to_label_map(probs, 16, (90, 100), (120, 130)), released_patch(probs, 16, (90, 100), (120, 130))
    )


def test_the_released_layout_is_predicted_without_running_it():
    maps = class_maps("flat", (21, 5, 7), torch.Generator().manual_seed(0))
    for probs in layouts(maps):
        released = probs.unsqueeze(0)
        padded = F.interpolate(released, size=(80, 112), mode="bilinear", align_corners=False)
        predicted = torch.empty(padded.shape, memory_format=label_maps._suggested_layout(released))
        assert predicted.stride() == padded.stride()
        for crop in (padded[..., :79, :], padded[..., :, :111], padded[..., :1, :], padded[..., :1, :1], padded):
            assert label_maps._channels_last_contiguous(crop.shape, crop.stride()) == crop.is_contiguous(
                memory_format=torch.channels_last
            )
    for released in (
        maps[:, :1].unsqueeze(0),
        maps[:, :, :1].unsqueeze(0),
        maps[:1].unsqueeze(0).expand(1, 4, 5, 7),
        maps.permute(1, 2, 0).contiguous().permute(2, 0, 1)[:, ::2, 1:].unsqueeze(0),
    ):
        padded = F.interpolate(released, size=(80, 112), mode="bilinear", align_corners=False)
        predicted = torch.empty(padded.shape, memory_format=label_maps._suggested_layout(released))
        assert predicted.stride() == padded.stride()
