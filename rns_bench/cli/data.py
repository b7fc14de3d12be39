"""``python -m rns_bench.data {fetch,prepare,split,verify}``: the scripted dataset steps (protocol §1, §2).

    python -m rns_bench.data fetch voc --data-root data          # torchvision download (VOC 2012 / 2010)
    python -m rns_bench.data fetch ade --from-hub                 # scene_parse_150 (parquet) → ADEChallengeData2016
    python -m rns_bench.data prepare context --data-root data [--source trainval_merged.json] [--workers 4]
    python -m rns_bench.data split voc --shots 1 5 10 --seed 100 18 42 84 [--data-root data] [--out FILE]
    python -m rns_bench.data verify voc [--data-root data] [--counts-only]
    python -m rns_bench.data toy-example demo                      # support + images for rns_bench.segment

Exit status: 0 done, 1 verification found problems, 2 bad input (the message says the fix).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rns_bench.cli import exit_status
from rns_bench.core.errors import InputError, UnknownNameError
from rns_bench.data.datasets import DATA_ROOT_ENV, DatasetSpec, resolve_data_root
from rns_bench.data.declared import spec_for_key
from rns_bench.data.prepare import PREPARERS, get_preparer
from rns_bench.data.presence_index import PresenceIndex, PresenceKey
from rns_bench.data.support_splits import (
    DEFAULT_SUPPORT_SHORT_SIDE,
    PresenceOf,
    draw_support_split,
    split_file,
    write_support_split,
)
from rns_bench.toy.example import write_segment_example

DEFAULT_PRESENCE_CACHE = ".cache/presence"
DEFAULT_RESULTS_DIR = "results"


def _short_side(text: str) -> int | None:
    """``--short-side``: a positive integer, or ``none``/``orig`` for the original resolution."""
    if text.lower() in ("none", "orig", "original"):
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'none', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'none', got {value}")
    return value


def run_prepare(args: argparse.Namespace) -> int:
    if args.key not in PREPARERS and _is_dataset(args.key):  # VOC, ADE, toy: labels ship ready to read
        raise InputError(
            f"dataset {args.key!r} needs no preparation step: its labels are read as they ship "
            f"(or generated on first use); steps exist for: {', '.join(PREPARERS.names())}"
        )
    preparer = get_preparer(args.key)
    data_root = resolve_data_root(args.data_root)
    print(f"preparing {args.key}: {preparer.description}")
    print(preparer.run(data_root, args.source, args.workers))
    return 0


def _is_dataset(key: str) -> bool:
    try:
        spec_for_key(key, Path("."))
    except UnknownNameError:
        return False
    return True


def run_split(args: argparse.Namespace) -> int:
    if args.out is not None and len(args.shots) * len(args.seed) != 1:
        raise InputError("--out names one file: give a single --shots and a single --seed with it")
    if args.out is not None and Path(args.out).is_dir():
        raise InputError(
            f"--out {args.out} is a folder; give the split file's name, e.g. "
            f"{Path(args.out) / f'{args.key}_B{args.shots[0]}_seed{args.seed[0]}.json'}"
        )
    data_root = resolve_data_root(args.data_root)
    spec = spec_for_key(args.key, data_root)
    if spec.prepare is not None:  # embedded datasets are generated on first use
        spec.prepare(data_root)
    reader = spec.make_reader(data_root)
    presence_of = _presence_function(spec, reader, args.presence_cache, args.short_side)
    for shots in args.shots:
        for seed in args.seed:
            split = draw_support_split(spec, reader, shots, seed, presence_of)
            path = args.out or split_file(Path(args.results_dir), spec.key, shots, seed, args.short_side)
            write_support_split(split, path)
            print(f"{spec.key} B={shots} seed={seed}: {len(split.image_ids)} images, sha256 {split.sha256} → {path}")
    return 0


def _presence_function(spec: DatasetSpec, reader, cache: str, short_side: int | None) -> PresenceOf:
    """Pool ids → presence rows: through the on-disk index under ``cache``, or in memory only for 'none'."""
    root = None if cache.lower() == "none" else Path(cache)
    index = PresenceIndex(root, PresenceKey.for_dataset(spec, short_side), len(spec.class_names()))
    return lambda pool: index.rows(pool, reader.read_label, reader.label_digest)


def run_verify(args: argparse.Namespace) -> int:
    from rns_bench.data.verify import verify_dataset  # imported here: prepare/split do not depend on it

    data_root = resolve_data_root(args.data_root)
    spec = spec_for_key(args.key, data_root)
    if spec.prepare is None:  # no dataset folder at all: one line with the fix, not a report of nothing
        spec.make_reader(data_root).require_root()
    report = verify_dataset(
        spec, args.data_root, check_labels=not args.counts_only, workers=args.workers, raise_on_problems=False
    )
    print(report.format())
    return 0 if report.ok else 1


def run_fetch(args: argparse.Namespace) -> int:
    data_root = resolve_data_root(args.data_root)
    if args.from_hub or args.hub_copy:
        from rns_bench.data.hub_copy import materialise
        from rns_bench.data.verify import verify_dataset

        folder, written = materialise(args.key, data_root, args.hub_copy)
        print(f"{args.key}: wrote {written} file(s) under {folder}; checking counts and labels")
        report = verify_dataset(spec_for_key(args.key, data_root), data_root, raise_on_problems=False)
        print(report.format())
        return 0 if report.ok else 1
    from rns_bench.data.fetch import fetch

    folder = fetch(args.key, data_root)
    print(f"{args.key}: files under {folder}")
    return 0


def run_toy_example(args: argparse.Namespace) -> int:
    counts = write_segment_example(args.folder)
    print(
        f"wrote {counts['support']} support images with masks and {counts['classes']} class names under "
        f"{args.folder / 'support'} and {counts['images']} images under {args.folder / 'images'}; segment them with\n"
        f"  python -m rns_bench.segment --support {args.folder / 'support'} --images {args.folder / 'images'} "
        f"--out {args.folder / 'out'}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rns_bench.data", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    data_root_help = f"the data directory (default: ${DATA_ROOT_ENV}, else ./data)"
    _add_prepare(commands, data_root_help)
    _add_split(commands, data_root_help)
    _add_fetch(commands, data_root_help)
    _add_verify(commands, data_root_help)
    _add_toy_example(commands)
    return parser


def _add_prepare(commands: argparse._SubParsersAction, data_root_help: str) -> None:
    prepare = commands.add_parser("prepare", help="convert a dataset's shipped annotations into the labels read")
    prepare.add_argument("key", help="dataset key: context, context59, coco_stuff, coco_object, cityscapes, cub")
    prepare.add_argument("--data-root", help=data_root_help)
    prepare.add_argument(
        "--source",
        type=Path,
        help="the shipped annotations (default: their usual place under the data root; see the step's error for it)",
    )
    prepare.add_argument("--workers", type=int, default=1, help="processes converting files (default 1)")
    prepare.set_defaults(run=run_prepare)


def _add_split(commands: argparse._SubParsersAction, data_root_help: str) -> None:
    split = commands.add_parser("split", help="draw B-shot support splits (protocol §2) and write them as JSON")
    split.add_argument("key", help="a dataset key (registered, or configs/dataset/<key>.yaml)")
    split.add_argument("--shots", type=int, nargs="+", required=True, help="B, one or more")
    split.add_argument("--seed", type=int, nargs="+", required=True, help="seeds, one or more")
    split.add_argument("--data-root", help=data_root_help)
    split.add_argument(
        "--short-side",
        type=_short_side,
        default=DEFAULT_SUPPORT_SHORT_SIDE,
        help=f"support resize short side for presence (default {DEFAULT_SUPPORT_SHORT_SIDE}, "
        "CLIP-like backbones; 'none' = original size, DINOv3.txt)",
    )
    split.add_argument(
        "--out",
        type=Path,
        help="output file (one shots/seed pair only; default <results-dir>/splits/<key>/B<shots>_seed<seed>.json)",
    )
    split.add_argument("--results-dir", default=DEFAULT_RESULTS_DIR, help="default: results")
    split.add_argument(
        "--presence-cache",
        default=DEFAULT_PRESENCE_CACHE,
        help=f"presence index folder, shared by all seeds and shots (default {DEFAULT_PRESENCE_CACHE}; "
        "'none' = compute in memory)",
    )
    split.set_defaults(run=run_split)


def _add_fetch(commands: argparse._SubParsersAction, data_root_help: str) -> None:
    fetch = commands.add_parser(
        "fetch",
        help="download a dataset a library can fetch (voc, voc20; context images; "
        "ade from the Hugging Face Hub with --from-hub)",
    )
    fetch.add_argument("key", help="a registered dataset key")
    fetch.add_argument("--data-root", help=data_root_help)
    fetch.add_argument(
        "--from-hub",
        action="store_true",
        help="materialise the maintained Hugging Face Hub copy (ade: scene_parse_150's parquet conversion)",
    )
    fetch.add_argument("--hub-copy", type=Path, help="a save_to_disk folder of that Hub copy (offline machines)")
    fetch.set_defaults(run=run_fetch)


def _add_verify(commands: argparse._SubParsersAction, data_root_help: str) -> None:
    verify = commands.add_parser("verify", help="check a prepared dataset on disk (counts, sizes, label values)")
    verify.add_argument("key", help="a dataset key (registered, or configs/dataset/<key>.yaml)")
    verify.add_argument("--data-root", help=data_root_help)
    verify.add_argument("--counts-only", action="store_true", help="check the image counts, not every label")
    verify.add_argument("--workers", type=int, default=4, help="threads reading labels (default 4)")
    verify.set_defaults(run=run_verify)


def _add_toy_example(commands: argparse._SubParsersAction) -> None:
    example = commands.add_parser(
        "toy-example",
        help="write a support folder and images from the toy world (the README's python -m rns_bench.segment example)",
    )
    example.add_argument("folder", type=Path, help="where to write support/ and images/")
    example.set_defaults(run=run_toy_example)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return exit_status(lambda: args.run(args))


if __name__ == "__main__":
    sys.exit(main())
