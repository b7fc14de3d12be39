"""``python -m rns_bench.segment``: segment your own images with your own support, any backbone and method.

    python -m rns_bench.segment --support SUPPORT --images IMAGES --out OUT \\
        [--classes background,dog,cat | --classes-file names.txt] [--backbone toy_vlm] [--method rns] \\
        [--option k=8 ...] [--cache-dir .cache/features]

Support, one of two layouts (found by what SUPPORT holds; the full rules in ``rns_bench.segment.folders``):

* ``SUPPORT/images/<name>.(jpg|png)`` + ``SUPPORT/masks/<name>.png``: label maps of class indices into
  the class names (``--classes``, ``--classes-file`` or ``SUPPORT/classes.txt``, in index order;
  255 = ignore);
* one folder per class, ``SUPPORT/<class name>/<name>.(jpg|png)`` + ``<name>_mask.png``: that class's
  pixels, the rest ignored. A mask with varying transparency is a cut-out (the object: alpha ≥ 128);
  otherwise the object is where the mask is not black; a photo, an all-transparent or an ambiguous mask
  (transparency and black-and-colour disagreeing) is refused. ``--classes`` may add names without
  support images (e.g. background): they are segmented from their text alone.

A support image with an EXIF orientation (OpenCV decodes it rotated, as the benchmark does) is accepted
only when its mask fits the decoded picture and not the stored one.

Every image of ``IMAGES`` gets ``OUT/labels/<name>.png`` (palette PNG: pixel = class index) and
``OUT/overlays/<name>.jpg`` (the colours over the image), and ``OUT/classes.txt`` lists index, name and
colour. Every output is written atomically (temp file + rename: a symlink planted at an output path is
replaced, never followed). Features are cached under ``--cache-dir`` by image content, so a second run
extracts nothing it has seen; a read-only cache serves if it holds every image. Exit status: 0 done,
2 bad input (one line naming the file, class or folder, before any image is segmented).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml
from tqdm.auto import tqdm

from rns_bench.cli import exit_status
from rns_bench.core.errors import InputError
from rns_bench.data.readers.label_reader import decode_image
from rns_bench.segment.folders import (
    IMAGE_SUFFIXES,
    find_support,
    images_in,
    read_names,
    support_pairs,
)
from rns_bench.segment.outputs import (
    check_cache_folder,
    check_output_folder,
    require_writable_or_cached,
    write_legend,
    write_outputs,
)
from rns_bench.segment.segmenter import OpenWorldSegmenter, check_method, require_distinct


def run(args: argparse.Namespace) -> int:
    options = _options(args.option)
    check_method(args.method, options)  # a misspelt --option fails before any support file is decoded
    names = _class_names(args)
    support = find_support(args.support, names)
    targets = images_in(args.images) if args.images.is_dir() else {}
    if not targets:
        raise InputError(f"no images to segment in {args.images} ({', '.join(IMAGE_SUFFIXES)})")
    check_output_folder(args.out, list(targets))
    check_cache_folder(args.cache_dir)
    pairs = support_pairs(support)  # every support file read before the model loads
    segmenter = OpenWorldSegmenter.create(
        args.backbone, args.method, support.class_names, options, cache_dir=args.cache_dir
    )
    require_writable_or_cached(segmenter, [image for image, _ in pairs], targets, args.cache_dir)
    for image, label in tqdm(pairs, desc="support images", unit="image"):
        segmenter.add_support(image, label)
    out = args.out
    for stem, path in tqdm(targets.items(), desc="segmenting", unit="image"):
        image = decode_image(path)
        write_outputs(out, stem, image, segmenter.segment(image), segmenter.class_names)
    write_legend(out, segmenter.class_names)
    extracted = segmenter.images_extracted
    print(
        f"segmented {len(targets)} image(s) with {args.method} on {args.backbone}: {len(support.class_names)} "
        f"classes, {len(pairs)} support image(s) ({len(support.items)} masks); extracted "
        f"{extracted['support']} support and {extracted['test']} test image(s), the rest from "
        f"{args.cache_dir} → {out}"
    )
    return 0


def _class_names(args: argparse.Namespace) -> list[str]:
    if args.classes and args.classes_file:
        raise InputError("give --classes or --classes-file, not both")
    if args.classes_file:
        return read_names(args.classes_file)
    names = [name.strip() for name in (args.classes or "").split(",") if name.strip()]
    require_distinct(names, "--classes")
    return names


def _options(pairs: Sequence[str]) -> dict:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--option {pair!r}: write key=value (e.g. --option k=8)")
        options[key] = yaml.safe_load(value)
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rns_bench.segment", description=__doc__.splitlines()[0])
    parser.add_argument("--support", type=Path, required=True, help="support folder (layouts: see the module doc)")
    parser.add_argument("--images", type=Path, required=True, help="folder of images to segment")
    parser.add_argument("--out", type=Path, required=True, help="output folder: labels/, overlays/, classes.txt")
    parser.add_argument("--classes", help="class names in index order, comma-separated")
    parser.add_argument("--classes-file", type=Path, help="class names, one per line")
    parser.add_argument("--backbone", default="toy_vlm", help="configs/backbone/<name>.yaml (default toy_vlm)")
    parser.add_argument("--method", default="rns", help="rns, knn_clip, freeda or zero_shot (default rns)")
    parser.add_argument("--option", action="append", default=[], help="a method option, key=value (repeatable)")
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(".cache/features"), help="feature cache (default .cache/features)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return exit_status(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
