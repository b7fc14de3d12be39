"""The segment command's overlays name their colours: a legend strip beside the image, a swatch per
class the label map shows (and none for a class it does not)."""

from __future__ import annotations

import numpy as np

from rns_bench.ops.label_maps import voc_colormap
from rns_bench.segment.outputs import overlay


def _has_colour(strip: np.ndarray, colour: np.ndarray) -> bool:
    return bool(np.all(strip == colour, axis=-1).any())


def test_an_overlay_has_a_swatch_for_each_class_it_shows():
    image = np.full((120, 80, 3), 200, np.uint8)
    label = np.full((120, 80), 5, np.uint8)
    label[60:, :] = 7
    palette = voc_colormap()
    picture = overlay(image, label, [f"class {c}" for c in range(10)])
    assert picture.shape[0] == 120 and picture.shape[1] > 80
    assert np.array_equal(picture[:, :80], overlay(image, label))  # the image part is the plain overlay
    strip = picture[:, 80:]
    assert _has_colour(strip, palette[5]) and _has_colour(strip, palette[7])
    assert not _has_colour(strip, palette[3])  # a class not in the label map has no entry
    longer = overlay(image, label, [f"a much longer name of class {c}" for c in range(10)])
    assert longer.shape[1] > picture.shape[1]  # the strip holds the names


def test_without_names_an_overlay_is_the_image_size():
    image = np.zeros((10, 12, 3), np.uint8)
    assert overlay(image, np.zeros((10, 12), np.uint8)).shape == (10, 12, 3)
