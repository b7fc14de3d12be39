"""The per-image linear classifiers of RNS, trained for many test images at once (spec §4).

Each image gets a fresh ``z = x Wᵀ + b``. Stacking the images' parameters into one
(B, K, D) tensor trains them together: the images' losses are summed, so each W_i only
receives its own gradient, and AdamW is elementwise, so the result equals B separate runs.

A step is the same full-batch AdamW step as autograd + ``torch.optim.AdamW`` would take, with
less work (rns_bench.rns.training_set.TrainingSet): logits come from W times the R base vectors
(U rows, t_c, p_c unless it is a sum of U rows), not the N ≈ R + 4·C samples. The U samples are
base rows; the fused (F) and pseudo-labelled (S) samples are dense (class × α) blocks mixed from
their class's two rows with fixed coefficients. The gradient of Σ_n scale_n · KL(y_n ‖ softmax(z_n))
is written out, ∂/∂z_n = scale_n · (softmax(z_n) − y_n) (targets sum to 1), folded back onto the
base rows, so ∂/∂W = Gᵀ · base; the update is torch's own fused AdamW kernel where the device has one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from rns_bench.rns.config import RNSConfig
from rns_bench.rns.training_set import TrainingSet


def init_weights(num_classes: int, dim: int, seed: int) -> torch.Tensor:
    """(K, D) Kaiming-uniform (fan_in = D, relu gain) = U(±√(6/D)), as the release; b = 0."""
    bound = math.sqrt(6.0 / dim)
    generator = torch.Generator().manual_seed(seed)
    return torch.empty(num_classes, dim).uniform_(-bound, bound, generator=generator)


def _pad(t: torch.Tensor, length: int) -> torch.Tensor:
    return torch.nn.functional.pad(t, (0, 0) * (t.ndim - 1) + (0, length - len(t)))


@dataclass(frozen=True)
class Section:
    """One kind of mixed samples (F or S) of every image, dense: (B, C, A) samples of C classes × A
    weights α, each coef[..., 0]·table[first] + coef[..., 1]·table[second] (first / second: (B·C,)
    flat table indices, one per class)."""

    first: torch.Tensor
    second: torch.Tensor
    coef: torch.Tensor  # (B, C, A, 2)
    targets: torch.Tensor  # (B, C, A, K)
    scale: torch.Tensor  # (B, C, A, 1)


@dataclass(frozen=True)
class Stacked:
    """The images' sets, each section padded to a common length so that every step is dense tensor
    work: base (B, R, D) = [U rows (M) | F rows | S rows] per image; the U samples are the first M
    base rows themselves; F and S are :class:`Section` s. Flat table indices: image b's base row i at
    b·R + i, its derived row j at B·R + b·R_d + j. Padding samples get scale 0 (no gradient) and
    coefficient 0, padding derived terms coefficient 0."""

    base: torch.Tensor
    u_targets: torch.Tensor  # (B, M, K)
    u_scale: torch.Tensor  # (B, M, 1)
    sections: tuple[Section, ...]
    derived_source: torch.Tensor  # (E,) flat explicit rows summed into …
    derived_target: torch.Tensor  # (E,) … flat derived rows (from 0: add B·R for the table)
    derived_coef: torch.Tensor  # (E, 1)
    derived_rows: int  # B·R_d


def _layout(s: TrainingSet, alphas: int) -> tuple[int, int, int, int]:
    """(M, C_F, C_S, F base rows) of one image's set."""
    classes_f = s.num_fused // alphas if alphas else 0
    classes_s = s.num_pseudo // alphas if alphas else 0
    return s.num_retrieved, classes_f, classes_s, len(s.base) - s.num_retrieved - 2 * classes_s


def _stack(sets: list[TrainingSet], alphas: int) -> Stacked:
    layouts = [_layout(s, alphas) for s in sets]
    m, cf, cs, rf = (max(column) for column in zip(*layouts, strict=True))
    rows, derived_rows, images = m + rf + 2 * cs, max(s.num_derived for s in sets), len(sets)
    bases, remaps = [], []
    for b, (s, (mb, _, _, rfb)) in enumerate(zip(sets, layouts, strict=True)):
        # The image's explicit rows go to their section of the padded base; derived rows after B·R.
        own = torch.arange(len(s.base), device=s.base.device)
        position = torch.where(own < mb, own, torch.where(own < mb + rfb, m + own - mb, m + rf + own - mb - rfb))
        derived = images * rows + b * derived_rows + torch.arange(s.num_derived, device=s.base.device)
        remaps.append(torch.cat([b * rows + position, derived]))
        base = s.base.new_zeros(rows, s.base.shape[1])
        base[position] = s.base
        bases.append(base)

    def section(spans: list[tuple[int, int]], width: int) -> Section:
        """The F or S samples of every image: ``spans`` (first sample, classes) per image, padded to ``width``."""
        firsts, seconds, coefs, targets, scales = [], [], [], [], []
        for s, remap, (start, count) in zip(sets, remaps, spans, strict=True):
            part = slice(start, start + count * alphas)
            index = remap[s.index[part]].view(count, alphas, 2)[:, 0]  # one (first, second) per class
            firsts.append(_pad(index[:, 0], width))
            seconds.append(_pad(index[:, 1], width))
            coefs.append(_pad(s.coef[part].view(count, alphas, 2), width))
            targets.append(_pad(s.targets[part].view(count, alphas, s.targets.shape[1]), width))
            scales.append(_pad(s.scale[part].view(count, alphas), width))
        return Section(torch.cat(firsts), torch.cat(seconds), torch.stack(coefs), torch.stack(targets),
                       torch.stack(scales).unsqueeze(-1))

    fused = section([(mb, cfb) for mb, cfb, _, _ in layouts], cf)
    pseudo = section([(mb + s.num_fused, csb) for s, (mb, _, csb, _) in zip(sets, layouts, strict=True)], cs)
    return Stacked(
        base=torch.stack(bases),
        u_targets=torch.stack([_pad(s.targets[: s.num_retrieved], m) for s in sets]),
        u_scale=torch.stack([_pad(s.scale[: s.num_retrieved], m) for s in sets]).unsqueeze(-1),
        sections=tuple(x for x in (fused, pseudo) if x.coef.shape[1]),
        derived_source=torch.cat([r[s.derived_source] for s, r in zip(sets, remaps, strict=True)]),
        derived_target=torch.cat([b * derived_rows + s.derived_target for b, s in enumerate(sets)]),
        derived_coef=torch.cat([s.derived_coef for s in sets]).unsqueeze(1),
        derived_rows=images * derived_rows)


