"""A support folder for ``python -m rns_bench.segment``: its two layouts, what a mask is, and every check.

Every problem is one :class:`InputError` naming the file (or class) and the fix, raised while the
files are read — before a model loads.

Layouts (found by what the folder holds):

* ``images/<name>.(jpg|png)`` + ``masks/<name>.png``: label maps of class indices (palette or greyscale
  PNG, 255 = ignore) into the class names (``--classes``, ``--classes-file`` or ``classes.txt``);
* one folder per class, ``<class name>/<name>.(jpg|png)`` + ``<name>_mask.png``: that class's pixels,
  the rest of the picture ignored. One picture in several class folders is one support image whose
  label joins its masks (a pixel two masks claim is ignored).

What a per-class mask is (the mask rule):

* **transparency that varies** (RGBA, LA, PA, or a palette PNG with a transparent colour): a cut-out.
  The object is where the mask is at least half opaque (alpha ≥ 128), whatever its colours. Refused as
  ambiguous when its colours draw another mask: exactly two colours, black and one other, with black on
  fully opaque pixels (the opaque part and the non-black part disagree). Transparent everywhere: refused;
* **no transparency, or opaque everywhere** (greyscale, 16-bit greyscale, palette, RGB, opaque RGBA):
  the object is where the colour is not black (any channel > 0; a palette PNG by its colours, not its
  indices). Refused when no pixel is black and it holds more than two values: a photo or an opaque
  cut-out, not a mask (a flat all-white mask, the class everywhere, is accepted);
* any other mode (CMYK, YCbCr, ...) is refused.

EXIF orientation: images are decoded as OpenCV decodes them (orientation tag applied, as the
benchmark decodes every image: ``rns_bench.data.readers.label_reader``); masks are read as stored. A mask can
only say which pixels it was drawn on through its size, so a support image whose orientation is not 1
is accepted only when its mask has the decoded size and the stored size differs (a 90° rotation: the
mask was drawn on the upright picture). A mask of the stored size is refused (drawn on the unrotated
pixels: strip the tag or rotate the mask); one that fits both (a square image, a flip or a 180° turn)
is refused as ambiguous, naming both files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rns_bench.core.errors import InputError
from rns_bench.core.labels import IGNORE_INDEX
from rns_bench.data.readers.label_reader import (
    TRANSPOSING_ORIENTATIONS,
    decode_image,
    decoded_size,
    label_indices,
    open_image,
)
from rns_bench.segment.segmenter import image_key, require_distinct

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MASK_SUFFIX = "_mask.png"
CLASSES_FILE = "classes.txt"  # SUPPORT/classes.txt: the names of an images/ + masks/ support, in index order
HALF_OPAQUE = 128  # a cut-out's soft edge is partly transparent: the object is its at-least-half-opaque part
ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
ORIENTED = range(2, 9)  # EXIF orientations that rotate or flip (1 = as stored; other values are not valid tags)


@dataclass
class Support:
    """The class names and (image file, label file, class index or None = indexed label) pairs found."""

    class_names: list[str]
    items: list[tuple[Path, Path, int | None]] = field(default_factory=list)


def find_support(folder: Path, given_names: Sequence[str]) -> Support:
    """Read the layout of ``folder`` (module doc)."""
    if not folder.is_dir():
        raise InputError(f"support folder not found: {folder}")
    if (folder / "images").is_dir() or (folder / "masks").is_dir():
        return _indexed_support(folder, list(given_names))
    return _per_class_support(folder, list(given_names))


def images_in(folder: Path) -> dict[str, Path]:
    """The images of ``folder`` by file stem (masks excluded); two files of one stem are refused."""
    images: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.endswith(MASK_SUFFIX):
            if path.stem in images:  # outputs and masks are named by stem: one would silently win
                raise InputError(
                    f"two images named {path.stem!r} in {folder}: {images[path.stem].name} and {path.name}; rename one"
                )
            images[path.stem] = path
    return images


def read_names(path: Path) -> list[str]:
    """Class names, one per line (blank lines skipped); duplicates refused, naming ``path``."""
    try:
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read the class names {path}: {error}") from None
    require_distinct(names, str(path))
    return names


def _indexed_support(folder: Path, names: list[str]) -> Support:
    if not names and (folder / CLASSES_FILE).is_file():
        names = read_names(folder / CLASSES_FILE)
    if not names:
        raise InputError(
            f"{folder} holds images/ and masks/ (label maps of class indices): name the classes in "
            f"index order with --classes a,b,c, --classes-file or a {folder / CLASSES_FILE}"
        )
    images_dir, masks_dir = folder / "images", folder / "masks"
    for needed in (images_dir, masks_dir):
        if not needed.is_dir():
            raise InputError(f"support layout images/ + masks/ needs the folder {needed}")
    images = images_in(images_dir)
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
        images = images_in(class_dir)
        masks = {p.name.removesuffix(MASK_SUFFIX): p for p in class_dir.glob(f"*{MASK_SUFFIX}")}
        for stem, mask in sorted(masks.items()):
            if stem not in images:
                raise InputError(f"mask {mask} has no image: expected {class_dir / stem}.jpg or .png")
        if not images:
            raise InputError(
                f"class folder {class_dir} holds no support images ({', '.join(IMAGE_SUFFIXES)}); "
                f"add images with their {MASK_SUFFIX} masks, or remove the folder and name the class "
                f"with --classes to segment it from its text alone"
            )
        for stem, image in images.items():
            if stem not in masks:
                raise InputError(f"support image {image} has no mask: expected {class_dir / (stem + MASK_SUFFIX)}")
            support.items.append((image, masks[stem], class_names.index(class_dir.name)))
    return support


# ------------------------------------------------------------------------------ masks
def object_mask(path: Path) -> np.ndarray:
    """(H, W) bool: the object a per-class mask file marks (the mask rule, module doc)."""
    with open_image(path) as image:
        if image.mode in ALPHA_MODES or (image.mode == "P" and "transparency" in image.info):
            rgba = np.array(image.convert("RGBA"))
            alpha = rgba[..., 3]
            if alpha.min() < 255:  # the alpha channel carries something: a cut-out
                return _cut_out(rgba[..., :3], alpha, path)
            colours = rgba[..., :3]
        elif image.mode in ("1", "L", "I", "F") or image.mode.startswith("I;16"):
            colours = np.array(image)[..., None]
        elif image.mode in ("P", "RGB"):
            colours = np.array(image.convert("RGB"))
        else:
            raise InputError(
                f"mask {path} has PIL mode {image.mode!r}; give a greyscale, palette, RGB or RGBA "
                f"PNG (module doc of rns_bench.segment.folders: the mask rule)"
            )
    marked = colours.any(axis=-1)
    if marked.all() and _more_than_two_colours(colours):
        raise InputError(
            f"mask {path} has no black pixel and many colours: a photo or an opaque cut-out, not a "
            f"mask. Draw the object on black (black = not the object), or keep it in the alpha "
            f"channel with a transparent background"
        )
    return marked


def _cut_out(colours: np.ndarray, alpha: np.ndarray, path: Path) -> np.ndarray:
    if alpha.max() == 0:
        raise InputError(
            f"mask {path} is transparent everywhere: its alpha marks no pixel. Make the object "
            f"opaque, or save the mask without an alpha channel (black = not the object)"
        )
    black = ~colours.any(axis=-1)
    if (black & (alpha == 255)).any() and not black.all() and not _more_than_two_colours(colours):
        raise InputError(
            f"mask {path} is ambiguous: its transparency marks one object and its black-and-"
            f"colour pixels another (black pixels are opaque). Keep one: a cut-out with a "
            f"transparent background, or a mask on black without an alpha channel"
        )
    return alpha >= HALF_OPAQUE


def _more_than_two_colours(colours: np.ndarray) -> bool:
    """Whether the (H, W, C) ``colours`` hold more than two distinct values (one pass, any dtype)."""
    flat = colours.reshape(-1, colours.shape[-1])
    other = (flat != flat[0]).any(axis=1)
    if not other.any():
        return False
    second = flat[int(other.argmax())]
    return bool((other & (flat != second).any(axis=1)).any())


def read_support_label(mask_path: Path, class_index: int | None, names: Sequence[str]) -> np.ndarray:
    """(H, W) uint8 label of one mask file: a per-class mask's object → ``class_index`` (the rest 255), or
    an indexed label map's class indices (checked against ``names``)."""
    if class_index is not None:
        marked = object_mask(mask_path)
        if not marked.any():
            raise InputError(f"mask {mask_path} marks no pixel of class {names[class_index]!r}")
        return np.where(marked, class_index, IGNORE_INDEX).astype(np.uint8)
    with open_image(mask_path) as mask_image:
        mask = label_indices(mask_image, mask_path)
    bad = np.setdiff1d(np.unique(mask), [*range(len(names)), IGNORE_INDEX])
    if bad.size:
        raise InputError(
            f"mask {mask_path} holds class {int(bad[0])}, but only {len(names)} class names are "
            f"given ({', '.join(names)}); add its name to --classes or fix the mask"
        )
    return mask


