"""``make perf``: throughput figures of the hot paths on this machine (CPU, and CUDA if present).

RNS test-time training is measured on random unit-norm features shaped like the benchmark's
(toy: K=16, D=64; ADE-like: K=150, D=512, 1024 queries), for several image batch sizes.
Dense feature extraction (sliding windows, protocol §3) is measured by
``rns_bench.bench.extraction_perf``; ``--no-extraction`` skips it.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from rns_bench.bench.extraction_perf import print_extraction_perf
from rns_bench.rns import RNSConfig, predict
from rns_bench.support.bank import SupportBank

SHAPES = {"toy": (16, 64, 192, 160), "ade": (150, 512, 1024, 1200)}  # K, D, queries, bank rows


def random_bank(num_classes: int, dim: int, rows: int, generator: torch.Generator) -> SupportBank:
    bank = SupportBank(num_classes, dim)
    labels = torch.arange(rows) % num_classes
    bank.add_rows(F.normalize(torch.randn(rows, dim, generator=generator), dim=-1), labels,
                  [f"img{i // 3}" for i in range(rows)])
    return bank


def time_rns(shape: str, batch: int, device: str, steps: int) -> float:
    """Images per second of RNS (training set + ``steps`` AdamW steps + prediction)."""
    num_classes, dim, queries, rows = SHAPES[shape]
    g = torch.Generator().manual_seed(0)
    bank = random_bank(num_classes, dim, rows, g)
    text = F.normalize(torch.randn(num_classes, dim, generator=g), dim=-1).to(device)
    images = [F.normalize(torch.randn(queries, dim, generator=g), dim=-1).to(device) for _ in range(batch)]
    config = RNSConfig(steps=steps)
    predict(images[:1], bank, text, RNSConfig(steps=5))  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    predict(images, bank, text, config, seeds=list(range(batch)))
    if device == "cuda":
        torch.cuda.synchronize()
    return batch / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=RNSConfig().steps)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--no-extraction", action="store_true", help="skip the feature-extraction figures")
    parser.add_argument("--window-batch", type=int, default=16, help="crops per backbone forward (extraction)")
    args = parser.parse_args(argv)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
          + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
    print(f"RNS test-time training, {args.steps} steps: images/s")
    print(f"{'device':6} {'shape':5} " + " ".join(f"{'batch ' + str(b):>10}" for b in args.batches))
    for device in devices:
        for shape in args.shapes:
            rates = [time_rns(shape, b, device, args.steps) for b in args.batches]
            print(f"{device:6} {shape:5} " + " ".join(f"{r:10.2f}" for r in rates))
    if not args.no_extraction:
        print()
        print_extraction_perf(window_batch=args.window_batch)


if __name__ == "__main__":
    main()
