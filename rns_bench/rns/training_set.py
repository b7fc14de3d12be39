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
    """The N samples, factored: sample n is ``coef[n, 0]·table[index[n, 0]] + coef[n, 1]·table[index[n, 1]]``.

    table = the R explicit ``base`` rows — the retrieved rows U, t_c (and p_c) of every fused class,
    s_c and t_c of every pseudo-labelled class — then the derived rows: a prototype p_c whose every
    bank row was retrieved is Σ_i v_i / ‖Σ_i v_i‖ over U rows already in the table
    (``derived_coef[e]·base[derived_source[e]]`` summed into derived row ``derived_target[e]``).
    A fused row normalize(α·p + (1−α)·t) is (α/n)·p + ((1−α)/n)·t with n = ‖α·p + (1−α)·t‖, so its
    logits are (α/n)·(W p) + ((1−α)/n)·(W t): the classifier multiplies W by at most 2 vectors per
    class instead of |A| = 6 rows, and none for a derived p_c (U rows: coefficients (1, 0)).
    targets (N, K) one-hot or soft; scale (N,) = β_set · w_n / N, folding the set weight β, the
    normalised relevance weight w_n and the 1/N of the mean (spec §4), so the image's loss is
    Σ_n scale_n · KL(target_n ‖ softmax(z_n)), which equals the cross-entropy for one-hot targets.
    """

    base: torch.Tensor
    index: torch.Tensor
    coef: torch.Tensor
    targets: torch.Tensor
    scale: torch.Tensor
    num_retrieved: int
    num_fused: int
    num_pseudo: int
    derived_source: torch.Tensor
    derived_target: torch.Tensor
    derived_coef: torch.Tensor
    num_derived: int
    # (R,) what each base row is, so that images trained together can share it: a bank row's index,
    # then n_bank + c for t_c and n_bank + K + c for p_c (the same vector in every image of one
    # ``training_sets`` call); −1 for a row of this image only (s_c). None: nothing shared.
    keys: torch.Tensor | None = None

    def table(self) -> torch.Tensor:
        """(R + R_derived, D) the explicit rows, then the derived ones."""
        derived = self.base.new_zeros(self.num_derived, self.base.shape[1])
        derived.index_add_(0, self.derived_target, self.derived_coef.unsqueeze(1) * self.base[self.derived_source])
        return torch.cat([self.base, derived])

    @property
    def features(self) -> torch.Tensor:
        """(N, D) the samples themselves (for tests and diagnostics; training uses the factors)."""
        table = self.table()
        return self.coef[:, :1] * table[self.index[:, 0]] + self.coef[:, 1:] * table[self.index[:, 1]]


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