def check_mask_fits(image_file: Path, image_hw: tuple[int, int], mask_file: Path, mask_hw: tuple[int, int]) -> None:
    """Refuse a mask that does not sit on its decoded image pixel for pixel (EXIF rule: module doc)."""
    _, orientation = decoded_size(image_file)
    if orientation not in ORIENTED:
        if mask_hw != image_hw:
            raise InputError(
                f"mask {mask_file} is {_hw(mask_hw)} but its image {image_file} is {_hw(image_hw)}; "
                f"they must match pixel for pixel"
            )
        return
    stored_hw = image_hw[::-1] if orientation in TRANSPOSING_ORIENTATIONS else image_hw
    decoded = (
        f"{image_file} carries EXIF orientation {orientation}, which OpenCV (like the benchmark) "
        f"applies: it is decoded {_hw(image_hw)}"
    )
    if mask_hw == image_hw != stored_hw:
        return  # the mask fits the upright picture only: it was drawn on it
    if mask_hw == stored_hw != image_hw:
        raise InputError(
            f"mask {mask_file} is {_hw(mask_hw)}, the stored size of its image, but {decoded}: the "
            f"mask was drawn on the unrotated pixels. Strip the image's orientation tag or rotate "
            f"the mask to match"
        )
    if mask_hw == image_hw:
        raise InputError(
            f"support image {decoded}, and its mask {mask_file} fits both the stored and the "
            f"decoded pixels, so it cannot say which it was drawn on. Save the image upright "
            f"(orientation applied, tag 1) if the mask was drawn on the upright picture, or strip "
            f"the tag if on the stored pixels"
        )
    raise InputError(f"mask {mask_file} is {_hw(mask_hw)} but its image {decoded}; they must match pixel for pixel")


def _hw(hw: tuple[int, ...]) -> str:
    return f"{hw[0]}x{hw[1]} (HxW)"


def support_pairs(support: Support) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image, label) per distinct support image, every file read and checked. One picture in several class
    folders (a scene with a dog and a cat) is one support image whose label joins its masks; a pixel two
    masks claim is ignored."""
    return [(image, label) for _, image, label in named_support_pairs(support)]


def named_support_pairs(support: Support) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """:func:`support_pairs` with the file stem of each distinct image (its first file's)."""
    merged: dict[str, tuple[str, np.ndarray, np.ndarray]] = {}
    for image_file, mask_file, index in support.items:
        image = decode_image(image_file)
        label = read_support_label(mask_file, index, support.class_names)
        check_mask_fits(image_file, image.shape[:2], mask_file, label.shape)
        key = image_key(image)
        if key not in merged:
            merged[key] = (image_file.stem, image, label)
            continue
        stem, _, joined = merged[key]
        joined = joined.copy()
        mine = label != IGNORE_INDEX
        clash = mine & (joined != IGNORE_INDEX) & (joined != label)
        joined[mine] = label[mine]
        joined[clash] = IGNORE_INDEX
        merged[key] = (stem, image, joined)
    return list(merged.values())
