"""The per-image training set of RNS: retrieved rows U, fused features F, pseudo-labels S.

rns spec §2 (relevance weights, zero-shot labels) and §3 (the three sets), and the sample
weights of §4. Everything here is for one test image; the classifier trains many at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rns_bench.rns.config import RNSConfig
from rns_bench.rns.retrieval import retrieve_rows
from rns_bench.support.text import TextSupport


@dataclass
class TrainingSet:
    """features (N, D); targets (N, K) one-hot or soft; scale (N,) = β_set · w_n / N.

    ``scale`` folds the set weight β, the normalised relevance weight w_n and the 1/N of the
    mean (spec §4), so the image's loss is Σ_n scale_n · KL(target_n ‖ softmax(z_n)), which
    equals the cross-entropy for one-hot targets.
    """

    features: torch.Tensor
    targets: torch.Tensor
    scale: torch.Tensor
    num_retrieved: int
    num_fused: int
    num_pseudo: int


def relevance_weights(
    queries: torch.Tensor, text: TextSupport | None, num_classes: int, config: RNSConfig
) -> torch.Tensor:
    """(K,) r_c = softmax_c(τ · g·t_c) with g the normalised mean query (spec §2); uniform when
    text is off (``text`` None), any name is missing, or the ablation switches them off."""
    if text is None or not text.complete or not config.relevance_weights:
        return queries.new_full((num_classes,), 1.0 / num_classes)
    image_feature = F.normalize(queries.mean(dim=0), dim=-1)
    return torch.softmax(config.tau * (text.features @ image_feature), dim=0)


def fuse(visual: torch.Tensor, text: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
    """(C, D) visual, (C, D) text, (A,) alphas → (C, A, D) normalize(α·v + (1−α)·t)."""
    a = alphas.view(1, -1, 1)
    return F.normalize(a * visual.unsqueeze(1) + (1 - a) * text.unsqueeze(1), dim=-1)


def build_training_set(
    queries: torch.Tensor,
    bank_features: torch.Tensor,
    bank_labels: torch.Tensor,
    prototypes: torch.Tensor,
    supported: torch.Tensor,
    text: TextSupport | None,
    config: RNSConfig,
    generator: torch.Generator,
) -> TrainingSet:
    """Assemble U, F and S for one test image (queries (N_q, D)), spec §3–§4.

    ``use_text=False`` drops F and makes r uniform; S still reads the text (zero-shot ŷ, fused h,
    soft targets π) unless ``text_free`` — the release's "w/o text" and the paper's (spec §5).
    ``text`` None means there is no text at all: neither F nor S.
    """
    num_classes = prototypes.shape[0]
    device = queries.device
    use_text = text is not None and config.use_text
    pseudo_text = text is not None and not config.text_free
    alphas = torch.tensor(config.alphas, device=device)

    # U: union of every query's k nearest bank rows (§3.1).
    rows = retrieve_rows(queries, bank_features, bank_labels, config.k, config.retrieval, generator)
    u_feats, u_labels = bank_features[rows], bank_labels[rows]

    # F: each retrieved class fused with its text at every α (§3.2).
    retrieved_classes = torch.unique(u_labels)
    if use_text and len(alphas):
        f_feats = fuse(prototypes[retrieved_classes], text.features[retrieved_classes], alphas).flatten(0, 1)
        f_labels = retrieved_classes.repeat_interleave(len(alphas))
    else:
        f_feats, f_labels = queries.new_empty(0, queries.shape[1]), retrieved_classes.new_empty(0)

    # S: pseudo-labelled features for zero-shot-predicted classes without visual support (§3.3).
    s_feats, s_targets = queries.new_empty(0, queries.shape[1]), queries.new_empty(0, num_classes)
    if pseudo_text and config.pseudo_label_loss and len(alphas):
        zero_shot = (queries @ text.features.T).argmax(dim=1)
        unsupported = [c for c in torch.unique(zero_shot).tolist() if not bool(supported[c])]
        if unsupported:
            classes = torch.tensor(unsupported, device=device)
            means = torch.stack([queries[zero_shot == c].mean(dim=0) for c in unsupported])
            s_feats = fuse(F.normalize(means, dim=-1), text.features[classes], alphas).flatten(0, 1)
            s_targets = torch.softmax(config.pseudo_target_scale * s_feats @ text.features.T, dim=1)

    hard_labels = torch.cat([u_labels, f_labels])
    targets = torch.cat([F.one_hot(hard_labels, num_classes).to(queries.dtype), s_targets])
    features = torch.cat([u_feats, f_feats, s_feats])

    # Sample weights (§4): w_n = r_label(n) / Σ w, set factor β, then the 1/N of the mean.
    relevance = relevance_weights(queries, text if use_text else None, num_classes, config)
    weights = relevance[targets.argmax(dim=1)]
    weights = weights / weights.sum()
    beta = torch.cat([
        torch.ones(len(u_labels), device=device),
        torch.full((len(f_labels),), config.beta_f, device=device),
        torch.full((len(s_feats),), config.beta_p, device=device),
    ])
    scale = beta * weights / len(features)
    return TrainingSet(features, targets, scale, len(u_labels), len(f_labels), len(s_feats))
