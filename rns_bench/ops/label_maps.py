"""Query probabilities → label map at the original resolution (rns spec §7, mmseg conventions).

The chain is the released one: ``F.interpolate`` bilinear (align_corners=False), crop, bilinear, argmax.
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

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from rns_bench.core.atomic_io import atomic_target, label_png_array

_CL = torch.channels_last
# Two float32 bilinear passes move a value by ≈ 10 ulps of the largest |probability| (≈ 6e-7 of it); the
# margin is far above that, and above subnormal and flush-to-zero errors.
_REL_MARGIN = 1e-4
_ABS_MARGIN = 1e-30
_MAX_ABS = 1e30  # larger (or non-finite) probabilities: sums may overflow, the released chain runs
_MIN_CHANNELS = 4  # ATen picks its kernel differently for C ≤ 3; keep every call above that
_TILE_PATCHES = 4  # tiles of 4 × 4 patches: small enough to drop most classes, large enough to amortise a call
_TILE_COST = 100_000  # one tile's fixed cost (≈ 0.2 ms), in output pixels × classes
_PIECE_VALUES = 64 * 2**20  # classes per call: about 256 MB of float32 output, in one reused buffer


def _bilinear(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(maps.unsqueeze(0), size=size, mode="bilinear", align_corners=False).squeeze(0)


def _resize4d(maps: torch.Tensor, size: tuple[int, int], out: torch.Tensor | None = None) -> torch.Tensor:
    """``F.interpolate(maps, size)`` bilinear, align_corners=False (the same ATen op), written into ``out``
    when that has the result's shape."""
    if out is None or out.shape != (*maps.shape[:2], *size):
        return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)
    return torch._C._nn.upsample_bilinear2d(maps, size, False, None, None, out=out)


def _released_patch_label_map(
    probs: torch.Tensor, patch_size: int, resized_hw: tuple[int, int], original_hw: tuple[int, int]
) -> torch.Tensor:
    """The released chain, step by step (the GPU path, and what the CPU path equals)."""
    _, h, w = probs.shape
    padded = _bilinear(probs, (h * patch_size, w * patch_size))
    cropped = padded[:, : resized_hw[0], : resized_hw[1]]
    return _bilinear(cropped, tuple(original_hw)).argmax(dim=0)


def _released_region_label_map(
    probs: torch.Tensor, region_map: torch.Tensor, original_hw: tuple[int, int]
) -> torch.Tensor:
    """The released region chain: paint, bilinear, argmax."""
    painted = probs[region_map].permute(2, 0, 1)  # (K, H_r, W_r)
    return _bilinear(painted, tuple(original_hw)).argmax(dim=0)


def patch_probs_to_label_map(
    probs: torch.Tensor, patch_size: int, resized_hw: tuple[int, int], original_hw: tuple[int, int]
) -> torch.Tensor:
    """probs (K, h, w) on the patch grid of the padded resized image → (H, W) long labels.

    Bilinear ×patch_size to the padded size, crop to the resized image, bilinear to the
    original size, argmax (align_corners=False throughout, as mmseg).
    """
    with torch.no_grad():  # a label map carries no gradient (and out= buffers refuse autograd)
        fast = (
            _patch_fast(probs, int(patch_size), _ints(resized_hw), _ints(original_hw))
            if _fast_applies(probs, 3)
            else None
        )
    return fast if fast is not None else _released_patch_label_map(probs, patch_size, resized_hw, original_hw)


def region_probs_to_label_map(
    probs: torch.Tensor, region_map: torch.Tensor, original_hw: tuple[int, int]
) -> torch.Tensor:
    """probs (R, K) per region, region_map (H_r, W_r) ids 0..R-1 at the resized resolution
    → (H, W) long labels: paint, bilinear to the original size, argmax."""
    with torch.no_grad():
        fast = None
        if _fast_applies(probs.T, 2) and region_map.device.type == "cpu" and region_map.dim() == 2:
            fast = _region_fast(probs, region_map, _ints(original_hw))
    return fast if fast is not None else _released_region_label_map(probs, region_map, original_hw)


# ------------------------------------------------------------------------------------ the CPU path
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


def _suggested_layout(maps: torch.Tensor) -> torch.memory_format:
    """ATen's ``Tensor.suggest_memory_format()`` of a 4-d tensor (c10's is_channels_last_strides_2d: strides
    non-decreasing in C, W, H, N order, ambiguous cases channels-first), the layout of its resize."""
    sizes, strides = maps.shape, maps.stride()
    if strides[1] == 0:
        return torch.contiguous_format
    smallest = 0
    for dim in (1, 3, 2, 0):
        if sizes[dim] == 0 or strides[dim] < smallest or (dim == 0 and smallest == strides[1]):
            return torch.contiguous_format
        smallest = strides[dim] * max(sizes[dim], 1)
    return _CL


def _channels_last_contiguous(sizes: tuple[int, ...], strides: tuple[int, ...]) -> bool:
    """ATen's ``is_contiguous(memory_format=torch.channels_last)`` of a 4-d tensor of these sizes and strides
    (c10's compute_channels_last_contiguous_2d), without making one."""
    expected = 1
    for dim in (1, 3, 2, 0):
        if sizes[dim] != 1:
            if strides[dim] != expected:
                return False
            expected *= sizes[dim]
    return True


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


# --------------------------------------------------------------------------- candidate classes
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


