"""The per-image linear classifiers of RNS, trained for many test images at once (spec §4).

Each image gets a fresh ``z = x Wᵀ + b``. Stacking the images' parameters into one
(B, K, D) tensor trains them together: the images' losses are summed, so each W_i only
receives its own gradient, and AdamW is elementwise, so the result equals B separate runs.

A step is the same full-batch AdamW step as autograd + ``torch.optim.AdamW`` would take, with
less work (rns_bench.rns.training_set.TrainingSet): logits come from W times the R base vectors
(U rows, p_c and t_c) — not the N ≈ R + 4·C samples — and are mixed per sample; the gradient
of Σ_n scale_n · KL(y_n ‖ softmax(z_n)) is written out, ∂/∂z_n = scale_n · (softmax(z_n) − y_n)
(targets sum to 1), folded back onto the base vectors, so ∂/∂W = Gᵀ · base; the update is
torch's own fused AdamW kernel where the device has one.
"""

from __future__ import annotations

import math
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
class Stacked:
    """The images' sets padded to common lengths, indices into one flat table of logits per step:
    the B·R explicit rows (image b's row i at b·R + i), then the B·R_d derived rows (b·R_d + j, after
    B·R). Padding samples get scale 0 (no gradient); padding derived terms coefficient 0."""

    base: torch.Tensor  # (B, R, D)
    first: torch.Tensor  # (B·N,) table index of each sample's first term; second likewise
    second: torch.Tensor
    coef: torch.Tensor  # (B, N, 2)
    targets: torch.Tensor  # (B, N, K)
    scale: torch.Tensor  # (B, N, 1)
    derived_source: torch.Tensor  # (E,) flat explicit rows summed into …
    derived_target: torch.Tensor  # (E,) … flat derived rows (from 0: add B·R for the table)
    derived_coef: torch.Tensor  # (E, 1)
    derived_rows: int  # B·R_d


def _stack(sets: list[TrainingSet]) -> Stacked:
    rows = max(len(s.base) for s in sets)
    derived_rows = max(s.num_derived for s in sets)
    samples = max(len(s.targets) for s in sets)
    images = len(sets)
    base = torch.stack([_pad(s.base, rows) for s in sets])
    index = []
    for b, s in enumerate(sets):
        own = len(s.base)  # this image's derived rows start at its own explicit count
        index.append(_pad(torch.where(s.index < own, b * rows + s.index,
                                      images * rows + b * derived_rows + s.index - own), samples))
    index = torch.stack(index)
    sources = torch.cat([b * rows + s.derived_source for b, s in enumerate(sets)])
    targets = torch.cat([b * derived_rows + s.derived_target for b, s in enumerate(sets)])
    return Stacked(base=base, first=index[..., 0].reshape(-1), second=index[..., 1].reshape(-1),
                   coef=torch.stack([_pad(s.coef, samples) for s in sets]),
                   targets=torch.stack([_pad(s.targets, samples) for s in sets]),
                   scale=torch.stack([_pad(s.scale, samples) for s in sets]).unsqueeze(-1),
                   derived_source=sources, derived_target=targets,
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
    st = _stack(sets)
    images, rows, dim = st.base.shape
    num_classes = st.targets.shape[-1]
    weight = torch.stack([init_weights(num_classes, dim, s) for s in seeds]).to(st.base)
    bias = torch.zeros(images, num_classes, device=st.base.device, dtype=st.base.dtype)
    weight.grad, bias.grad = torch.empty_like(weight), torch.empty_like(bias)
    optimizer = adamw([weight, bias], config)
    explicit = images * rows
    coef_first, coef_second = st.coef[..., :1], st.coef[..., 1:]
    table_grad = st.base.new_zeros(explicit + st.derived_rows, num_classes)
    derived_logits = st.base.new_zeros(st.derived_rows, num_classes)
    with torch.no_grad():
        for _ in range(config.steps):
            explicit_logits = torch.bmm(st.base, weight.transpose(1, 2)).view(explicit, num_classes)
            derived_logits.zero_()
            derived_logits.index_add_(0, st.derived_target, st.derived_coef * explicit_logits[st.derived_source])
            table = torch.cat([explicit_logits, derived_logits])
            logits = (coef_first * table[st.first].view_as(st.targets)
                      + coef_second * table[st.second].view_as(st.targets) + bias.unsqueeze(1))
            grad_logits = st.scale * (torch.softmax(logits, dim=-1) - st.targets)  # (B, N, K)
            table_grad.zero_()
            table_grad.index_add_(0, st.first, (coef_first * grad_logits).view(-1, num_classes))
            table_grad.index_add_(0, st.second, (coef_second * grad_logits).view(-1, num_classes))
            explicit_grad = table_grad[:explicit]
            explicit_grad.index_add_(0, st.derived_source, st.derived_coef * table_grad[explicit + st.derived_target])
            torch.bmm(explicit_grad.view(images, rows, num_classes).transpose(1, 2), st.base, out=weight.grad)
            torch.sum(grad_logits, dim=1, out=bias.grad)
            optimizer.step()
    return weight.detach(), bias.detach()
