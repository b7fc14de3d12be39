"""RNS test-time training throughput against the released per-image loop (part of ``make perf``).

The world of issue 13's table: D = 512, 1024 unit-norm queries per image, K classes with two
support images each (one class per image, so 2·K bank rows, nearly all of them retrieved by
1024 queries × k = 4). Two baselines, both per image, measured in the same run as ours:

* *release*: the restated release (``reference_rns_predict`` of the file ``--restated-release`` names —
  ``make perf`` gives the checkout's ``tests/reference/released_rns.py``: its bank, training set and loop,
  one image at a time) — issue 13's "release" column; "–" without it;
* *release loop*: only the released training loop's shape (``rns.reference``: a fresh ``nn.Linear``,
  the materialised samples, ``F.cross_entropy`` / ``F.kl_div``, autograd and ``torch.optim.AdamW``) on
  our training set, so that ratio isolates the loop.

The matmul peak is a 2048² fp32 product on the same device; "peak used" counts the multiplies
ours does (4 · rows · K · D per step and image).
"""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from rns_bench.core.timing import synchronize
from rns_bench.rns import RNSConfig, predict, training_sets
from rns_bench.rns.reference import release_loop
from rns_bench.support.bank import SupportBank
from rns_bench.support.text import TextSupport

DIM, QUERIES = 512, 1024
# Each figure is the fastest of ``repeats`` runs (other load on a shared machine only ever slows a run
# down), but no further run once one has taken REPEAT_BUDGET_S.
REPEAT_BUDGET_S = 15.0


@dataclass(frozen=True)
class World:
    bank: SupportBank
    text: torch.Tensor
    images: list[torch.Tensor]


def make_world(num_classes: int, images: int, device: str, seed: int = 0) -> World:
    g = torch.Generator().manual_seed(seed)
    bank = SupportBank(num_classes, DIM)
    rows = 2 * num_classes
    bank.add_rows(
        F.normalize(torch.randn(rows, DIM, generator=g), dim=-1),
        torch.arange(rows) % num_classes,
        [f"support{i}" for i in range(rows)],
    )
    text = F.normalize(torch.randn(num_classes, DIM, generator=g), dim=-1).to(device)
    queries = [F.normalize(torch.randn(QUERIES, DIM, generator=g), dim=-1).to(device) for _ in range(images)]
    return World(bank, text, queries)


def restated_release_images_per_s(
    restated: Path | None, num_classes: int, steps: int, device: str, repeats: int = 1
) -> float | None:
    """Images/s of ``reference_rns_predict`` of the file ``restated`` on this world (its support images: one
    16×16 patch of one class each, so its bank has the same 2·K rows); None without the file."""
    if restated is None or not restated.is_file():
        return None
    spec = importlib.util.spec_from_file_location("released_rns", restated)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    g = torch.Generator().manual_seed(0)
    features = [F.normalize(torch.randn(1, 1, DIM, generator=g), dim=-1) for _ in range(2 * num_classes)]
    labels = [torch.full((16, 16), i % num_classes) for i in range(2 * num_classes)]
    world = make_world(num_classes, 1, device)
    seconds, _ = _best(
        lambda: module.reference_rns_predict(features, labels, world.images[0], world.text, num_classes, steps=steps),
        device,
        repeats,
    )
    return 1 / seconds


def _best(run: Callable[[], Any], device: str, repeats: int) -> tuple[float, Any]:
    """(seconds, result) of the fastest of up to ``repeats`` runs (REPEAT_BUDGET_S)."""
    best: tuple[float, Any] = (math.inf, None)
    for _ in range(max(1, repeats)):
        synchronize()
        started = time.perf_counter()
        result = run()
        synchronize()
        seconds = time.perf_counter() - started
        best = min(best, (seconds, result), key=lambda pair: pair[0])
        if seconds > REPEAT_BUDGET_S:
            break
    return best


