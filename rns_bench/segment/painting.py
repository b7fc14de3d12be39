"""A support mask painted in an image editor: the picture and the pixels painted over it.

An editor value (the web demo's ``gr.ImageEditor``, plain numpy, no UI library needed here) is a mapping
``{"background": picture, "layers": [painted layer, ...], "composite": ...}``. The picture is the support
image; every layer is the size of the picture and transparent where nothing was painted. The object is
the union of what the layers paint: a pixel at least half opaque (alpha ≥ 128, the cut-out rule of
``rns_bench.segment.folders``) on a layer with transparency, non-black on a layer without. A layer of
another size than the picture, an empty mask or a missing picture is one :class:`InputError` saying what
to do, never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rns_bench.core.errors import InputError
from rns_bench.segment.folders import HALF_OPAQUE

OPAQUE = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def painted_support(editor: Mapping[str, Any] | None) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 RGB picture and (H, W) bool mask of what was painted on it (module doc)."""
    background = None if editor is None else editor.get("background")
    if background is None:
        raise InputError(
            "no support image in the editor: upload a picture (or load a support image) and paint the object on it"
        )
    image = as_rgb(np.asarray(background))
    mask = np.zeros(image.shape[:2], dtype=bool)
    for number, layer in enumerate(editor.get("layers") or [], 1):
        if layer is None:
            continue
        layer = np.asarray(layer)
        if layer.shape[:2] != image.shape[:2]:
            raise InputError(
                f"painted layer {number} is {_hw(layer.shape)} but its support image is {_hw(image.shape)}; "
                f"a mask must match its image pixel for pixel: paint on the image as loaded (no crop or resize)"
            )
        mask |= painted_pixels(layer)
    if not mask.any():
        raise InputError(
            "the mask is empty: paint over the object on the support image with the brush "
            "(the painted pixels are the class, the rest is ignored); to add a class from its name alone, "
            "clear the editor first"
        )
    return image, mask


def painted_pixels(layer: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels one layer paints (alpha ≥ 128 with transparency, non-black without)."""
    if layer.ndim == 2:
        return layer > 0
    if layer.ndim == 3 and layer.shape[2] in (2, 4):  # LA / RGBA: the alpha channel says what was painted
        return layer[..., -1] >= HALF_OPAQUE
    if layer.ndim == 3 and layer.shape[2] in (1, 3):
        return layer.any(axis=-1)
    raise InputError(f"a painted layer must be (H, W), (H, W, 3) or (H, W, 4), got {layer.shape}")


def as_rgb(picture: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 of a greyscale, RGB or RGBA picture; transparent pixels shown on white (as an
    editor shows them), opaque pixels unchanged."""
    if picture.dtype != np.uint8:
        raise InputError(f"a picture must hold 8-bit pixels (uint8), got {picture.dtype}")
    if picture.ndim == 2:
        return np.repeat(picture[..., None], 3, axis=2)
    if picture.ndim == 3 and picture.shape[2] == 3:
        return picture
    if picture.ndim == 3 and picture.shape[2] == 4:
        rgb, alpha = picture[..., :3].astype(np.uint32), picture[..., 3:].astype(np.uint32)
        blended = (rgb * alpha + OPAQUE * (OPAQUE - alpha) + OPAQUE // 2) // OPAQUE  # exact at alpha 255
        return blended.astype(np.uint8)
    raise InputError(f"a picture must be (H, W), (H, W, 3) or (H, W, 4), got {picture.shape}")


def new_class_name(name: str | None, class_names: Sequence[str]) -> str:
    """``name`` stripped, refused when empty, holding a control character (a newline would break
    classes.txt) or already a class."""
    name = (name or "").strip()
    if not name:
        raise InputError("type the new class's name first")
    if _CONTROL.search(name):
        raise InputError(f"class name {name!r} holds a control character (tab, newline); use plain text")
    if name in class_names:
        raise InputError(
            f"class {name!r} is already in the vocabulary (class {list(class_names).index(name)}); give a new "
            f"name, or add the painted picture to it as another support image"
        )
    return name


def _hw(shape: tuple[int, ...]) -> str:
    return f"{shape[0]}x{shape[1]} (HxW)"
