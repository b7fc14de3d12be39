"""Region maps (for ``make perf``): painting masks into a region map, and the region cache's entry size.

* ``paint_instance_map`` (rns spec §6) against the literal per-mask loop it replaced
  (:func:`paint_loop`, the reference its tests check against), both on the same M random masks of
  a 512×683 image (boxes of log-uniform sides, as SAM's masks range from a few pixels to the whole
  image), measured in one run: seconds per image and the ratio.
* ``RegionCache`` bytes per entry now (a lossless PNG in the smallest type that holds the ids)
  against the former entry (raw int32 in safetensors), with the time to save and load one entry,
  for region maps of a 448×598 test image (512×683 at the test resolution): scikit-image
  superpixels of a toy scene (rows skipped when scikit-image is absent), maps painted from random
  boxes, and random ids per pixel block, the worst case, up to 100,000 ids (stored as int32).

Nothing is asserted on time.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save as safetensors_bytes

from rns_bench.core.errors import InputError
from rns_bench.core.timing import synchronize
from rns_bench.ops.pooling import paint_instance_map
from rns_bench.ops.resize import resize_image
from rns_bench.proposals import build_proposer, relabel_contiguous
from rns_bench.proposals.base import Proposer
from rns_bench.proposals.cache import RegionCache
from rns_bench.toy.world import ToyWorld

IMAGE_HW = (512, 683)
TEST_HW = (448, 598)  # IMAGE_HW at the test resolution (short side 448)


def paint_loop(masks: torch.Tensor) -> torch.Tensor:
    """The literal loop of rns spec §6 (the former ``paint_instance_map``): paint masks by stable
    ascending area, larger over smaller, uncovered pixels one extra region, ids made dense."""
    num_masks, height, width = masks.shape
    region = torch.full((height, width), num_masks, dtype=torch.long)
    for index in torch.argsort(masks.flatten(1).sum(1), stable=True).tolist():
        region[masks[index]] = index
    _, dense = torch.unique(region, return_inverse=True)
    return dense


def random_masks(count: int, hw: tuple[int, int] = IMAGE_HW, seed: int = 0) -> torch.Tensor:
    """(count, H, W) bool boxes with log-uniform sides from 4 pixels to the image's."""
    generator = torch.Generator().manual_seed(seed)
    height, width = hw
    masks = torch.zeros(count, height, width, dtype=torch.bool)
    for index in range(count):
        box_h, box_w = (
            int(np.exp(float(torch.empty(1).uniform_(np.log(4), np.log(side), generator=generator))))
            for side in (height, width)
        )
        top = int(torch.randint(0, height - box_h + 1, (1,), generator=generator))
        left = int(torch.randint(0, width - box_w + 1, (1,), generator=generator))
        masks[index, top : top + box_h, left : left + box_w] = True
    return masks


def fastest(work: Callable[[], object], repeats: int) -> float:
    """Seconds of the fastest of ``repeats`` runs of ``work`` (other load only ever slows a run down)."""
    best = float("inf")
    for _ in range(repeats):
        synchronize()
        started = time.perf_counter()
        work()
        synchronize()
        best = min(best, time.perf_counter() - started)
    return best


def print_paint_perf(mask_counts: tuple[int, ...], repeats: int) -> None:
    """Seconds per image of the per-mask loop and of ``paint_instance_map``, and their ratio."""
    print(
        f"paint_instance_map, {IMAGE_HW[0]}×{IMAGE_HW[1]} image, random box masks, CPU, "
        f"fastest of {repeats}: seconds per image"
    )
    print(f"{'masks':>6} {'loop':>8} {'vectorised':>10} {'speed-up':>8} {'same map':>8}")
    for count in mask_counts:
        masks = random_masks(count)
        same = bool(torch.equal(paint_loop(masks), paint_instance_map(masks)))
        loop_s = fastest(lambda masks=masks: paint_loop(masks), repeats)
        ours_s = fastest(lambda masks=masks: paint_instance_map(masks), repeats)
        print(f"{count:6d} {loop_s:8.3f} {ours_s:10.4f} {loop_s / ours_s:7.1f}x {'yes' if same else 'NO':>8}")


def region_maps(short: bool) -> dict[str, torch.Tensor]:
    """Named (448, 598) int32 region maps of the kinds the cache holds."""
    image = resize_image(ToyWorld(0).render(np.random.default_rng(0), "val")[0], TEST_HW)
    maps = {}
    for name, options in (("felzenszwalb", {}), ("slic", {})):
        try:
            maps[f"{name} (toy scene)"] = build_proposer(name, **options).propose(image)
        except InputError as error:  # scikit-image absent: the message names the fix
            print(f"  ({name} skipped: {error})")
    for count in (100,) if short else (100, 1000):
        painted = paint_instance_map(random_masks(count, TEST_HW, seed=1))
        maps[f"painted, {count} random boxes"] = painted.to(torch.int32)
    # random ids per block: next to incompressible; the last needs int32 (> 65,535 ids)
    for regions, block in ((300, 2), (5_000, 2)) if short else ((300, 2), (5_000, 2), (100_000, 1)):
        grid = torch.randint(
            0, regions, (TEST_HW[0] // block, TEST_HW[1] // block), generator=torch.Generator().manual_seed(2)
        )
        blocky = grid.repeat_interleave(block, 0).repeat_interleave(block, 1)
        maps[f"random {block}x{block} blocks of ≤{regions:,} ids"] = relabel_contiguous(blocky)
    return maps


class _Named(Proposer):
    """Only names the cache folder; the maps come from elsewhere."""

    name = "region-perf"

    def _propose(self, image: np.ndarray) -> np.ndarray:  # pragma: no cover - never called
        raise NotImplementedError

    def settings(self) -> dict:
        return {}


def print_cache_perf(short: bool, repeats: int) -> None:
    """Bytes per region-cache entry before (int32 safetensors) and now, with save / load milliseconds."""
    print(
        f"RegionCache entries, {TEST_HW[0]}×{TEST_HW[1]} region maps: bytes before (raw int32 safetensors) "
        f"and now, save / load ms (fastest of {repeats})"
    )
    maps = region_maps(short)
    print(
        f"{'map':36} {'regions':>7} {'before':>9} {'now':>8} {'ratio':>6} {'save ms':>7} {'load ms':>7} {'lossless':>8}"
    )
    with tempfile.TemporaryDirectory(prefix="rns-region-perf-") as tmp:
        cache = RegionCache(Path(tmp), "perf", _Named(), short_side=448)
        for name, regions in maps.items():
            before = len(safetensors_bytes({"regions": regions.contiguous()}))
            save_s = fastest(lambda regions=regions: cache.save("entry", regions), repeats)
            load_s = fastest(lambda: cache.load("entry"), repeats)
            same = bool(torch.equal(cache.load("entry"), regions))  # lossless, else the figures mean nothing
            now = cache.path("entry").stat().st_size
            print(
                f"{name:36} {int(regions.max()) + 1:7d} {before:9,d} {now:8,d} {before / now:5.0f}x "
                f"{save_s * 1e3:7.1f} {load_s * 1e3:7.1f} {'yes' if same else 'NO':>8}"
            )


def print_region_perf(short: bool) -> None:
    """Print the paint and region-cache figures; ``short`` (CI): 100 masks only, one run, fewer maps."""
    repeats = 1 if short else 3
    print_paint_perf((100,) if short else (100, 1000), repeats)
    print()
    print_cache_perf(short, repeats)
