"""``python -m rns_bench.segment``: segment your own images with your own support, any backbone and method.

    python -m rns_bench.segment --support SUPPORT --images IMAGES --out OUT \\
        [--classes background,dog,cat | --classes-file names.txt] [--backbone toy_vlm] [--method rns] \\
        [--option k=8 ...] [--cache-dir .cache/features]

Support, one of two layouts (found by what SUPPORT holds):

* ``SUPPORT/images/<name>.(jpg|png)`` + ``SUPPORT/masks/<name>.png``: label maps of class indices into
  the class names (``--classes``, ``--classes-file`` or ``SUPPORT/classes.txt``, in index order;
  255 = ignore);
* one folder per class, ``SUPPORT/<class name>/<name>.(jpg|png)`` + ``<name>_mask.png`` (nonzero = that
  class, the rest ignored). ``--classes`` may add names without support images (e.g. background):
  they are segmented from their text alone.

Every image of ``IMAGES`` gets ``OUT/labels/<name>.png`` (palette PNG: pixel = class index) and
``OUT/overlays/<name>.jpg`` (the colours over the image), and ``OUT/classes.txt`` lists index, name and
colour. Features are cached under ``--cache-dir`` by image content, so a second run extracts nothing
it has seen. Exit status: 0 done, 2 bad input (one line naming the file or class, before any model runs).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from PIL import Image
from tqdm.auto import tqdm

import rns_bench.toy  # noqa: F401  (registers toy_vlm, the README example's backbone)
from rns_bench.core.atomic_io import atomic_target, write_text_atomic
from rns_bench.core.errors import InputError, RNSBenchError
from rns_bench.core.labels import IGNORE_INDEX
from rns_bench.data.label_reader import decode_image, label_indices, open_image
from rns_bench.ops.label_maps import save_palette_png, voc_colormap
from rns_bench.runs.open_world import OpenWorldSegmenter, check_method, image_key

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MASK_SUFFIX = "_mask.png"
CLASSES_FILE = "classes.txt"  # SUPPORT/classes.txt: the names of an images/ + masks/ support, in index order
OVERLAY_ALPHA = 0.5


@dataclass
class Support:
    """The class names and (image file, label file, class index or None = indexed label) pairs found."""

    class_names: list[str]
    items: list[tuple[Path, Path, int | None]] = field(default_factory=list)


def find_support(folder: Path, given_names: Sequence[str]) -> Support:
    """Read the layout of ``folder`` (module doc); every problem is one InputError naming the file."""
    if not folder.is_dir():
        raise InputError(f"support folder not found: {folder}")
    if (folder / "images").is_dir() or (folder / "masks").is_dir():
        return _indexed_support(folder, list(given_names))
    return _per_class_support(folder, list(given_names))


def _images_in(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir())
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.endswith(MASK_SUFFIX)}


def _indexed_support(folder: Path, names: list[str]) -> Support:
    if not names and (folder / CLASSES_FILE).is_file():
        names = _read_names(folder / CLASSES_FILE)
    if not names:
        raise InputError(f"{folder} holds images/ and masks/ (label maps of class indices): name the classes in "
                         f"index order with --classes a,b,c, --classes-file or a {folder / CLASSES_FILE}")
    images_dir, masks_dir = folder / "images", folder / "masks"
    for needed in (images_dir, masks_dir):
        if not needed.is_dir():
            raise InputError(f"support layout images/ + masks/ needs the folder {needed}")
    images = _images_in(images_dir)
    masks = {p.stem: p for p in sorted(masks_dir.glob("*.png"))}
    for stem, mask in masks.items():
        if stem not in images:
            raise InputError(f"mask {mask} has no image: expected {images_dir / stem}.jpg or .png")
    for stem, image in images.items():
        if stem not in masks:
            raise InputError(f"support image {image} has no mask: expected {masks_dir / stem}.png")
    if not images:
        raise InputError(f"no support images in {images_dir} ({', '.join(IMAGE_SUFFIXES)})")
    return Support(names, [(images[stem], masks[stem], None) for stem in images])


def _per_class_support(folder: Path, names: list[str]) -> Support:
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir())
    if not class_dirs:
        raise InputError(f"support folder {folder} has neither images/ + masks/ nor one folder per class")
    class_names = list(names) + [d.name for d in class_dirs if d.name not in names]
    support = Support(class_names)
    for class_dir in class_dirs:
        images = _images_in(class_dir)
        masks = {p.name.removesuffix(MASK_SUFFIX): p for p in class_dir.glob(f"*{MASK_SUFFIX}")}
        for stem, mask in sorted(masks.items()):
            if stem not in images:
                raise InputError(f"mask {mask} has no image: expected {class_dir / stem}.jpg or .png")
        if not images:
            raise InputError(f"class folder {class_dir} holds no support images ({', '.join(IMAGE_SUFFIXES)}); "
                             f"add images with their {MASK_SUFFIX} masks, or remove the folder and name the class "
                             f"with --classes to segment it from its text alone")
        for stem, image in images.items():
            if stem not in masks:
                raise InputError(f"support image {image} has no mask: expected {class_dir / (stem + MASK_SUFFIX)}")
            support.items.append((image, masks[stem], class_names.index(class_dir.name)))
    return support


def read_support_label(mask_path: Path, class_index: int | None, num_classes: int, names: Sequence[str]) -> np.ndarray:
    with open_image(mask_path) as mask_image:
        mask = label_indices(mask_image, mask_path) if class_index is None else np.array(mask_image.convert("L"))
    if class_index is not None:
        if not mask.any():
            raise InputError(f"mask {mask_path} marks no pixel of class {names[class_index]!r}")
        return np.where(mask > 0, class_index, 255).astype(np.uint8)
    bad = np.setdiff1d(np.unique(mask), [*range(num_classes), 255])
    if bad.size:
        raise InputError(f"mask {mask_path} holds class {int(bad[0])}, but only {num_classes} class names are "
                         f"given ({', '.join(names)}); add its name to --classes or fix the mask")
    return mask


def support_pairs(support: Support) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image, label) per distinct support image. One picture in several class folders (a scene with a
    dog and a cat) is one support image whose label joins its masks; a pixel two masks claim is ignored."""
    merged: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for image_file, mask_file, index in support.items:
        image = decode_image(image_file)
        label = read_support_label(mask_file, index, len(support.class_names), support.class_names)
        if image.shape[:2] != label.shape:
            raise InputError(f"mask {mask_file} is {label.shape[0]}x{label.shape[1]} but its image {image_file} is "
                             f"{image.shape[0]}x{image.shape[1]}")
        key = image_key(image)
        if key not in merged:
            merged[key] = (image, label)
            continue
        joined = merged[key][1].copy()
        mine = label != IGNORE_INDEX
        clash = mine & (joined != IGNORE_INDEX) & (joined != label)
        joined[mine] = label[mine]
        joined[clash] = IGNORE_INDEX
        merged[key] = (image, joined)
    return list(merged.values())


