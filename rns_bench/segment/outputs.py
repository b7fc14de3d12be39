"""Where ``python -m rns_bench.segment`` writes, and the checks that refuse a bad ``--out`` or ``--cache-dir``
before any model loads: ``OUT/labels/<name>.png`` (palette PNG: pixel = class index),
``OUT/overlays/<name>.jpg`` (the colours over the image, and on its right the name of each colour it
shows) and ``OUT/classes.txt`` (index, name, colour),
each written atomically (a planted symlink is replaced, never followed)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from rns_bench.core.atomic_io import atomic_target, write_text_atomic
from rns_bench.core.errors import InputError
from rns_bench.data.readers.label_reader import decode_image
from rns_bench.ops.label_maps import save_palette_png, voc_colormap
from rns_bench.segment.segmenter import OpenWorldSegmenter

OVERLAY_ALPHA = 0.5
OUTPUT_FOLDERS = ("labels", "overlays")
LEGEND = "classes.txt"


def overlay(image: np.ndarray, label: np.ndarray, class_names: Sequence[str] = ()) -> np.ndarray:
    """The label's colours over the image; with ``class_names``, a legend of the classes shown beside it."""
    colours = voc_colormap()[label]
    blended = (image * (1 - OVERLAY_ALPHA) + colours * OVERLAY_ALPHA).astype(np.uint8)
    return with_class_legend(blended, label, class_names) if class_names else blended


def with_class_legend(picture: np.ndarray, label: np.ndarray, class_names: Sequence[str]) -> np.ndarray:
    """``picture`` with a white strip on its right: a swatch and the name of each class in ``label``."""
    size = max(12, picture.shape[0] // 30)  # text in proportion to the image, never unreadably small
    font = ImageFont.load_default(size=size)
    present = [int(c) for c in np.unique(label)]
    names = [class_names[c] if c < len(class_names) else f"class {c}" for c in present]
    row, pad = size + size // 2, size // 2
    width = 3 * pad + size + int(max(font.getlength(name) for name in names))
    canvas = Image.new("RGB", (picture.shape[1] + width, max(picture.shape[0], 2 * pad + row * len(names))), "white")
    canvas.paste(Image.fromarray(picture), (0, 0))
    draw, palette, x = ImageDraw.Draw(canvas), voc_colormap(), picture.shape[1] + pad
    for index, (c, name) in enumerate(zip(present, names, strict=True)):
        y = pad + index * row
        draw.rectangle((x, y, x + size, y + size), fill=tuple(int(v) for v in palette[c]), outline="black")
        draw.text((x + size + pad, y), name, fill="black", font=font)
    return np.asarray(canvas)


def output_paths(out: Path, stem: str) -> tuple[Path, Path]:
    """(label PNG, overlay JPEG) of the image ``stem``."""
    return out / "labels" / f"{stem}.png", out / "overlays" / f"{stem}.jpg"


def write_outputs(out: Path, stem: str, image: np.ndarray, label: np.ndarray, class_names: Sequence[str] = ()) -> None:
    """The label PNG and the overlay JPEG (with its class legend) of one segmented image (temp file + rename each)."""
    label_file, overlay_file = output_paths(out, stem)
    save_palette_png(label_file, label)
    with atomic_target(overlay_file) as tmp:
        Image.fromarray(overlay(image, label, class_names)).save(tmp, format="JPEG", quality=90)


def write_legend(out: Path, class_names: Sequence[str]) -> None:
    """``OUT/classes.txt``: index, name and palette colour of every class."""
    colours = voc_colormap()
    legend = [f"{i}\t{name}\t#{''.join(f'{c:02x}' for c in colours[i])}" for i, name in enumerate(class_names)]
    write_text_atomic(out / LEGEND, "\n".join(legend) + "\n")


def folder_writable(folder: Path) -> bool:
    """Whether this process may create files in the existing ``folder``."""
    return os.access(folder, os.W_OK | os.X_OK)


def blocking_folder(folder: Path) -> Path | None:
    """What stops ``folder`` (there or not yet) from taking new files: itself or its nearest existing
    ancestor when that is a file or read-only; None when nothing does."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return None if probe.is_dir() and folder_writable(probe) else probe


def _blocked(flag: str, value: Path, blocker: Path) -> InputError:
    if blocker.exists() and not blocker.is_dir():
        return InputError(f"{flag} {value}: {blocker} is a file, not a folder; give another {flag} or move the file")
    return InputError(f"{flag} {value}: cannot write in {blocker} (read-only); make it writable or give another {flag}")


def check_output_folder(out: Path, stems: Sequence[str]) -> None:
    """Refuse an ``--out`` whose folders cannot take the outputs (a file, read-only), before any model loads."""
    for folder in (out, *(out / name for name in OUTPUT_FOLDERS)):
        blocker = blocking_folder(folder)
        if blocker is not None:
            raise _blocked("--out", out, blocker)
    for path in (out / LEGEND, *(p for stem in stems for p in output_paths(out, stem))):
        if path.is_dir() and not path.is_symlink():  # a link is replaced by the rename; a folder is not
            raise InputError(f"--out {out}: {path} is a folder where an output file goes; move it")


def check_cache_folder(cache_dir: Path) -> None:
    """Refuse a ``--cache-dir`` that is a file, or read-only with no features in it, before any model loads.
    A read-only cache holding features may serve every image: :func:`require_writable_or_cached`."""
    blocker = blocking_folder(cache_dir)
    if blocker is None:
        return
    if not blocker.is_dir():
        raise _blocked("--cache-dir", cache_dir, blocker)
    if not any(cache_dir.glob("*/*.safetensors")):
        raise InputError(
            f"--cache-dir {cache_dir}: cannot write in {blocker} (read-only) and it holds no cached "
            f"features, so every image would need writing; make it writable or give another "
            f"--cache-dir"
        )


def require_writable_or_cached(
    segmenter: OpenWorldSegmenter, support_images: Sequence[np.ndarray], targets: dict[str, Path], cache_dir: Path
) -> None:
    """A read-only cache folder serves only images it holds: refuse before any extraction when one is
    missing (a fully cached read-only cache is fine: nothing is written)."""
    for split in ("support", "test"):
        folder = segmenter.cache_folder(split)
        if folder is None or blocking_folder(folder) is None:
            continue
        images = support_images if split == "support" else (decode_image(path) for path in targets.values())
        missing = sum(not segmenter.in_disk_cache(split, image) for image in images)
        if missing:
            raise InputError(
                f"--cache-dir {cache_dir}: {folder} is read-only and lacks the {split} features of "
                f"{missing} image(s); make it writable or give another --cache-dir (a read-only cache "
                f"serves only images it already holds)"
            )
