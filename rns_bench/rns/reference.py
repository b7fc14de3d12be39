"""The per-image training loop as research code writes it (rns spec §4): a fresh ``nn.Linear`` initialised
as ours, ``F.cross_entropy`` on the hard-labelled samples (U, F), ``F.kl_div`` on the soft ones (S),
autograd and ``torch.optim.AdamW``. ``rns.classifier`` trains many images at once by hand and must match
it (tests); ``make perf`` times it beside ours. Slow on purpose: it is the reference, not the method."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rns_bench.rns.classifier import init_weights
from rns_bench.rns.config import RNSConfig
from rns_bench.rns.training_set import TrainingSet


def literal_training(s: TrainingSet, seed: int, config: RNSConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """One image's (K, D) weight and (K,) bias after ``config.steps`` AdamW steps on its training set."""
    layer = torch.nn.Linear(s.features.shape[1], s.targets.shape[1]).to(s.features.device)
    with torch.no_grad():
        layer.weight.copy_(init_weights(*layer.weight.shape, seed))
        layer.bias.zero_()
    optimizer = torch.optim.AdamW(
        layer.parameters(), lr=config.lr, weight_decay=config.weight_decay, betas=config.betas
    )
    hard = s.num_retrieved + s.num_fused
    labels = s.targets[:hard].argmax(1)
    for _ in range(config.steps):
        optimizer.zero_grad()
        z = layer(s.features)
        ce = F.cross_entropy(z[:hard], labels, reduction="none")
        kl = F.kl_div(F.log_softmax(z[hard:], 1), s.targets[hard:], reduction="none").sum(1)
        (s.scale * torch.cat([ce, kl])).sum().backward()
        optimizer.step()
    return layer.weight.detach(), layer.bias.detach()


def release_loop(sets: list[TrainingSet], seeds: list[int], config: RNSConfig) -> list[torch.Tensor]:
    """:func:`literal_training` of each image in turn (the released code's shape); the weights."""
    return [literal_training(s, seed, config)[0] for s, seed in zip(sets, seeds, strict=True)]
