"""The mmseg sliding-window grid and the accumulation of windows on the patch grid (protocol §3)."""

from __future__ import annotations

import math

import pytest
import torch
from features.fake_backbones import OriginBackbone, origin_code, origin_image

from rns_bench.core.errors import ConfigError
from rns_bench.features.dense import extract_dense
from rns_bench.features.settings import ExtractionSettings, WindowSpec
from rns_bench.ops.windows import PatchCanvas, axis_starts, check_patch_aligned, window_grid


def mmseg_windows(height: int, width: int, crop: int, stride: int) -> list[tuple[int, int, int, int]]:
    """Transcribed from mmseg ``EncoderDecoder.slide_inference`` (the loop, not our formula)."""
    h_grids = max(height - crop + stride - 1, 0) // stride + 1
    w_grids = max(width - crop + stride - 1, 0) // stride + 1
    boxes = []
    for h_idx in range(h_grids):
        for w_idx in range(w_grids):
            y1, x1 = h_idx * stride, w_idx * stride
            y2, x2 = min(y1 + crop, height), min(x1 + crop, width)
            y1, x1 = max(y2 - crop, 0), max(x2 - crop, 0)
            boxes.append((y1, x1, y2, x2))
    return boxes


def test_axis_starts_by_hand() -> None:
    assert axis_starts(688, 448, 224) == [0, 224, 240]  # 512×683 at S=448, padded: last window shifted to 240
    assert axis_starts(672, 448, 224) == [0, 224]  # exact fit: the last window ends at the border
    assert axis_starts(448, 448, 224) == [0]  # exactly one crop
    assert axis_starts(300, 448, 224) == [0]  # smaller than the crop: one window of the image's size
    assert axis_starts(608, 224, 112) == [0, 112, 224, 336, 384]


def test_window_grid_by_hand() -> None:
    assert window_grid(448, 688, 448, 224) == [(0, 0, 448, 448), (0, 224, 448, 672), (0, 240, 448, 688)]
    assert window_grid(300, 200, 448, 224) == [(0, 0, 300, 200)]  # image smaller than the crop
    assert window_grid(96, 96, 64, 32) == [(0, 0, 64, 64), (0, 32, 64, 96), (32, 0, 96, 64), (32, 32, 96, 96)]


@pytest.mark.parametrize("height, width", [(448, 688), (688, 448), (1024, 2048), (200, 300), (448, 448), (464, 912)])
@pytest.mark.parametrize("crop, stride", [(448, 224), (448, 112), (224, 112), (384, 192)])
def test_window_grid_is_the_mmseg_grid(height: int, width: int, crop: int, stride: int) -> None:
    assert window_grid(height, width, crop, stride) == mmseg_windows(height, width, crop, stride)


def test_crops_and_strides_off_the_patch_grid_are_rejected() -> None:
    with pytest.raises(ConfigError, match="multiples of the backbone's patch size 16"):
        check_patch_aligned(440, 224, 16)
    with pytest.raises(ConfigError, match="stride 40 must be multiples"):
        extract_dense(OriginBackbone(), [origin_image(64, 64)], ExtractionSettings(None, (WindowSpec(64, 40),)))
    with pytest.raises(ConfigError, match="stride 100 exceeds the crop 64"):
        WindowSpec(64, 100)
    with pytest.raises(ValueError, match="not on the 16-pixel patch grid"):
        PatchCanvas((4, 4), 2).add((0, 8, 64, 64), torch.ones(2, 4, 4), 16)


def _expected(covering_origins: list[tuple[int, int]]) -> torch.Tensor:
    """The hand-computed feature of a patch covered by windows with these origins: mean of unit codes, normalised."""
    return sum(origin_code(*o) for o in covering_origins) / math.sqrt(len(covering_origins))


def test_overlapping_windows_are_averaged_per_patch_by_hand() -> None:
    # 64 × 176 px = 4 × 11 patches; crop 64 / stride 32 → x origins 0, 2, 4, 6 and 7 (last shifted) patches.
    dense = extract_dense(OriginBackbone(), [origin_image(64, 176)], ExtractionSettings(None, (WindowSpec(64, 32),)))
    features = dense[0].features
    assert features.shape == (4, 11, 256) and dense[0].resized_hw == (64, 176)
    covering = {
        0: [0],
        1: [0],
        2: [0, 2],
        3: [0, 2],
        4: [2, 4],
        5: [2, 4],
        6: [4, 6],
        7: [4, 6, 7],
        8: [6, 7],
        9: [6, 7],
        10: [7],
    }
    for col, origins in covering.items():
        for row in range(4):
            torch.testing.assert_close(features[row, col], _expected([(0, x) for x in origins]))


def test_two_dimensional_overlap_by_hand() -> None:
    features = extract_dense(OriginBackbone(), [origin_image(96, 96)], ExtractionSettings(None, (WindowSpec(64, 32),)))[
        0
    ].features
    torch.testing.assert_close(features[0, 0], _expected([(0, 0)]))
    torch.testing.assert_close(features[0, 3], _expected([(0, 0), (0, 2)]))
    torch.testing.assert_close(features[3, 3], _expected([(0, 0), (0, 2), (2, 0), (2, 2)]))
    torch.testing.assert_close(features[5, 5], _expected([(2, 2)]))


def test_several_crop_sizes_average_their_maps_by_hand() -> None:
    # Crop 64 (one window at (0, 0)) and crop 32 / stride 32 (four windows) on a 64 × 64 image.
    settings = ExtractionSettings(None, (WindowSpec(64, 32), WindowSpec(32, 32)))
    features = extract_dense(OriginBackbone(), [origin_image(64, 64)], settings)[0].features
    torch.testing.assert_close(features[0, 0], origin_code(0, 0))  # both maps say (0, 0)
    torch.testing.assert_close(features[3, 3], _expected([(0, 0), (2, 2)]))
    torch.testing.assert_close(features[1, 2], _expected([(0, 0), (0, 2)]))
    torch.testing.assert_close(features.norm(dim=-1), torch.ones(4, 4))


def test_patches_covered_by_no_window_are_an_error() -> None:
    canvas = PatchCanvas((2, 2), 3)
    canvas.add((0, 0, 16, 32), torch.ones(3, 1, 2), 16)
    with pytest.raises(ValueError, match="covered by no window"):
        canvas.result()
