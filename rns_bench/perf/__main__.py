"""``make perf``: throughput figures of the hot paths on this machine (CPU, and CUDA if present).

RNS test-time training against the released per-image loop, measured in one run
(``rns_bench.perf.rns``: K = 21, 60, 150, D = 512, 1024 queries; one image and batched),
with the fraction of the measured matmul peak; dense feature extraction (sliding windows,
protocol §3) and the JPEG → cache extraction pipeline by ``rns_bench.perf.extraction``; painting
region maps and the region cache's size (``region_perf``); probabilities → label maps on CPU, old chain vs
the identical faster one (``label_map_perf``, full mode only). How costs grow with the data: ``make perf-scale``.
``--short`` is CI's mode: fewer steps, shapes and images, the same figures printed, nothing
asserted on time. ``--markdown PATH`` also writes the output as a page (``make perf-docs``: docs/performance.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from rns_bench.perf.extraction import print_extraction_perf, print_pipeline_perf
from rns_bench.perf.label_maps import print_label_map_perf
from rns_bench.perf.markdown import write_performance_page
from rns_bench.perf.regions import print_region_perf
from rns_bench.perf.rns import print_rns_perf
from rns_bench.rns import RNSConfig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=RNSConfig().steps)
    parser.add_argument("--classes", type=int, nargs="+", default=[21, 60, 150])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16, 32])
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="each RNS figure is the fastest of this many runs (at most 15 s of runs each)",
    )
    parser.add_argument("--short", action="store_true", help="CI: 30 steps, K 21 and 150, batches 1 and 4, one run")
    parser.add_argument("--no-extraction", action="store_true", help="skip the feature-extraction figures")
    parser.add_argument("--window-batch", type=int, default=16, help="crops per backbone forward (extraction)")
    parser.add_argument(
        "--restated-release", type=Path, help="a restated release to time beside ours (make perf: tests/reference/)"
    )
    parser.add_argument("--markdown", type=Path, help="also write the output as a Markdown page (make perf-docs)")
    args = parser.parse_args(argv)
    if args.short:
        args.steps, args.classes, args.batches, args.repeats = 30, [21, 150], [1, 4], 1
    if args.markdown is not None:
        words = argv if argv is not None else sys.argv[1:]
        command = " ".join(
            ["python -m rns_bench.perf", *(w for w in words if w != "--markdown" and w != str(args.markdown))]
        )
        write_performance_page(args.markdown, lambda: print_figures(args), command)
    else:
        print_figures(args)


def print_figures(args: argparse.Namespace) -> None:
    """Every figure the options ask for, printed."""
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
        + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "")
    )
    for device in devices:
        print_rns_perf(args.classes, args.batches, args.steps, device, args.repeats, args.restated_release)
        print()
    if not args.no_extraction:
        print_extraction_perf(window_batch=args.window_batch)
        print()
        # --short: one store batch per backbone (the overlap starts at the second batch; the figure is printed)
        print_pipeline_perf(
            window_batch=args.window_batch, images={"toy_vlm": 2, "clip_tiny": 8} if args.short else None
        )
    print()
    print_region_perf(args.short)  # painting instance maps; the region cache's bytes per entry
    if not args.short:  # ≈ 2 min, mostly the old chain at Cityscapes size: not in CI's short mode
        print()
        print_label_map_perf(False)


if __name__ == "__main__":
    main()
