"""Painted editor layers → a support mask, and the messages for bad input (rns_bench.segment.painting)."""

from __future__ import annotations

import numpy as np
import pytest

from rns_bench.core.errors import InputError
from rns_bench.segment.painting import as_rgb, new_class_name, painted_pixels, painted_support


def _picture(h=4, w=5):
    return np.arange(h * w * 3, dtype=np.uint8).reshape(h, w, 3)


def _layer(h=4, w=5, painted=(), alpha=255):
    layer = np.zeros((h, w, 4), np.uint8)
    for y, x in painted:
        layer[y, x] = (255, 0, 0, alpha)
    return layer


def test_the_mask_is_the_union_of_what_the_layers_paint_and_the_picture_keeps_its_pixels():
    picture = _picture()
    editor = {"background": picture, "layers": [_layer(painted=[(0, 0), (1, 2)]), _layer(painted=[(3, 4)])]}
    image, mask = painted_support(editor)
    assert np.array_equal(image, picture)
    assert sorted(zip(*np.nonzero(mask), strict=True)) == [(0, 0), (1, 2), (3, 4)]


def test_a_pixel_is_painted_from_half_opaque_up_as_a_cut_out_is():
    layer = _layer(painted=[(0, 0)], alpha=128)
    layer[0, 1] = (255, 0, 0, 127)  # a soft brush edge under half opacity: not the object
    assert np.nonzero(painted_pixels(layer)) == (np.array([0]), np.array([0]))
    assert painted_pixels(np.array([[0, 3]], np.uint8)).tolist() == [[False, True]]  # no alpha: non-black
    with pytest.raises(InputError, match=r"\(H, W, 4\)"):
        painted_pixels(np.zeros((2, 2, 5), np.uint8))


def test_an_rgba_picture_keeps_opaque_pixels_and_shows_transparent_ones_on_white():
    rgba = np.zeros((1, 3, 4), np.uint8)
    rgba[0, 0] = (10, 20, 30, 255)
    rgba[0, 1] = (10, 20, 30, 0)
    rgba[0, 2] = (0, 0, 0, 51)  # black at a fifth opacity: 255 * 4/5 = 204
    assert as_rgb(rgba).tolist() == [[[10, 20, 30], [255, 255, 255], [204, 204, 204]]]
    assert as_rgb(np.full((1, 2), 7, np.uint8)).tolist() == [[[7, 7, 7], [7, 7, 7]]]
    with pytest.raises(InputError, match="uint8"):
        as_rgb(np.zeros((1, 1, 3), np.float32))


@pytest.mark.parametrize(
    ("editor", "message"),
    [
        (None, "no support image in the editor"),
        ({"background": None, "layers": []}, "no support image in the editor"),
        ({"background": _picture(), "layers": []}, "the mask is empty"),
        ({"background": _picture(), "layers": [_layer(alpha=0, painted=[(0, 0)])]}, "the mask is empty"),
        ({"background": _picture(), "layers": [_layer(h=5, painted=[(0, 0)])]}, r"5x5 \(HxW\).*4x5 \(HxW\)"),
    ],
    ids=["no editor", "no picture", "nothing painted", "transparent paint", "layer of another size"],
)
def test_bad_paint_is_one_message(editor, message):
    with pytest.raises(InputError, match=message):
        painted_support(editor)


def test_a_new_class_name_is_stripped_and_refused_when_empty_taken_or_holding_a_newline():
    assert new_class_name("  my cat ", ["dog"]) == "my cat"
    with pytest.raises(InputError, match="type the new class's name"):
        new_class_name("   ", ["dog"])
    with pytest.raises(InputError, match=r"class 'dog' is already in the vocabulary \(class 1\)"):
        new_class_name("dog", ["background", "dog"])
    with pytest.raises(InputError, match="control character"):
        new_class_name("a\tb", ["dog"])
