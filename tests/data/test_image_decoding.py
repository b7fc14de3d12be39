"""Images are decoded as the release decodes them: OpenCV ``IMREAD_COLOR`` then BGR → RGB.

mmcv's ``imfrombytes(flag='color', backend='cv2')`` applies the EXIF orientation tag, PIL does
not: a tagged JPEG decodes rotated here (as in the release), and its label must match that.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from data.fake_datasets import write_fake_dataset
from PIL import Image

from rns_bench.core.errors import InputError
from rns_bench.data.declared import spec_for_key
from rns_bench.data.readers.label_reader import decode_image

ROTATE_90_CW = 6  # EXIF orientation: the stored pixels must be rotated 90° clockwise to display


def _jpeg(pixels: np.ndarray, orientation: int | None = None) -> bytes:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


def _opencv(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_decoding_equals_opencv_in_rgb_order(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    pixels[:, :10] = (255, 0, 0)  # a red band: BGR left in place would read as blue
    path = tmp_path / "a.jpg"
    path.write_bytes(_jpeg(pixels))
    decoded = decode_image(path)
    assert decoded.shape == (37, 53, 3) and decoded.dtype == np.uint8
    assert np.array_equal(decoded, _opencv(path))
    assert decoded[5, 2, 0] > 200 and decoded[5, 2, 2] < 60


def test_greyscale_and_png_images_come_back_as_three_channels(tmp_path: Path) -> None:
    grey = np.random.default_rng(1).integers(0, 256, size=(9, 11), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "g.png")
    decoded = decode_image(tmp_path / "g.png")
    assert decoded.shape == (9, 11, 3) and np.array_equal(decoded[..., 0], grey)


def test_exif_orientation_is_applied_as_opencv_does_and_pil_does_not(tmp_path: Path) -> None:
    pixels = np.random.default_rng(2).integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    path = tmp_path / "tagged.jpg"
    path.write_bytes(_jpeg(pixels, ROTATE_90_CW))
    decoded = decode_image(path)
    assert decoded.shape == (30, 20, 3)  # rotated, like the release
    assert np.array_equal(decoded, _opencv(path))
    with Image.open(path) as pil:
        assert (pil.height, pil.width) == (20, 30)  # PIL keeps the stored orientation


def test_a_label_must_match_the_rotated_image(tmp_path: Path) -> None:
    fake = write_fake_dataset("ade", tmp_path)
    spec = spec_for_key("ade", tmp_path)
    reader = spec.make_reader(tmp_path)
    image_id = fake.split_ids[spec.support_split][0]
    raw = fake.raw_labels[image_id]
    stored = np.random.default_rng(3).integers(0, 256, size=(*raw.shape, 3), dtype=np.uint8)
    fake.image_paths[image_id].write_bytes(_jpeg(stored, ROTATE_90_CW))
    with pytest.raises(InputError, match=r"EXIF orientation 6.*decodes it rotated"):
        reader.read_label(image_id)
    fake.write_label(image_id, np.ascontiguousarray(np.rot90(raw, k=-1)))  # the label of what cv2 decodes
    assert reader.read_label(image_id).shape == reader.read_image(image_id).shape[:2] == raw.shape[::-1]


def test_an_undecodable_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "not_an_image.jpg"
    path.write_bytes(b"\xff\xd8 certainly not a jpeg")
    with pytest.raises(InputError, match=r"cannot read .*not_an_image\.jpg.*corrupt or truncated"):
        decode_image(path)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty.png"):
        decode_image(empty)
