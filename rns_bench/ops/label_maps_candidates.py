"""Candidate classes of the CPU label-map path (spec §7): the classes that may be the argmax of some output
pixel, from the few patches (or regions) its bilinear value mixes; every other class is dominated there by
more than a margin ≫ float32 rounding, so skipping it changes no label.
"""

from __future__ import annotations

import numpy as np
import torch

from rns_bench.ops.label_maps_aten import _lane_safe

# Two float32 bilinear passes move a value by ≈ 10 ulps of the largest |probability| (≈ 6e-7 of it); the
# margin is far above that, and above subnormal and flush-to-zero errors.
_REL_MARGIN = 1e-4
_ABS_MARGIN = 1e-30


def _source_windows(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """(n_out,) first and last source index an align_corners=False bilinear output may read: a superset,
    widened where ATen's float32 source coordinate (error ≪ 1e-5·n_in) could fall on either side."""
    source = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    slack = 1e-5 * (n_in + 1)
    first = np.clip(np.floor(source - slack), 0, n_in - 1).astype(np.int64)
    last = np.clip(np.floor(source + slack) + 1, 0, n_in - 1).astype(np.int64)
    return first, last


def _patch_windows(
    n_patches: int, n_padded: int, n_cropped: int, n_original: int, same_size: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(n_original,) first and last patch index each output pixel may depend on, through both resizes."""
    first1, last1 = _source_windows(n_patches, n_padded)
    if same_size:
        return first1[:n_original], last1[:n_original]
    first2, last2 = _source_windows(n_cropped, n_original)
    return first1[first2], last1[last2]  # both maps are non-decreasing


def _unique_windows(first: np.ndarray, last: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, int, torch.Tensor]:
    """The distinct [first, last] windows (ascending), the most cells one spans, and each one's index."""
    pairs, index = np.unique(np.stack([first, last], axis=1), axis=0, return_inverse=True)
    pairs = torch.from_numpy(pairs)
    return pairs[:, 0], pairs[:, 1], int((pairs[:, 1] - pairs[:, 0]).max()) + 1, torch.from_numpy(index.reshape(-1))


def _margin(probs: torch.Tensor) -> float:
    return _REL_MARGIN * float(probs.abs().amax()) + _ABS_MARGIN


def _undominated(cells: torch.Tensor, margin: float) -> torch.Tensor:
    """(S, K, B) class values at the S cells of B windows → (K, B) bool: the classes that may be the argmax
    of some output pixel of each window.

    Each output pixel's values are one convex combination (the same for every class) of the cells of one
    window, rounded by far less than ``margin``. So class k is never a pixel's argmax, nor tied with it,
    if a fixed mixture of classes beats it by more than ``margin`` at every cell of the window. Two
    mixtures per window: the class with the best smallest value, and the even mix of the cells' own
    argmax classes (which wins across a border between two classes, where neither alone does).
    """
    spread = (cells.shape[0], 1, cells.shape[2])
    best = cells.gather(1, cells.amin(dim=0).argmax(dim=0).expand(spread))  # (S, 1, B)
    mix = torch.stack([cells.gather(1, top.expand(spread)) for top in cells.argmax(dim=1)]).mean(dim=0)
    return ((best - cells).amin(dim=0) <= margin) & ((mix - cells).amin(dim=0) <= margin)


def _block_candidates(
    probs: torch.Tensor, rows: tuple[np.ndarray, np.ndarray], cols: tuple[np.ndarray, np.ndarray]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For probs (K, h, w) whose output pixels read patches ``rows`` × ``cols`` (first and last index per
    output row / column): (K, row windows, column windows) bool candidates of each distinct window of
    patches, and each output row's and column's window index."""
    row_first, row_last, row_span, row_window = _unique_windows(*rows)
    col_first, col_last, col_span, col_window = _unique_windows(*cols)
    probs = probs.contiguous()  # index_select is slow on the channels-last view
    by_row = [probs.index_select(1, torch.minimum(row_first + offset, row_last)) for offset in range(row_span)]
    cells = torch.stack(
        [
            part.index_select(2, torch.minimum(col_first + offset, col_last))
            for part in by_row
            for offset in range(col_span)
        ]
    )  # (S, K, windows down, across)
    keep = _undominated(cells.flatten(2), _margin(probs))
    return keep.reshape(cells.shape[1:]), row_window, col_window


def _region_candidates(
    probs: torch.Tensor,
    region_map: torch.Tensor,
    rows: tuple[np.ndarray, np.ndarray],
    cols: tuple[np.ndarray, np.ndarray],
) -> torch.Tensor:
    """Ascending ids of the classes to interpolate for probs (R, K) painted by ``region_map``, as
    :func:`_block_candidates`: a window's cells are the regions it touches (each distinct set once)."""
    row_first, row_last, row_span, _ = _unique_windows(*rows)
    col_first, col_last, col_span, _ = _unique_windows(*cols)
    ids = region_map.long()
    by_row = [ids.index_select(0, torch.minimum(row_first + offset, row_last)) for offset in range(row_span)]
    touched = torch.stack(
        [
            part.index_select(1, torch.minimum(col_first + offset, col_last)).reshape(-1)
            for part in by_row
            for offset in range(col_span)
        ],
        dim=1,
    )  # (windows, cells)
    mixed = (touched != touched[:, :1]).any(dim=1)
    # Most windows lie inside one region: one cell, that region's probabilities.
    inside = probs[touched[~mixed, 0].unique()].T.unsqueeze(0)  # (1, K, regions)
    keep = _undominated(inside, _margin(probs)).any(dim=1)
    if bool(mixed.any()):
        windows = touched[mixed].sort(dim=1).values.unique(dim=0)
        keep |= _undominated(probs[windows].permute(1, 2, 0), _margin(probs)).any(dim=1)
    return _lane_safe(keep)