def matmul_peak_gflops(device: str, size: int = 2048, repeats: int = 5) -> float:
    a, b = (torch.randn(size, size, device=device) for _ in range(2))
    a @ b  # warm-up
    seconds, _ = _best(lambda: a @ b, device, repeats)
    return 2 * size**3 / seconds / 1e9


@dataclass(frozen=True)
class RNSFigures:
    num_classes: int
    restated: float | None  # images/s of tests/reference/released_rns.py
    release: float  # images/s of the released loop's shape on our training set
    ours: dict[int, float]  # batch → images/s (training set + training + prediction)
    gflops: dict[int, float]  # batch → training GFLOP/s counting the multiplies ours does
    release_gflops: float


def measure(
    num_classes: int,
    batches: list[int],
    steps: int,
    device: str,
    repeats: int = 1,
    restated_release: Path | None = None,
) -> RNSFigures:
    config = RNSConfig(steps=steps)
    world = make_world(num_classes, max(batches), device)
    text = TextSupport(world.text, True)
    release_sets = training_sets(world.images[:1], world.bank, text, config, [0])
    predict(world.images[:1], world.bank, world.text, RNSConfig(steps=3))  # warm-up
    release_loop(release_sets, [0], RNSConfig(steps=3))  # and of autograd + torch.optim (--short: one run)
    release_seconds, _ = _best(lambda: release_loop(release_sets, [0], config), device, repeats)
    release_samples = len(release_sets[0].targets)
    ours, gflops = {}, {}
    for batch in batches:
        images = world.images[:batch]
        seconds, timings = _best(lambda imgs=images: _timed_predict(imgs, world, config), device, repeats)
        sets = training_sets(images, world.bank, text, config, list(range(batch)))
        rows = max(len(s.base) for s in sets)
        ours[batch] = batch / seconds
        gflops[batch] = 4 * batch * rows * num_classes * DIM * steps / timings["training"] / 1e9
    release_gflops = 4 * release_samples * num_classes * DIM * steps / release_seconds / 1e9
    restated = restated_release_images_per_s(restated_release, num_classes, steps, device, repeats)
    return RNSFigures(num_classes, restated, 1 / release_seconds, ours, gflops, release_gflops)


def _timed_predict(images: list[torch.Tensor], world: World, config: RNSConfig) -> dict[str, float]:
    timings: dict[str, float] = {}
    predict(images, world.bank, world.text, config, seeds=list(range(len(images))), timings=timings)
    return timings


def _ratio(value: float, base: float | None) -> str:
    return f"{value / base:5.1f}×" if base else "   – "


def print_rns_perf(
    classes: list[int],
    batches: list[int],
    steps: int,
    device: str = "cpu",
    repeats: int = 1,
    restated_release: Path | None = None,
) -> None:
    peak = matmul_peak_gflops(device)
    print(
        f"RNS test-time training, images/s ({device}; D = {DIM}, {QUERIES} queries, 2 support images per class, "
        f"{steps} steps; fastest of {repeats} run(s)); matmul peak {peak:.0f} GFLOP/s"
    )
    print(
        f"release = {restated_release or '– (--restated-release)'}, per image; release loop = its nn.Linear + "
        "autograd + AdamW loop on our training set; ours ×B = B images trained together (× release, × release loop)"
    )
    print(
        f"{'K':>4} {'release':>8} {'rel. loop':>9} "
        + " ".join(f"{'ours ×' + str(b):>22}" for b in batches)
        + f" {'peak used':>10} {'(rel. loop)':>11}"
    )
    for k in classes:
        fig = measure(k, batches, steps, device, repeats, restated_release)
        cells = " ".join(
            f"{fig.ours[b]:7.2f} ({_ratio(fig.ours[b], fig.restated)}, {_ratio(fig.ours[b], fig.release)})"
            for b in batches
        )
        best = max(batches, key=lambda b: fig.ours[b])
        restated = f"{fig.restated:8.2f}" if fig.restated else f"{'–':>8}"
        print(
            f"{k:>4} {restated} {fig.release:9.2f} {cells} {fig.gflops[best] / peak:10.0%} "
            f"{fig.release_gflops / peak:11.0%}"
        )
