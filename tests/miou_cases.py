"""Label-map cases shared by the metric tests, and the DDP worker they spawn.

It lives at the top level of tests/ (on sys.path via conftest) so that spawned processes
import it by a name no installed package shadows (mmsegmentation's wheel ships a `tests`
package into site-packages).
"""

from __future__ import annotations

import datetime

import numpy as np
import torch
import torch.distributed as dist

from rns_bench.metrics import DatasetIoU

IGNORE = 255


def random_dataset(seed: int, num_classes: int = 8) -> list[tuple[np.ndarray, np.ndarray]]:
    """Several images of different sizes with ignore pixels, noisy predictions and, by design:
    class K-1 absent from both pred and target, class K-2 only predicted, class K-3 only in target."""
    rng = np.random.default_rng(seed)
    in_target = np.arange(num_classes - 2)  # 0 .. K-3
    in_pred = np.setdiff1d(np.arange(num_classes - 1), [num_classes - 3])  # 0 .. K-2 without K-3
    pairs = []
    for _ in range(int(rng.integers(2, 6))):
        h, w = (int(v) for v in rng.integers(1, 48, size=2))
        target = rng.choice(in_target, size=(h, w))
        pred = np.where(rng.random((h, w)) < 0.6, target, rng.choice(in_pred, size=(h, w)))
        pred = np.where(pred == num_classes - 3, rng.choice(in_pred, size=(h, w)), pred)
        target = np.where(rng.random((h, w)) < 0.1, IGNORE, target)
        pairs.append((pred.astype(np.int64), target.astype(np.int64)))
    return pairs


def to_torch(pairs: list[tuple[np.ndarray, np.ndarray]]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(torch.from_numpy(p), torch.from_numpy(t)) for p, t in pairs]


def ddp_worker(rank: int, world_size: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group(
        "gloo",
        init_method=f"file://{init_file}",
        rank=rank,
        world_size=world_size,
        timeout=datetime.timedelta(seconds=60),
    )
    try:
        pairs = to_torch(random_dataset(11))
        metric = DatasetIoU(8)
        for pred, target in pairs[rank::world_size]:  # each rank sees only its share of images
            metric.update(pred, target)
        local_count = int(metric.confmat.sum())
        result = metric.compute()  # torchmetrics all-gathers and sums confmat here
        torch.save({**result, "local_count": local_count}, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()