def fuse_coefficients(visual: torch.Tensor, text: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
    """(C, A, 2) the coefficients (α/n, (1−α)/n) with which normalize(α·v + (1−α)·t) = α/n·v + (1−α)/n·t
    (n clamped as ``F.normalize`` clamps it)."""
    a = alphas.view(1, -1, 1)
    norms = (a * visual.unsqueeze(1) + (1 - a) * text.unsqueeze(1)).norm(dim=-1).clamp_min(1e-12)  # (C, A)
    return torch.stack([alphas.view(1, -1) / norms, (1 - alphas).view(1, -1) / norms], dim=-1)


def _fused_part(
    visual: torch.Tensor, text: torch.Tensor, alphas: torch.Tensor, offset: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Base rows [v_1, t_1, v_2, t_2, …] (2C, D) and, per (class, α) sample, its (C·A, 2) indices
    (from ``offset``) and coefficients."""
    classes = len(visual)
    base = torch.stack([visual, text], dim=1).flatten(0, 1)
    first = offset + 2 * torch.arange(classes, device=visual.device).repeat_interleave(len(alphas))
    index = torch.stack([first, first + 1], dim=1)
    return base, index, fuse_coefficients(visual, text, alphas).flatten(0, 1)


def _fused_classes(
    classes: torch.Tensor,
    u_feats: torch.Tensor,
    u_labels: torch.Tensor,
    bank_labels: torch.Tensor,
    prototypes: torch.Tensor,
    text: torch.Tensor,
    alphas: torch.Tensor,
    offset: int,
):
    """F of the retrieved ``classes`` (C,): explicit rows [t_c for every class; p_c for the classes with
    a bank row outside U] from ``offset``, the (C·A, 2) sample indices and coefficients, and the
    derived prototypes (source U positions, derived ids, coefficients, count). A derived p_c's index
    is −1 − its id until the explicit rows are counted."""
    num_classes, count = prototypes.shape[0], len(classes)
    derivable = (torch.bincount(u_labels, minlength=num_classes) == torch.bincount(bank_labels, minlength=num_classes))[
        classes
    ]  # all of c's rows are in U
    explicit = classes[~derivable]
    p_index = torch.empty(count, dtype=torch.long, device=classes.device)
    p_index[~derivable] = offset + count + torch.arange(len(explicit), device=classes.device)
    p_index[derivable] = -1 - torch.arange(int(derivable.sum()), device=classes.device)
    t_index = offset + torch.arange(count, device=classes.device)
    derived_id = torch.full((num_classes,), -1, dtype=torch.long, device=classes.device)
    derived_id[classes[derivable]] = torch.arange(int(derivable.sum()), device=classes.device)
    source = torch.nonzero(derived_id[u_labels] >= 0).squeeze(1)
    target = derived_id[u_labels[source]]
    sums = u_feats.new_zeros(int(derivable.sum()), u_feats.shape[1]).index_add_(0, target, u_feats[source])
    derived_coef = 1.0 / sums.norm(dim=1).clamp_min(1e-12)[target]
    base = torch.cat([text[classes], prototypes[explicit]])
    keys = torch.cat([len(bank_labels) + classes, len(bank_labels) + num_classes + explicit])
    index = torch.stack([p_index, t_index], dim=1).repeat_interleave(len(alphas), dim=0)
    coef = fuse_coefficients(prototypes[classes], text[classes], alphas).flatten(0, 1)
    return base, keys, index, coef, (source, target, derived_coef, int(derivable.sum()))


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

    dim = queries.shape[1]
    empty_index, empty_coef = torch.empty(0, 2, dtype=torch.long, device=device), queries.new_empty(0, 2)

    # U: union of every query's k nearest bank rows (§3.1).
    rows, u_feats, u_labels, u_index, u_coef = _retrieved(queries, bank_features, bank_labels, config, generator)

    # F: each retrieved class fused with its text at every α (§3.2).
    retrieved_classes = torch.unique(u_labels)
    f_base, f_index, f_coef = queries.new_empty(0, dim), empty_index, empty_coef
    f_keys = s_keys = rows.new_empty(0)
    f_labels = retrieved_classes.new_empty(0)
    derived = (rows.new_empty(0), rows.new_empty(0), queries.new_empty(0), 0)
    if use_text and len(alphas):
        f_base, f_keys, f_index, f_coef, derived = _fused_classes(
            retrieved_classes, u_feats, u_labels, bank_labels, prototypes, text.features, alphas, len(rows)
        )
        f_labels = retrieved_classes.repeat_interleave(len(alphas))

    # S: pseudo-labelled features for zero-shot-predicted classes without visual support (§3.3).
    s_base, s_index, s_coef = queries.new_empty(0, dim), empty_index, empty_coef
    s_targets = queries.new_empty(0, num_classes)
    if pseudo_text and config.pseudo_label_loss and len(alphas):
        pseudo = _pseudo_labelled(queries, supported, text, alphas, config, len(rows) + len(f_base), len(bank_labels))
        if pseudo is not None:
            s_base, s_index, s_coef, s_keys, s_targets = pseudo

    hard_labels = torch.cat([u_labels, f_labels])
    targets = torch.cat([F.one_hot(hard_labels, num_classes).to(queries.dtype), s_targets])
    base = torch.cat([u_feats, f_base, s_base])
    index, coef = torch.cat([u_index, f_index, s_index]), torch.cat([u_coef, f_coef, s_coef])
    index = torch.where(index < 0, len(base) - 1 - index, index)  # derived p_c: after the explicit rows

    scale = _sample_scale(queries, text if use_text else None, targets, len(u_labels), len(f_labels), config)
    keys = torch.cat([rows, f_keys, s_keys])
    return TrainingSet(
        base, index, coef, targets, scale, len(u_labels), len(f_labels), len(s_targets), *derived, keys=keys
    )


def _retrieved(
    queries: torch.Tensor,
    bank_features: torch.Tensor,
    bank_labels: torch.Tensor,
    config: RNSConfig,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """U (§3.1): the retrieved bank rows (N_u,), their features and labels, and the samples' (N_u, 2)
    indices and coefficients (each sample one table row, coefficients (1, 0))."""
    device = queries.device
    rows = retrieve_rows(queries, bank_features, bank_labels, config.k, config.retrieval, generator)
    u_feats, u_labels = bank_features[rows], bank_labels[rows]
    u_index = torch.arange(len(rows), device=device).unsqueeze(1).expand(-1, 2)
    u_coef = torch.tensor([1.0, 0.0], dtype=queries.dtype, device=device).expand(len(rows), 2)
    return rows, u_feats, u_labels, u_index, u_coef


def _pseudo_labelled(
    queries: torch.Tensor,
    supported: torch.Tensor,
    text: TextSupport,
    alphas: torch.Tensor,
    config: RNSConfig,
    offset: int,
    num_bank: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """S (§3.3): base rows, sample indices (from ``offset``) and coefficients, keys and (N_s, K) soft
    targets of the fused means of the zero-shot-predicted classes without visual support; None when
    there are no such classes."""
    zero_shot = (queries @ text.features.T).argmax(dim=1)
    unsupported = [c for c in torch.unique(zero_shot).tolist() if not bool(supported[c])]
    if not unsupported:
        return None
    classes = torch.tensor(unsupported, device=queries.device)
    means = F.normalize(torch.stack([queries[zero_shot == c].mean(dim=0) for c in unsupported]), dim=-1)
    s_base, s_index, s_coef = _fused_part(means, text.features[classes], alphas, offset)
    s_keys = torch.stack([torch.full_like(classes, -1), num_bank + classes], dim=1).flatten()
    s_feats = fuse(means, text.features[classes], alphas).flatten(0, 1)
    s_targets = torch.softmax(config.pseudo_target_scale * s_feats @ text.features.T, dim=1)
    return s_base, s_index, s_coef, s_keys, s_targets


def _sample_scale(
    queries: torch.Tensor,
    text: TextSupport | None,
    targets: torch.Tensor,
    num_retrieved: int,
    num_fused: int,
    config: RNSConfig,
) -> torch.Tensor:
    """(N,) β_set · w_n / N (§4) of the samples (U, then F, then S): w_n = r_label(n) / Σ w, the set
    factor β, then the 1/N of the mean."""
    device = queries.device
    num_pseudo = len(targets) - num_retrieved - num_fused
    relevance = relevance_weights(queries, text, targets.shape[1], config)
    weights = relevance[targets.argmax(dim=1)]
    weights = weights / weights.sum()
    beta = torch.cat(
        [
            torch.ones(num_retrieved, device=device),
            torch.full((num_fused,), config.beta_f, device=device),
            torch.full((num_pseudo,), config.beta_p, device=device),
        ]
    )
    return beta * weights / len(targets)
