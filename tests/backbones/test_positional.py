"""Positional-embedding resizing: bicubic, align_corners=False, on the grid only (features.md)."""

import torch
import torch.nn.functional as F

from rns_bench.backbones.positional import resize_grid_embedding, resize_with_prefix


def _embedding(rows: int, channels: int = 6) -> torch.Tensor:
    return torch.randn(rows, channels, generator=torch.Generator().manual_seed(rows))


def test_grid_resize_is_bicubic_interpolation_of_the_row_major_grid() -> None:
    grid = _embedding(4 * 5)
    expected = F.interpolate(grid.T.reshape(1, 6, 4, 5), size=(3, 7), mode="bicubic", align_corners=False)
    resized = resize_grid_embedding(grid, (4, 5), (3, 7))
    assert resized.shape == (21, 6)
    torch.testing.assert_close(resized, expected.reshape(6, 21).T)


def test_same_grid_is_returned_unchanged() -> None:
    grid = _embedding(16)
    assert resize_grid_embedding(grid, (4, 4), (4, 4)) is grid


def test_prefix_rows_are_untouched_and_the_grid_is_resized() -> None:
    embedding = _embedding(2 + 9)
    resized = resize_with_prefix(embedding, 2, (3, 3), (5, 2))
    assert resized.shape == (2 + 10, 6)
    torch.testing.assert_close(resized[:2], embedding[:2], rtol=0, atol=0)
    torch.testing.assert_close(resized[2:], resize_grid_embedding(embedding[2:], (3, 3), (5, 2)))
