"""A support folder (rns_bench.segment.folders): what a per-class mask marks in every PNG mode, the
EXIF-orientation rule, and the names it refuses — each refusal one InputError naming the file or class."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rns_bench.core.errors import InputError
from rns_bench.data.readers.label_reader import EXIF_ORIENTATION
from rns_bench.segment.folders import find_support, object_mask, support_pairs

H, W = 24, 40


def _object() -> np.ndarray:
    """(H, W) bool: a rectangle, the object every mask below marks."""
    obj = np.zeros((H, W), bool)
    obj[5:15, 8:30] = True
    return obj


def _photo(seed: int = 0, size: tuple[int, int] = (H, W)) -> np.ndarray:
    """(H, W, 3) uint8 with no black pixel: a picture, not a mask."""
    return np.random.default_rng(seed).integers(1, 256, (*size, 3), dtype=np.uint8)


def _save(path, image: Image.Image, **kwargs) -> object:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)
    return path


def _palette(indices: np.ndarray, colours: list[tuple[int, int, int]]) -> Image.Image:
    image = Image.fromarray(indices.astype(np.uint8), mode="L").convert("P")
    image.putpalette([c for colour in colours for c in colour] + [0] * 3 * (256 - len(colours)))
    return image


def _masks(obj: np.ndarray) -> dict[str, tuple[Image.Image, dict]]:
    """Every accepted encoding of ``obj``: (image, save kwargs)."""
    grey = (obj * 255).astype(np.uint8)
    cut_out = np.dstack([_photo(1), np.where(obj, 255, 0).astype(np.uint8)])
    cut_out[~obj, 3] = 0
    soft = cut_out.copy()
    edge = np.zeros_like(obj)
    edge[4, 8:30] = True  # a soft edge just outside the object: a third opaque (< 128): not the object
    soft[edge, 3] = 85
    silhouette = np.zeros((H, W, 4), np.uint8)
    silhouette[obj, 3] = 255  # black, opaque on the object, transparent elsewhere
    transparent_palette = _palette(obj.astype(np.uint8), [(40, 200, 90), (40, 200, 90)])
    return {
        "grey": (Image.fromarray(grey), {}),
        "bilevel": (Image.fromarray(grey).convert("1"), {}),
        "grey16": (Image.fromarray((obj * 4000).astype(np.uint16)), {}),
        "palette_by_colour": (_palette(np.where(obj, 0, 1), [(255, 255, 255), (0, 0, 0)]), {}),
        "rgb": (Image.fromarray(np.dstack([grey, grey // 3, np.zeros_like(grey)])), {}),
        "rgba_opaque": (Image.fromarray(np.dstack([grey, grey, grey, np.full_like(grey, 255)])), {}),
        "rgba_cut_out": (Image.fromarray(cut_out), {}),
        "rgba_soft_edge": (Image.fromarray(soft), {}),
        "rgba_silhouette": (Image.fromarray(silhouette), {}),
        "la_cut_out": (Image.fromarray(np.dstack([np.full_like(grey, 128), grey])), {}),
        "palette_transparent": (transparent_palette, {"transparency": 0}),
    }


@pytest.mark.parametrize("kind", list(_masks(_object())))
def test_every_accepted_mask_kind_marks_exactly_the_object(tmp_path, kind):
    image, kwargs = _masks(_object())[kind]
    path = _save(tmp_path / f"{kind}.png", image, **kwargs)
    np.testing.assert_array_equal(object_mask(path), _object())


def test_a_flat_white_mask_is_the_class_everywhere(tmp_path):
    path = _save(tmp_path / "all.png", Image.fromarray(np.full((H, W), 255, np.uint8)))
    assert object_mask(path).all()


@pytest.mark.parametrize(
    "kind,expected",
    [
        ("rgb_photo", "has no black pixel and many colours: a photo or an opaque cut-out"),
        ("opaque_rgba_photo", "has no black pixel and many colours"),
        ("transparent", "is transparent everywhere"),
        ("ambiguous", "is ambiguous: its transparency marks one object and its black-and-colour pixels another"),
        ("cmyk", "has PIL mode 'CMYK'"),
    ],
)
def test_a_picture_an_empty_cut_out_an_ambiguous_mask_or_an_odd_mode_is_refused_naming_the_file(
    tmp_path, kind, expected
):
    obj, photo = _object(), _photo()
    if kind == "rgb_photo":
        image = Image.fromarray(photo)
    elif kind == "opaque_rgba_photo":
        image = Image.fromarray(np.dstack([photo, np.full((H, W), 255, np.uint8)]))
    elif kind == "transparent":
        image = Image.fromarray(np.dstack([photo, np.zeros((H, W), np.uint8)]))
    elif kind == "ambiguous":  # white object on opaque black, inside a transparent margin
        rgba = np.zeros((H, W, 4), np.uint8)
        rgba[obj, :3] = 255
        rgba[2:20, 4:36, 3] = 255
        image = Image.fromarray(rgba)
    else:
        image = Image.fromarray(photo).convert("CMYK")
    path = _save(tmp_path / f"{kind}.png" if kind != "cmyk" else tmp_path / "cmyk.jpg", image)
    with pytest.raises(InputError) as error:
        object_mask(path)
    assert str(path) in str(error.value) and expected in str(error.value)


# ------------------------------------------------------------------------- EXIF orientation
def _oriented_support(tmp_path, stored: np.ndarray, orientation: int, mask: np.ndarray):
    """A per-class support "dog": a.jpg stored as ``stored`` with an EXIF orientation, and its mask."""
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    image = _save(tmp_path / "support" / "dog" / "a.jpg", Image.fromarray(stored), exif=exif, quality=95)
    mask = _save(tmp_path / "support" / "dog" / "a_mask.png", Image.fromarray((mask * 255).astype(np.uint8)))
    return find_support(tmp_path / "support", ["background"]), image, mask


def test_a_rotated_image_whose_mask_fits_the_upright_picture_only_is_accepted(tmp_path):
    upright_mask = np.zeros((W, H), bool)  # orientation 6: decoded W x H
    upright_mask[3:12, 2:9] = True
    support, _, _ = _oriented_support(tmp_path, _photo(), 6, upright_mask)
    ((image, label),) = support_pairs(support)
    assert image.shape[:2] == (W, H)
    np.testing.assert_array_equal(label == 1, upright_mask)


def test_a_mask_drawn_on_the_stored_pixels_of_a_rotated_image_is_refused_naming_both_files(tmp_path):
    support, image, mask = _oriented_support(tmp_path, _photo(), 6, _object())
    with pytest.raises(InputError) as error:
        support_pairs(support)
    message = str(error.value)
    assert str(mask) in message and str(image) in message and "EXIF orientation 6" in message
    assert "the stored size of its image" in message and "Strip the image's orientation tag or rotate" in message


@pytest.mark.parametrize("orientation,size", [(6, (32, 32)), (8, (32, 32)), (3, (H, W)), (2, (H, W))])
def test_a_mask_that_fits_both_the_stored_and_the_decoded_pixels_is_refused_as_ambiguous(tmp_path, orientation, size):
    mask = np.zeros(size, bool)
    mask[2:10, 3:20] = True
    support, image, mask_file = _oriented_support(tmp_path, _photo(size=size), orientation, mask)
    with pytest.raises(InputError) as error:
        support_pairs(support)
    message = str(error.value)
    assert str(image) in message and str(mask_file) in message
    assert f"EXIF orientation {orientation}" in message and "cannot say which it was drawn on" in message


def test_a_mask_of_another_size_is_refused_naming_the_sizes(tmp_path):
    support, image, mask = _oriented_support(tmp_path, _photo(), 1, np.ones((H + 1, W), bool))
    with pytest.raises(InputError, match=r"is 25x40 \(HxW\) but its image .* is 24x40 \(HxW\)"):
        support_pairs(support)


# ------------------------------------------------------------------------------- names
def test_a_class_named_twice_in_classes_txt_is_named(tmp_path):
    support = tmp_path / "support"
    _save(support / "images" / "a.png", Image.fromarray(_photo()))
    _save(support / "masks" / "a.png", Image.fromarray(np.zeros((H, W), np.uint8)))
    (support / "classes.txt").write_text("background\ndog\ncat\ndog\n")
    with pytest.raises(InputError, match=r"class 'dog' is named twice in .*classes.txt \(names 2 and 4\)"):
        find_support(support, [])


def test_two_images_of_one_name_are_refused(tmp_path):
    folder = tmp_path / "support" / "dog"
    _save(folder / "a.png", Image.fromarray(_photo()))
    _save(folder / "a.jpg", Image.fromarray(_photo()))
    with pytest.raises(InputError, match=r"two images named 'a' in .*: a.jpg and a.png; rename one"):
        find_support(tmp_path / "support", [])
