"""The VOC-layout reader on a tiny dataset written by hand (palette PNGs, a 255 band, JPEGs)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rns_bench.core.errors import InputError
from rns_bench.data.readers.voc_layout import VOCLayout, VOCReader
from rns_bench.ops.label_maps import voc_colormap

H, W = 12, 20


def _label(first_class: int) -> np.ndarray:
    """(H, W) indices: background, a block of ``first_class`` and of class 2, a 255 band between."""
    label = np.zeros((H, W), np.uint8)
    label[2:10, 3:9] = first_class
    label[2:10, 11:18] = 2
    label[2:10, 9:11] = 255
    return label


def _write_label(path: Path, label: np.ndarray, palette: np.ndarray | None = None) -> None:
    image = Image.fromarray(label)
    image.putpalette((voc_colormap() if palette is None else palette).ravel().tolist())
    image.save(path)


def _write_image(path: Path, size: tuple[int, int] = (H, W)) -> None:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)).save(path, quality=95)


@pytest.fixture
def voc(tmp_path: Path) -> VOCLayout:
    layout = VOCLayout(tmp_path / "VOC")
    for folder in (layout.image_dir, layout.label_dir, layout.split_dir):
        (layout.root / folder).mkdir(parents=True)
    for image_id, first_class in (("2007_000002", 1), ("2007_000001", 3)):
        _write_image(layout.image_path(image_id))
        _write_label(layout.label_path(image_id), _label(first_class))
    # File order, not sorted order, is what support sampling depends on.
    layout.split_file("train").write_text("2007_000002\n2007_000001\n\n")
    return layout


def test_image_ids_keep_file_order(voc: VOCLayout) -> None:
    assert VOCReader(voc, num_classes=21).image_ids("train") == ["2007_000002", "2007_000001"]


def test_read_image_is_rgb_uint8(voc: VOCLayout) -> None:
    image = VOCReader(voc, num_classes=21).read_image("2007_000001")
    assert image.shape == (H, W, 3) and image.dtype == np.uint8


def test_labels_are_palette_indices_not_colours(voc: VOCLayout) -> None:
    reader = VOCReader(voc, num_classes=21)
    np.testing.assert_array_equal(reader.read_label("2007_000001"), _label(3))
    # A palette whose colours have nothing to do with the indices still reads as the indices.
    palette = np.random.default_rng(1).integers(0, 256, size=(256, 3), dtype=np.uint8)
    _write_label(voc.label_path("2007_000002"), _label(1), palette)
    assert Image.open(voc.label_path("2007_000002")).convert("RGB").getpixel((4, 4)) == tuple(palette[1])
    label = reader.read_label("2007_000002")
    assert label.dtype == np.uint8
    np.testing.assert_array_equal(label, _label(1))


def test_greyscale_labels_are_accepted(voc: VOCLayout) -> None:
    Image.fromarray(_label(4)).save(voc.label_path("2007_000001"))  # mode "L"
    np.testing.assert_array_equal(VOCReader(voc, num_classes=21).read_label("2007_000001"), _label(4))


def test_reduce_zero_label_follows_mmseg(voc: VOCLayout) -> None:
    label = VOCReader(voc, num_classes=20, reduce_zero_label=True).read_label("2007_000001")
    expected = np.full((H, W), 255, np.uint8)  # 0 → 255 and 255 stays 255
    expected[2:10, 3:9] = 2  # 3 → 2
    expected[2:10, 11:18] = 1  # 2 → 1
    np.testing.assert_array_equal(label, expected)


def test_missing_split_file_names_the_path(voc: VOCLayout) -> None:
    with pytest.raises(InputError, match=r"val\.txt"):
        VOCReader(voc, num_classes=21).image_ids("val")


def test_image_without_label_names_the_label_path(voc: VOCLayout) -> None:
    voc.label_path("2007_000002").unlink()
    with pytest.raises(InputError, match=r"label file not found: .*2007_000002\.png"):
        VOCReader(voc, num_classes=21).read_label("2007_000002")


def test_missing_image_names_the_image_path(voc: VOCLayout) -> None:
    voc.image_path("2007_000002").unlink()
    with pytest.raises(InputError, match=r"image file not found: .*2007_000002\.jpg"):
        VOCReader(voc, num_classes=21).read_image("2007_000002")


def test_label_value_out_of_range_names_file_value_and_k(voc: VOCLayout) -> None:
    with pytest.raises(InputError, match=r"2007_000001\.png.* value 3.*K=3") as error:
        VOCReader(voc, num_classes=3).read_label("2007_000001")
    assert "255" in str(error.value)  # says that 255 is allowed
    VOCReader(voc, num_classes=3).read_label("2007_000002")  # values 0, 1, 2, 255 are fine


def test_label_value_check_counts_the_zero_label_reduction(voc: VOCLayout) -> None:
    # Raw 3 becomes 2 after reduce_zero_label: fine with K = 3, too big with K = 2.
    VOCReader(voc, num_classes=3, reduce_zero_label=True).read_label("2007_000001")
    with pytest.raises(InputError, match="value 3"):
        VOCReader(voc, num_classes=2, reduce_zero_label=True).read_label("2007_000001")


def test_truncated_image_is_an_input_error(voc: VOCLayout) -> None:
    path = voc.image_path("2007_000001")
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(InputError, match=r"2007_000001\.jpg"):
        VOCReader(voc, num_classes=21).read_image("2007_000001")


def test_label_of_another_size_than_its_image_is_an_error(voc: VOCLayout) -> None:
    _write_image(voc.image_path("2007_000001"), size=(H + 1, W))
    with pytest.raises(InputError, match=r"12x20.*13x20"):
        VOCReader(voc, num_classes=21).read_label("2007_000001")


def test_rgb_label_is_rejected(voc: VOCLayout) -> None:
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(voc.label_path("2007_000001"))
    with pytest.raises(InputError, match="mode 'RGB'"):
        VOCReader(voc, num_classes=21).read_label("2007_000001")


def test_voc_colormap_matches_the_devkit() -> None:
    colours = voc_colormap()
    assert colours[0].tolist() == [0, 0, 0] and colours[1].tolist() == [128, 0, 0]
    assert colours[15].tolist() == [192, 128, 128] and colours[255].tolist() == [224, 224, 192]