def _lane_safe(keep: torch.Tensor) -> torch.Tensor:
    """Ascending ids of the classes to interpolate: those in ``keep``, the lowest others up to whole vectors,
    and, if one of the released call's remainder classes is kept, all of them.

    ATen's channels-last kernel rounds the last K mod P channels (P: the vector width) unlike the others,
    so each class must sit in the same kind of lane, at the same place, as in the released K-channel call;
    and a call with C ≤ 3 channels may run another kernel altogether. Extra classes are harmless."""
    period = _lane_period()
    num_classes = keep.shape[0]
    tail_start = num_classes - num_classes % period
    keep = keep.clone()
    if bool(keep[tail_start:].any()):
        keep[tail_start:] = True
    head = int(keep[:tail_start].sum())
    want = -(-max(head, _MIN_CHANNELS - int(keep[tail_start:].sum())) // period) * period
    keep[torch.nonzero(~keep[:tail_start]).squeeze(1)[: want - head]] = True
    return torch.nonzero(keep).squeeze(1)


# ---------------------------------------------------------------- what the fast path assumes of ATen
@functools.cache
def _lane_period() -> int:
    """P such that ATen's channels-last bilinear rounds channels [0, C - C mod P) one way and the rest
    (the remainder loop) possibly another, for every C: the smallest that fits this build (8 on the
    AVX-512 build tested), or 0 when none does. Probed once per process."""
    field = torch.rand(1, 1, 9, 13, generator=torch.Generator().manual_seed(0))

    def run(channels: int) -> torch.Tensor:
        maps = field.expand(1, channels, 9, 13).contiguous(memory_format=_CL)
        return _resize4d(maps, (8, 130))[0]  # H + W > 128: the kernel follows the layout

    vector_lanes = run(64)[0]
    agrees = [torch.tensor([torch.equal(plane, vector_lanes) for plane in run(channels)]) for channels in range(1, 81)]
    for period in (1, 2, 4, 8, 16, 32, 64):
        if all(bool(same[: len(same) - len(same) % period].all()) for same in agrees):
            return period
    return 0


@functools.cache
def _aten_bilinear_is_per_channel() -> bool:
    """Whether this build's CPU bilinear (both kernels) gives each channel the same float32 values whatever
    the other channels are (given the lanes of :func:`_lane_safe`) and whatever the memory layout within
    one kernel, and maps to the same size exactly. Checked once per process on random data; where it
    fails (another CPU's build), every label map takes the released chain."""
    if _lane_period() == 0:
        return False
    generator = torch.Generator().manual_seed(0)
    source = torch.rand(1, 37, 9, 13, generator=generator)
    channels_last = source.contiguous(memory_format=_CL)
    lanes = _lane_period()
    picks = [_lane_safe(torch.rand(37, generator=generator) < fraction) for fraction in (0.1, 0.3, 0.6)]
    for size in ((150, 7), (60, 208), (5, 6)):  # H + W > 128 picks the kernel by layout; ≤ 128: channels-last
        full_cl, full = _resize4d(channels_last, size), _resize4d(source, size)
        for pick in picks:
            if not (
                torch.equal(_resize4d(channels_last[:, pick].contiguous(memory_format=_CL), size), full_cl[:, pick])
                and torch.equal(_resize4d(source[:, pick].contiguous(), size), full[:, pick])
            ):
                return False
        spare = torch.cat([channels_last[:, :lanes], channels_last], dim=1).contiguous(memory_format=_CL)[:, lanes:]
        if not torch.equal(_resize4d(spare, size), full):  # generic kernel, channels-last strides
            return False
    wide = torch.rand(1, 5, 70, 80, generator=generator)
    if not all(
        torch.equal(_resize4d(maps, maps.shape[-2:]), maps)
        for maps in (source, channels_last, wide, wide.contiguous(memory_format=_CL))
    ):
        return False
    view = source[0].reshape(37, -1).T.contiguous().T.reshape(1, 37, 9, 13)  # a method's (N, K) → (K, h, w) view
    resized = [(maps, _resize4d(maps, (20, 30))) for maps in (source, channels_last, view, channels_last[:, 1:])]
    crops = [out[..., :rows, :cols] for _, out in resized for rows in (1, 19, 20) for cols in (1, 29, 30)]
    return all(
        out.stride() == torch.empty(out.shape, memory_format=_suggested_layout(maps)).stride() for maps, out in resized
    ) and all(
        _channels_last_contiguous(crop.shape, crop.stride()) == crop.is_contiguous(memory_format=_CL) for crop in crops
    )


def voc_colormap() -> np.ndarray:
    """(256, 3) uint8 PASCAL VOC palette (bit-interleaved class index; 255 → (224, 224, 192))."""
    colours = np.zeros((256, 3), np.uint8)
    for index in range(256):
        value, r, g, b = index, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= (value & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
        colours[index] = (r, g, b)
    return colours


def save_palette_png(path: Path, label: np.ndarray) -> None:
    """Write an (H, W) label map of class ids 0..255 as a VOC-palette PNG (mode "P": the pixel values
    stay the class ids, viewers show colours), atomically."""
    image = Image.fromarray(label_png_array(label, path), mode="L").convert("P")
    image.putpalette(voc_colormap().ravel().tolist())
    with atomic_target(Path(path)) as tmp:
        image.save(tmp, format="PNG")
