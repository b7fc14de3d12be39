"""The per-image linear classifiers of RNS, trained for many test images at once (spec §4).

Each image gets a fresh ``z = x Wᵀ + b``. Stacking the images' parameters into one
(B, K, D) tensor trains them together: the images' losses are summed, so each W_i only
receives its own gradient, and AdamW is elementwise, so the result equals B separate runs.
"""

from __future__ import annotations

import math

import torch

from rns_bench.rns.config import RNSConfig
from rns_bench.rns.training_set import TrainingSet


def init_weights(num_classes: int, dim: int, seed: int) -> torch.Tensor:
    """(K, D) Kaiming-uniform (fan_in = D, relu gain) = U(±√(6/D)), as the release; b = 0."""
    bound = math.sqrt(6.0 / dim)
    generator = torch.Generator().manual_seed(seed)
    return torch.empty(num_classes, dim).uniform_(-bound, bound, generator=generator)


def _stack(sets: list[TrainingSet]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad the images' sets to a common length; padding rows get scale 0 (no gradient)."""
    length = max(len(s.features) for s in sets)

    def pad(t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.pad(t, (0, 0) * (t.ndim - 1) + (0, length - len(t)))

    features = torch.stack([pad(s.features) for s in sets])
    targets = torch.stack([pad(s.targets) for s in sets])
    scale = torch.stack([pad(s.scale) for s in sets])
    return features, targets, scale


def train_classifiers(
    sets: list[TrainingSet], seeds: list[int], config: RNSConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Train one linear classifier per training set → W (B, K, D), b (B, K)."""
    features, targets, scale = _stack(sets)
    num_classes, dim = targets.shape[-1], features.shape[-1]
    weight = torch.stack([init_weights(num_classes, dim, s) for s in seeds]).to(features)
    weight.requires_grad_(True)
    bias = torch.zeros(len(sets), num_classes, device=features.device, requires_grad=True)
    optimizer = torch.optim.AdamW(
        [weight, bias], lr=config.lr, weight_decay=config.weight_decay, betas=config.betas
    )
    # Σ_k y log y is constant in the parameters: it turns CE into KL for soft targets (S)
    # and is 0 for one-hot targets (U, F), so one expression is the loss of all three sets.
    target_entropy = torch.xlogy(targets, targets).sum(-1)
    for _ in range(config.steps):
        optimizer.zero_grad(set_to_none=True)
        logits = torch.baddbmm(bias.unsqueeze(1), features, weight.transpose(1, 2))
        per_sample = target_entropy - (targets * torch.log_softmax(logits, dim=-1)).sum(-1)
        (scale * per_sample).sum().backward()
        optimizer.step()
    return weight.detach(), bias.detach()
