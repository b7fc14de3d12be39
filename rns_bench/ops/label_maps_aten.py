"""What the CPU label-map path (:mod:`rns_bench.ops.label_maps_fast`) mirrors of ATen's CPU bilinear resize,
and checks of it: the resize op itself, the memory layout ATen gives a result and its crops, the vector lanes
of its channels-last kernel, and the once-per-process probe that this build behaves as assumed (spec §7).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

_CL = torch.channels_last
_MIN_CHANNELS = 4  # ATen picks its kernel differently for C ≤ 3; keep every call above that


def _resize4d(maps: torch.Tensor, size: tuple[int, int], out: torch.Tensor | None = None) -> torch.Tensor:
    """``F.interpolate(maps, size)`` bilinear, align_corners=False (the same ATen op), written into ``out``
    when that has the result's shape."""
    if out is None or out.shape != (*maps.shape[:2], *size):
        return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)
    return torch._C._nn.upsample_bilinear2d(maps, size, False, None, None, out=out)


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