def adamw(params: list[torch.Tensor], config: RNSConfig) -> torch.optim.AdamW:
    """``torch.optim.AdamW`` with the spec's settings, on its fused kernel where the device has one."""
    fused = all(p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, betas=config.betas,
                             fused=fused or None)


def train_classifiers(
    sets: list[TrainingSet], seeds: list[int], config: RNSConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Train one linear classifier per training set → W (B, K, D), b (B, K)."""
    st = _stack(sets, len(config.alphas))
    images, rows, dim = st.base.shape
    num_classes, retrieved = st.u_targets.shape[-1], st.u_targets.shape[1]
    weight = torch.stack([init_weights(num_classes, dim, s) for s in seeds]).to(st.base)
    bias = torch.zeros(images, num_classes, device=st.base.device, dtype=st.base.dtype)
    weight.grad, bias.grad = torch.empty_like(weight), torch.empty_like(bias)
    optimizer = adamw([weight, bias], config)
    explicit = images * rows
    table_grad = st.base.new_zeros(explicit + st.derived_rows, num_classes)
    derived_logits = st.base.new_zeros(st.derived_rows, num_classes)
    low = torch.bfloat16 if config.matmul_precision == "bf16" else None
    base = st.base.to(low) if low else st.base  # the bf16 operand, cast once
    with torch.no_grad(), matmul_precision(config.matmul_precision):
        for _ in range(config.steps):
            if low:
                explicit_logits = torch.bmm(base, weight.to(low).transpose(1, 2)).float()  # (B, R, K)
            else:
                explicit_logits = torch.bmm(base, weight.transpose(1, 2))  # (B, R, K)
            flat = explicit_logits.view(explicit, num_classes)
            derived_logits.zero_()
            derived_logits.index_add_(0, st.derived_target, st.derived_coef * flat[st.derived_source])
            table = torch.cat([flat, derived_logits])
            # ∂/∂z of Σ scale · KL(y ‖ softmax(z)) is scale · (softmax(z) − y): targets sum to 1.
            u_grad = st.u_scale * (torch.softmax(explicit_logits[:, :retrieved] + bias.unsqueeze(1), -1)
                                   - st.u_targets)
            bias_grad = u_grad.sum(1)
            table_grad.zero_()
            table_grad[:explicit].view(images, rows, num_classes)[:, :retrieved] = u_grad
            for part in st.sections:
                first = table[part.first].view(images, -1, 1, num_classes)
                second = table[part.second].view(images, -1, 1, num_classes)
                logits = torch.addcmul(torch.addcmul(bias.view(images, 1, 1, -1), part.coef[..., :1], first),
                                       part.coef[..., 1:], second)  # (B, C, A, K)
                grad = torch.softmax(logits, dim=-1).sub_(part.targets).mul_(part.scale)
                bias_grad += grad.sum((1, 2))
                table_grad.index_add_(0, part.first, (part.coef[..., :1] * grad).sum(2).view(-1, num_classes))
                table_grad.index_add_(0, part.second, (part.coef[..., 1:] * grad).sum(2).view(-1, num_classes))
            explicit_grad = table_grad[:explicit]
            explicit_grad.index_add_(0, st.derived_source, st.derived_coef * table_grad[explicit + st.derived_target])
            if low:
                weight.grad.copy_(torch.bmm(explicit_grad.view(images, rows, num_classes).transpose(1, 2).to(low),
                                            base))
            else:
                torch.bmm(explicit_grad.view(images, rows, num_classes).transpose(1, 2), base, out=weight.grad)
            bias.grad.copy_(bias_grad)
            optimizer.step()
    return weight.detach(), bias.detach()


@contextmanager
def matmul_precision(precision: str) -> Iterator[None]:
    """torch's float32 matmul precision for the block ("tf32" → "high"), restored after it."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high" if precision == "tf32" else "highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)
