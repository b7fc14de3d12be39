"""kNN-CLIP (Gui et al., TMLR 2024) adapted to few-shot support, as competitors.md describes.

The database is the support bank (one row per support image × present class, rns spec §1).
Each query (a patch, or a region in region mode) retrieves its k nearest bank rows by cosine
and turns them into a class distribution by a weighted vote,

    P_ret(c) = Σ_{n∈kNN, y_n=c} s_n / Σ_{n∈kNN} s_n            (similarity weighting)

which is fused with the zero-shot prediction P_zs = softmax(100·q·tᵀ) only where zero-shot
is unsure:  P = λ·P_ret + (1−λ)·P_zs  where max_c P_zs < T,  else  P = P_zs.
The w/o-text variant is T = 1.0 and λ = 1 (paper supp. 6.3): every query takes the
retrieval path and P = P_ret (``use_text=False``, which never touches the text).

Neither kNN-CLIP's authors nor the RNS authors published this adaptation, so every reading
is a named option of :class:`KNNCLIPConfig`:

* ``vote_weighting`` — ``similarity`` (the formula above, default), ``uniform`` (each
  neighbour one vote) or ``softmax`` (weights softmax(s_n / ``softmax_temperature``)).
  Similarity weights are clamped at 0 (a negative cosine is no evidence for a class); a query
  whose k neighbours all have s_n ≤ 0 falls back to a uniform vote over them.
* Ties: every bank row whose similarity equals the k-th largest votes, so the result never
  depends on the order of the bank rows. k larger than the bank: all rows vote.
* ``missing_text`` (partial textual support, classes without a name) —
  ``mean_of_available`` (default; paper supp. 6.3: a missing text feature is replaced by the
  normalised mean of the available ones, exactly as RNS does, rns spec §5), or
  ``no_zero_shot_mass`` (those classes get P_zs = 0, so they are reachable only through the
  retrieval path of unsure queries). The paper reports that kNN-CLIP degrades steeply here.
* ``threshold`` = T ≥ 1.0 opens the gate for every query, even one whose float32 softmax
  rounds to exactly 1 (the paper's "T = 1.0 ⇒ every query uses retrieval").

Defaults k = 2, T = 0.99, λ = 0.9 were chosen once, by mean test mIoU on the toy benchmark (competitors.md:
never per dataset or shot); the grid and why the winner sits at high T and λ: docs/methods.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rns_bench.core.errors import ConfigError, InputError
from rns_bench.methods.base import SegMethod
from rns_bench.methods.registry import METHODS
from rns_bench.methods.zero_shot import ZERO_SHOT_LOGIT_SCALE, zero_shot_predict
from rns_bench.support.bank import SupportBank, check_features
from rns_bench.support.text import TextSupport

VOTE_WEIGHTINGS = ("uniform", "similarity", "softmax")
MISSING_TEXT_POLICIES = ("mean_of_available", "no_zero_shot_mass")


@dataclass(frozen=True)
class KNNCLIPConfig:
    """kNN-CLIP settings; defaults fixed once on the toy benchmark (module docstring)."""

    k: int = 2  # neighbours per query
    threshold: float = 0.99  # T: fuse where max_c P_zs < T
    fusion_weight: float = 0.9  # λ: weight of P_ret in the fused prediction
    vote_weighting: str = "similarity"  # uniform | similarity | softmax
    softmax_temperature: float = 0.1  # only for vote_weighting=softmax (RNS's τ = 10 as a scale)
    zero_shot_scale: float = ZERO_SHOT_LOGIT_SCALE  # P_zs = softmax(scale · q·tᵀ)
    use_text: bool = True  # False = "w/o text": T = 1, λ = 1, i.e. P = P_ret
    missing_text: str = "mean_of_available"  # partial textual support (module docstring)

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ConfigError(f"kNN-CLIP needs k ≥ 1, got {self.k}")
        if self.vote_weighting not in VOTE_WEIGHTINGS:
            raise ConfigError(
                f"kNN-CLIP vote_weighting {self.vote_weighting!r} unknown; choose one of {VOTE_WEIGHTINGS}"
            )
        if self.missing_text not in MISSING_TEXT_POLICIES:
            raise ConfigError(
                f"kNN-CLIP missing_text {self.missing_text!r} unknown; choose one of {MISSING_TEXT_POLICIES}"
            )
        if not 0.0 <= self.fusion_weight <= 1.0:
            raise ConfigError(f"kNN-CLIP fusion_weight (λ) must lie in [0, 1], got {self.fusion_weight}")
        if self.softmax_temperature <= 0:
            raise ConfigError(f"kNN-CLIP softmax_temperature must be > 0, got {self.softmax_temperature}")


# ------------------------------------------------------------------------------ pure functions
def knn_vote(
    queries: torch.Tensor,
    rows: torch.Tensor,
    row_labels: torch.Tensor,
    num_classes: int,
    k: int,
    weighting: str = "similarity",
    temperature: float = 0.1,
) -> torch.Tensor:
    """P_ret: (N, D) queries, (R, D) unit-norm bank rows with (R,) labels → (N, K), rows sum to 1.

    The k nearest rows by cosine vote for their class; rows tied with the k-th similarity all
    vote (order-independent), and k > R means every row votes.
    """
    sims = F.normalize(queries, dim=-1) @ rows.T  # (N, R) cosine
    kth = sims.topk(min(k, rows.shape[0]), dim=1).values[:, -1:]  # (N, 1) k-th largest similarity
    neighbours = sims >= kth  # (N, R); exact comparison, kth is an element of sims
    weights = vote_weights(sims, neighbours, weighting, temperature)
    return weights @ F.one_hot(row_labels, num_classes).to(weights)


def vote_weights(sims: torch.Tensor, neighbours: torch.Tensor, weighting: str, temperature: float) -> torch.Tensor:
    """(N, R) similarities and kNN mask → (N, R) vote weights, zero off the kNN, rows sum to 1."""
    uniform = neighbours.to(sims)
    if weighting == "uniform":
        weights = uniform
    elif weighting == "similarity":
        weights = sims.clamp_min(0) * uniform
        # All neighbours at cosine ≤ 0: no similarity evidence, so each neighbour votes equally.
        weights = torch.where(weights.sum(1, keepdim=True) > 0, weights, uniform)
    elif weighting == "softmax":
        return torch.softmax((sims / temperature).masked_fill(~neighbours, float("-inf")), dim=1)
    else:
        raise ConfigError(f"vote weighting {weighting!r} unknown; choose one of {VOTE_WEIGHTINGS}")
    return weights / weights.sum(1, keepdim=True)


def zero_shot_probs(
    queries: torch.Tensor,
    text: torch.Tensor,
    text_available: torch.Tensor | None,
    scale: float = ZERO_SHOT_LOGIT_SCALE,
    missing_text: str = "mean_of_available",
) -> torch.Tensor:
    """P_zs: (N, D) queries, (K, D) unit-norm text, optional (K,) bool name mask → (N, K)."""
    if text_available is None or bool(text_available.all()):
        return zero_shot_predict(queries, text, scale)
    if missing_text == "mean_of_available":  # paper supp. 6.3, the same filler as RNS (spec §5)
        return zero_shot_predict(queries, TextSupport.from_features(text, text_available).features, scale)
    if missing_text == "no_zero_shot_mass":
        logits = (scale * queries @ text.T).masked_fill(~text_available.to(queries.device), float("-inf"))
        return torch.softmax(logits, dim=-1)
    raise ConfigError(f"missing_text {missing_text!r} unknown; choose one of {MISSING_TEXT_POLICIES}")


def gated_fusion(p_zs: torch.Tensor, p_ret: torch.Tensor, threshold: float, fusion_weight: float) -> torch.Tensor:
    """(N, K) each → (N, K): λ·P_ret + (1−λ)·P_zs where max_c P_zs < T, else P_zs unchanged."""
    unsure = p_zs.max(dim=1, keepdim=True).values < threshold
    if threshold >= 1.0:  # T = 1 means every query takes the retrieval path (paper supp. 6.3)
        unsure = torch.ones_like(unsure)
    return torch.where(unsure, fusion_weight * p_ret + (1.0 - fusion_weight) * p_zs, p_zs)


def knn_clip_predict(
    queries: torch.Tensor,
    bank: SupportBank,
    text: torch.Tensor | None,
    config: KNNCLIPConfig | None = None,
    text_available: torch.Tensor | None = None,
) -> torch.Tensor:
    """(N, D) queries of one image → (N, K) kNN-CLIP probabilities (text None only if use_text=False)."""
    config = config or KNNCLIPConfig()
    bank.require_rows()
    check_features(queries, "query features")
    p_ret = knn_vote(
        queries,
        bank.features.to(queries),
        bank.labels.to(queries.device),
        bank.num_classes,
        config.k,
        config.vote_weighting,
        config.softmax_temperature,
    )
    if not config.use_text:
        return p_ret
    if text is None:
        raise InputError("knn_clip needs text features; use the option use_text: false for the w/o-text variant")
    p_zs = zero_shot_probs(queries, text.to(queries), text_available, config.zero_shot_scale, config.missing_text)
    return gated_fusion(p_zs, p_ret, config.threshold, config.fusion_weight)


# ------------------------------------------------------------------------------ method
@METHODS.register("knn_clip")
class KNNCLIP(SegMethod):
    """kNN-CLIP behind the method interface; each image is predicted independently."""

    options_class = KNNCLIPConfig

    @property
    def reads_text(self) -> bool:
        return self.config.use_text

    def on_support_changed(self) -> None:
        if not self.config.use_text:
            return
        if self.text is None:
            raise InputError("knn_clip needs text features; use the option use_text: false for the w/o-text variant")
        if self.text_available is not None and not bool(self.text_available.any()):
            raise InputError("text_available is all False; use the option use_text: false for the w/o-text variant")

    def predict_probs(self, queries: list[torch.Tensor], image_ids: list[str]) -> list[torch.Tensor]:
        return [knn_clip_predict(q, self.bank, self.text, self.config, self.text_available) for q in queries]