def overlay(image: np.ndarray, label: np.ndarray) -> np.ndarray:
    colours = voc_colormap()[label]
    return (image * (1 - OVERLAY_ALPHA) + colours * OVERLAY_ALPHA).astype(np.uint8)


def run(args: argparse.Namespace) -> int:
    options = _options(args.option)
    check_method(args.method, options)  # a misspelt --option fails before any support file is decoded
    names = _class_names(args)
    support = find_support(args.support, names)
    targets = _images_in(args.images) if args.images.is_dir() else {}
    if not targets:
        raise InputError(f"no images to segment in {args.images} ({', '.join(IMAGE_SUFFIXES)})")
    pairs = support_pairs(support)  # every support file read before the model loads
    segmenter = OpenWorldSegmenter.create(args.backbone, args.method, support.class_names, options,
                                          cache_dir=args.cache_dir)
    for image, label in tqdm(pairs, desc="support images", unit="image"):
        segmenter.add_support(image, label)
    out = args.out
    for stem, path in tqdm(targets.items(), desc="segmenting", unit="image"):
        image = decode_image(path)
        label = segmenter.segment(image)
        save_palette_png(out / "labels" / f"{stem}.png", label)
        with atomic_target(out / "overlays" / f"{stem}.jpg") as tmp:
            Image.fromarray(overlay(image, label)).save(tmp, format="JPEG", quality=90)
    colours = voc_colormap()
    legend = [f"{i}\t{name}\t#{''.join(f'{c:02x}' for c in colours[i])}"
              for i, name in enumerate(segmenter.class_names)]
    write_text_atomic(out / "classes.txt", "\n".join(legend) + "\n")
    extracted = segmenter.images_extracted
    print(f"segmented {len(targets)} image(s) with {args.method} on {args.backbone}: {len(support.class_names)} "
          f"classes, {len(pairs)} support image(s) ({len(support.items)} masks); extracted "
          f"{extracted['support']} support and {extracted['test']} test image(s), the rest from "
          f"{args.cache_dir or 'memory'} → {out}")
    return 0


def _class_names(args: argparse.Namespace) -> list[str]:
    if args.classes and args.classes_file:
        raise InputError("give --classes or --classes-file, not both")
    if args.classes_file:
        return _read_names(args.classes_file)
    return [name.strip() for name in (args.classes or "").split(",") if name.strip()]


def _read_names(path: Path) -> list[str]:
    try:
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read the class names {path}: {error}") from None


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
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/features"),
                        help="feature cache (default .cache/features)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except RNSBenchError as error:  # bad input: the message is the fix, no stack trace
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
