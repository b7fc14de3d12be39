"""The CPU label maps of :mod:`rns_bench.ops.label_maps`, equal to the released chain's bit for bit (spec §7).

On a CPU the same label maps come cheaper, every value ATen computes being kept as it was:

* **candidate classes**: each output value is one convex combination (the same for all classes) of the
  probabilities of a few patches, rounded by a few ulps. So where some mixture of classes beats class k
  by more than a margin ≫ that rounding at each of those patches, k is never the argmax there, nor tied
  with it. Only the other classes are interpolated (ATen computes each channel on its own: the same
  floats), in ascending order, so a tie still goes to the lowest class id.
* **tiles**: with a power-of-two patch size the chain runs on tiles of about 4 × 4 patches, each on its
  own candidate classes, cut along each axis with no second resize or one by a / B, B a power of two
  (448 → 512 or 1024: 7/8, 7/16). Every source coordinate and weight is then an exact dyadic fraction,
  the same in a tile's own calls as in the whole image's.
* **layout and memory**: a channels-last input keeps a channels-last result (ATen otherwise copies it
  back to channels-first), the argmax runs over the contiguous class dimension, and big results are
  made a few classes at a time into one reused buffer (fresh 100 MB+ tensors cost more in page faults
  than the arithmetic). ATen picks its kernel (channels-last or generic: they round differently) by
  the input's layout, channel count and sizes, and rounds the last K mod 8 channels of the channels-last
  kernel apart: every call gets an input that answers those as the released call did.
* **same size**: a resize to the size it already has is the identity for finite values: skipped.

What this rests on is checked once per process (:func:`_aten_bilinear_is_per_channel`); CUDA, other
dtypes, non-finite or huge values, K < 4 and layouts that can't be matched run the released chain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction

import torch

from rns_bench.ops.label_maps_aten import (
    _CL,
    _MIN_CHANNELS,
    _aten_bilinear_is_per_channel,
    _channels_last_contiguous,
    _lane_period,
    _lane_safe,
    _resize4d,
    _suggested_layout,
)
from rns_bench.ops.label_maps_candidates import _block_candidates, _patch_windows, _region_candidates, _source_windows

_MAX_ABS = 1e30  # larger (or non-finite) probabilities: sums may overflow, the released chain runs
_TILE_PATCHES = 4  # tiles of 4 × 4 patches: small enough to drop most classes, large enough to amortise a call
_TILE_COST = 100_000  # one tile's fixed cost (≈ 0.2 ms), in output pixels × classes
_PIECE_VALUES = 64 * 2**20  # classes per call: about 256 MB of float32 output, in one reused buffer


def fast_patch_label_map(
    probs: torch.Tensor, patch_size: int, resized_hw: tuple[int, int], original_hw: tuple[int, int]
) -> torch.Tensor | None:
    """(H, W) long labels of probs (K, h, w) as the released patch chain gives them, or None where that
    chain must run (not a float32 CPU input this path covers, or a layout it can't match)."""
    if not _fast_applies(probs, 3):
        return None
    return _patch_fast(probs, int(patch_size), _ints(resized_hw), _ints(original_hw))


def fast_region_label_map(
    probs: torch.Tensor, region_map: torch.Tensor, original_hw: tuple[int, int]
) -> torch.Tensor | None:
    """(H, W) long labels of probs (R, K) painted by region_map (H_r, W_r) as the released region chain
    gives them, or None where that chain must run."""
    if not (_fast_applies(probs.T, 2) and region_map.device.type == "cpu" and region_map.dim() == 2):
        return None
    return _region_fast(probs, region_map, _ints(original_hw))


def _ints(hw) -> tuple[int, int]:
    return int(hw[0]), int(hw[1])


def _fast_applies(probs: torch.Tensor, ndim: int) -> bool:
    """(K, ...) float32 CPU probabilities of ``ndim`` dims, K ≥ 4, every value finite and below _MAX_ABS."""
    return (
        probs.device.type == "cpu"
        and probs.dtype == torch.float32
        and probs.dim() == ndim
        and probs.shape[0] >= _MIN_CHANNELS
        and probs.numel() > 0
        and bool(probs.abs().amax() < _MAX_ABS)
        and _aten_bilinear_is_per_channel()
    )


def _patch_fast(
    probs: torch.Tensor, patch_size: int, resized_hw: tuple[int, int], original_hw: tuple[int, int]
) -> torch.Tensor | None:
    """The released patch chain on the candidate classes only; None where a layout can't be matched."""
    _, h, w = probs.shape
    padded_hw = (h * patch_size, w * patch_size)
    cropped_hw = (min(resized_hw[0], padded_hw[0]), min(resized_hw[1], padded_hw[1]))
    if min(*padded_hw, *cropped_hw, *original_hw) <= 0:
        return None
    same_size = cropped_hw == original_hw
    with _one_thread():
        candidates, row_window, col_window = _block_candidates(
            probs,
            _patch_windows(h, padded_hw[0], cropped_hw[0], original_hw[0], same_size),
            _patch_windows(w, padded_hw[1], cropped_hw[1], original_hw[1], same_size),
        )
    step1_cl = probs.unsqueeze(0).is_contiguous(memory_format=_CL)
    crop_cl = _released_crop_is_channels_last(probs, padded_hw, cropped_hw)
    if step1_cl and patch_size & (patch_size - 1) == 0:
        with _one_thread():
            tiled = _tiled_labels(
                probs, patch_size, cropped_hw, original_hw, crop_cl, candidates, (row_window, col_window)
            )
        if tiled is not None:
            return tiled
    classes = _lane_safe(candidates.flatten(1).any(dim=1))
    return _whole_image_labels(probs, classes, padded_hw, cropped_hw, original_hw, step1_cl, crop_cl)


def _released_crop_is_channels_last(
    probs: torch.Tensor, padded_hw: tuple[int, int], cropped_hw: tuple[int, int]
) -> bool:
    """Whether the released crop was channels-last contiguous (it picks the second resize's kernel): ATen
    lays the ×patch result out as suggest_memory_format() of its input, and the crop keeps its strides."""
    num_classes, (height, width) = probs.shape[0], padded_hw
    if _suggested_layout(probs.unsqueeze(0)) == _CL:
        strides = (num_classes * height * width, 1, num_classes * width, num_classes)
    else:
        strides = (num_classes * height * width, height * width, width, 1)
    return _channels_last_contiguous((1, num_classes, *cropped_hw), strides)


def _whole_image_labels(
    probs: torch.Tensor,
    classes: torch.Tensor,
    padded_hw: tuple[int, int],
    cropped_hw: tuple[int, int],
    original_hw: tuple[int, int],
    step1_cl: bool,
    crop_cl: bool,
) -> torch.Tensor | None:
    """The released chain on ``classes``, over the whole image, the last resize a few classes at a time."""
    if cropped_hw == original_hw:

        def resize_piece(piece: slice, out: torch.Tensor | None) -> torch.Tensor | None:
            inputs = _subset_input(probs, classes[piece], step1_cl, 0)
            return None if inputs is None else _resize4d(inputs, padded_hw, out)

        return _argmax_over_pieces(resize_piece, _pieces(len(classes), padded_hw), classes, cropped_hw)
    # A crop the released chain had channels-first (generic kernel), ours whole rows of channels-last: a vector
    # of spare channels in front keeps it channels-last yet not "channels-last contiguous", so that kernel runs.
    spare = _lane_period() if step1_cl and not crop_cl and cropped_hw[1] == padded_hw[1] else 0
    inputs = _subset_input(probs, classes, step1_cl, spare)
    if inputs is None:
        return None
    cropped = _resize4d(inputs, padded_hw)[:, spare:, : cropped_hw[0], : cropped_hw[1]]

    def resize_cropped(piece: slice, out: torch.Tensor | None) -> torch.Tensor | None:
        maps = cropped[:, piece]
        if maps.is_contiguous(memory_format=_CL) != crop_cl:
            maps = maps.contiguous(memory_format=_CL if crop_cl else torch.contiguous_format)
        return _resize4d(maps, original_hw, out) if maps.is_contiguous(memory_format=_CL) == crop_cl else None

    return _argmax_over_pieces(resize_cropped, _pieces(len(classes), original_hw), classes, original_hw)


def _region_fast(probs: torch.Tensor, region_map: torch.Tensor, original_hw: tuple[int, int]) -> torch.Tensor | None:
    """The released region chain on the candidate classes only; None where a layout can't be matched."""
    resized_hw = (region_map.shape[0], region_map.shape[1])
    if min(*resized_hw, *original_hw) <= 0:
        return None
    if resized_hw == original_hw:  # same size: each pixel's values are its region's probabilities
        return probs.argmax(dim=1)[region_map]
    # The released painted map, (H_r, W_r, K) seen as (1, K, H_r, W_r), is channels-last contiguous, as are
    # ours: both resizes run ATen's channels-last kernel.
    with _one_thread():
        classes = _region_candidates(
            probs,
            region_map,
            _source_windows(resized_hw[0], original_hw[0]),
            _source_windows(resized_hw[1], original_hw[1]),
        )

    def resize_piece(piece: slice, out: torch.Tensor | None) -> torch.Tensor:
        painted = probs.index_select(1, classes[piece])[region_map].unsqueeze(0).permute(0, 3, 1, 2)
        return _resize4d(painted, original_hw, out)  # (1, c, H, W), channels-last as the released input

    return _argmax_over_pieces(resize_piece, _pieces(len(classes), original_hw), classes, original_hw)


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run many small ops on one intra-op thread (the calling thread's setting, restored after): split
    across threads they gain nothing, and on a busy machine each would wait for a descheduled helper
    thread (measured: 10× slower tiles at 2 threads with the other core busy)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _subset_input(probs: torch.Tensor, classes: torch.Tensor, channels_last: bool, spare: int) -> torch.Tensor | None:
    """(1, spare + m, h, w) probabilities of ``classes`` (after ``spare`` copies of the first ones) laid out
    as the released input was, channels-last contiguous or not; None if that layout can't be made."""
    picked = torch.cat([classes[torch.arange(spare) % len(classes)], classes]) if spare else classes
    if channels_last:
        subset = probs.permute(1, 2, 0).index_select(2, picked).unsqueeze(0).permute(0, 3, 1, 2)
    else:
        subset = probs.index_select(0, picked).unsqueeze(0)
    return subset if subset.is_contiguous(memory_format=_CL) == channels_last else None


def _pieces(num_classes: int, out_hw: tuple[int, int]) -> list[slice]:
    """Slices of a :func:`_lane_safe` class list, about _PIECE_VALUES output values each: whole vectors
    of the lane period, the remainder classes (if any) with the last vector, none under _MIN_CHANNELS."""
    period = _lane_period()
    smallest = -(-_MIN_CHANNELS // period) * period
    step = max(smallest, _PIECE_VALUES // (out_hw[0] * out_hw[1]) // period * period)
    starts = list(range(0, num_classes - num_classes % period, step)) or [0]
    if len(starts) > 1 and num_classes - starts[-1] < _MIN_CHANNELS:
        starts.pop()
    return [slice(start, end) for start, end in zip(starts, [*starts[1:], num_classes], strict=True)]


def _argmax_over_pieces(
    resize_piece: Callable[[slice, torch.Tensor | None], torch.Tensor | None],
    pieces: list[slice],
    classes: torch.Tensor,
    out_hw: tuple[int, int],
) -> torch.Tensor | None:
    """(H, W) class ids of the first maximum over ``classes``, from the (1, c, ≥H, ≥W) values of each piece
    (made into the previous piece's result where shapes allow): a later piece takes a pixel only with a
    strictly larger value, as argmax breaks ties towards the lower index."""
    best_value = best_index = values = None
    for piece in pieces:
        values = resize_piece(piece, values)
        if values is None:
            return None
        value, index = values[0, :, : out_hw[0], : out_hw[1]].max(dim=0)
        if best_value is None:
            best_value, best_index = value, index
        else:
            better = value > best_value
            best_value = torch.where(better, value, best_value)
            best_index = torch.where(better, index + piece.start, best_index)
    return classes[best_index]


def _dyadic_ratio(n_in: int, n_out: int) -> tuple[int, int] | None:
    """(a, B) with n_in / n_out = a / B in lowest terms, B a power of two, when every float32 source
    coordinate (a / B)·(y + ½) − ½ of that resize is exact; else None."""
    ratio = Fraction(n_in, n_out)
    numerator, denominator = ratio.numerator, ratio.denominator
    if denominator & (denominator - 1) or numerator * (2 * n_out + 1) + denominator >= 2**24:
        return None
    return numerator, denominator


def _axis_spans(n_patches: int, patch_size: int, n_cropped: int, n_out: int) -> list[tuple[int, ...]]:
    """Tiles along one axis: (first output, end output, first crop index, end crop index, first patch,
    last patch); one tile when the second resize of this axis can't be cut exactly.

    A power-of-two patch size makes every source coordinate s = (y + ½) / patch − ½ of the ×patch resize
    exact, so its outputs [patch·i + patch//2, patch·j + patch//2) read patches i..j only, at the weights
    they have in the whole image (the same call on patches i..j gives them); likewise a second resize by
    a / B (B a power of two) reads, for outputs [y0, y1) with y0, y1 multiples of B, only crop indices
    [y0·a/B − a, y1·a/B + a) — a call on those alone (outputs from their first·B/a) gives them exactly.
    """
    half = patch_size // 2
    if n_cropped == n_out:  # no second resize along this axis: tiles on patch boundaries
        cuts = list(range(0, n_patches - 1, _TILE_PATCHES))[1:]
        starts = [0] + [cut * patch_size + half for cut in cuts] + [n_out]
        return [
            (start, min(end, n_out), start, min(end, n_out), first, last)
            for start, end, first, last in zip(starts[:-1], starts[1:], [0, *cuts], [*cuts, n_patches - 1], strict=True)
            if start < n_out
        ]
    ratio = _dyadic_ratio(n_cropped, n_out)
    if ratio is None:
        return [(0, n_out, 0, n_cropped, 0, n_patches - 1)]
    a, denominator = ratio
    step = max(1, round(_TILE_PATCHES * patch_size / a)) * denominator
    bounds = [*range(0, n_out, step), n_out]
    if len(bounds) > 2 and n_out - bounds[-2] < step // 2:  # no thin last tile (see the H + W ≤ 128 rule)
        del bounds[-2]
    spans = []
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        first_crop, end_crop = max(0, a * start // denominator - a), min(n_cropped, a * end // denominator + a)
        first, last = max(0, (first_crop - half) // patch_size), min(n_patches - 1, -(-(end_crop - half) // patch_size))
        spans.append((start, end, first_crop, end_crop, first, last))
    return spans


def _tiled_labels(
    probs: torch.Tensor,
    patch_size: int,
    cropped_hw: tuple[int, int],
    original_hw: tuple[int, int],
    crop_cl: bool,
    candidates: torch.Tensor,
    windows: tuple[torch.Tensor, torch.Tensor],
) -> torch.Tensor | None:
    """The whole chain tile by tile (see :func:`_axis_spans`), each tile on its own candidate classes, for a
    channels-last input and a power-of-two patch size; None when one whole-image pass is cheaper (or a
    tile's second resize would run another ATen kernel)."""
    _, h, w = probs.shape
    same_size = cropped_hw == original_hw
    spans = [
        _axis_spans(n, patch_size, cropped, out)
        for n, cropped, out in zip((h, w), cropped_hw, original_hw, strict=True)
    ]
    plan, cost = [], 0
    for rows in spans[0]:
        for cols in spans[1]:
            keep = (
                candidates[
                    :,
                    int(windows[0][rows[0]]) : int(windows[0][rows[1] - 1]) + 1,
                    int(windows[1][cols[0]]) : int(windows[1][cols[1] - 1]) + 1,
                ]
                .flatten(1)
                .any(dim=1)
            )
            sizes = [
                (span[3] - span[2]) * out // cropped
                for span, cropped, out in zip((rows, cols), cropped_hw, original_hw, strict=True)
            ]  # the tile's second resize
            # ATen takes the channels-last kernel for any output with H + W ≤ 128: a tile must not cross that line.
            if not (same_size or crop_cl or sum(original_hw) <= 128 or sum(sizes) > 128):
                return None
            plan.append((rows, cols, sizes, _lane_safe(keep)))
            area = (rows[5] - rows[4] + 1) * (cols[5] - cols[4] + 1) * patch_size**2
            cost += len(plan[-1][3]) * (area + (0 if same_size else sizes[0] * sizes[1])) + _TILE_COST
    whole = len(_lane_safe(candidates.flatten(1).any(dim=1))) * (
        h * w * patch_size**2 + (0 if same_size else original_hw[0] * original_hw[1])
    )
    if len(plan) == 1 or cost >= whole:
        return None
    labels = torch.empty(original_hw, dtype=torch.long)
    for rows, cols, sizes, classes in plan:
        values = _tile_values(probs, patch_size, rows, cols, sizes, classes, None if same_size else crop_cl)
        if values is None:
            return None
        top, left = rows[2] * original_hw[0] // cropped_hw[0], cols[2] * original_hw[1] // cropped_hw[1]
        labels[rows[0] : rows[1], cols[0] : cols[1]] = classes[
            values[0, :, rows[0] - top : rows[1] - top, cols[0] - left : cols[1] - left].argmax(dim=0)
        ]
    return labels


def _tile_values(
    probs: torch.Tensor,
    patch_size: int,
    rows: tuple[int, ...],
    cols: tuple[int, ...],
    sizes: list[int],
    classes: torch.Tensor,
    crop_cl: bool | None,
) -> torch.Tensor | None:
    """(1, m, ., .) values of one tile: its crop of the ×patch resize, and (crop_cl not None) that crop's
    second resize, laid out as the released crop was (channels-last contiguous or not)."""
    top, left = rows[4] * patch_size, cols[4] * patch_size
    shape = ((rows[5] - rows[4] + 1) * patch_size, (cols[5] - cols[4] + 1) * patch_size)
    whole_rows = (cols[2] - left, cols[3] - left) == (0, shape[1])
    # A crop the released chain had channels-first (generic kernel) but ours would keep whole rows of a
    # channels-last result: a vector of spare channels in front keeps it not "channels-last contiguous".
    spare = _lane_period() if crop_cl is False and whole_rows else 0
    inputs = _subset_input(probs[:, rows[4] : rows[5] + 1, cols[4] : cols[5] + 1], classes, True, spare)
    cropped = _resize4d(inputs, shape)[:, spare:, rows[2] - top : rows[3] - top, cols[2] - left : cols[3] - left]
    if crop_cl is None:
        return cropped
    if cropped.is_contiguous(memory_format=_CL) != crop_cl:
        cropped = cropped.contiguous(memory_format=_CL if crop_cl else torch.contiguous_format)
        if cropped.is_contiguous(memory_format=_CL) != crop_cl:
            return None
    return _resize4d(cropped, (sizes[0], sizes[1]))
