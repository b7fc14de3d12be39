"""FREEDA (Barsellotti et al., CVPR 2024) adapted to real support, as competitors.md describes.

The original retrieves diffusion-generated prototypes through text. With real pixel-annotated
support the class of every bank row is known, so retrieval becomes an oracle match (paper
supp. 6.3): the prototype of class c is the normalised mean of its bank rows (rns spec §1).

    local_c(q)  = cos(q, p_c)                       per query
    global_c    = cos(g, t_c),  g = image feature   broadcast to every query of the image
    score_c(q)  = α·local_c(q) + (1−α)·global_c,    α = 0.8 (the original's ensemble weight)
    P(q)        = softmax_c(scale · score_c(q))

``use_text=False`` is the w/o-text variant, α = 1 (paper supp. 6.3). The original pools
local scores over Felzenszwalb superpixels; in region mode the region queries (soft-pooled
patch features, rns spec §6) play that role, so local_c is the cosine of a region's feature.

Readings we had to choose, each a named option of :class:`FreeDAConfig`:

* ``global_feature`` — the original compares CLIP's global (CLS) image embedding with t_c;
  dense features carry no CLS token, so ``image_mean`` (default) uses g = normalize(mean of
  the image's queries): its patches in patch mode, its regions (each weighted equally, like
  RNS's g, spec §6) in region mode. ``query`` instead compares each query's own feature with
  t_c (a per-query zero-shot term; not the original's image-level prior).
* ``unsupported_local`` — a class without visual support has no prototype, so its local
  score is undefined: ``zero`` (default; cosine of an orthogonal direction, "no evidence") or
  ``min`` (−1, the lowest cosine). Either way such a class can only win through the global
  term, which is why the paper finds FREEDA falls toward or below zero-shot with partial
  visual support.
* ``missing_text`` (partial textual support) — ``mean_of_available`` (default; paper supp. 6.3:
  a missing text feature becomes the normalised mean of the available ones, as in RNS spec §5)
  or ``zero`` (the global score of an unnamed class is 0).
* ``logit_scale`` — scores become probabilities by softmax(scale · score). Only the argmax
  decides a query's class; the scale matters for mIoU only through the bilinear upsampling of
  probabilities at class boundaries (spec §7). 100 = CLIP's zero-shot scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rns_bench.core.errors import ConfigError, InputError
from rns_bench.methods.base import SegMethod
from rns_bench.methods.registry import METHODS
from rns_bench.support.bank import SupportBank, check_features
from rns_bench.support.text import TextSupport

GLOBAL_FEATURES = ("image_mean", "query")
UNSUPPORTED_LOCAL = {"zero": 0.0, "min": -1.0}
MISSING_TEXT_POLICIES = ("mean_of_available", "zero")


@dataclass(frozen=True)
class FreeDAConfig:
    """FREEDA settings; defaults are the original's α and our documented readings."""

    alpha: float = 0.8  # weight of the local (visual) score
    use_text: bool = True  # False = "w/o text": α = 1, the text is never read
    logit_scale: float = 100.0  # P = softmax(scale · score)
    global_feature: str = "image_mean"  # image_mean | query
    unsupported_local: str = "zero"  # zero | min: local score of a class without prototype
    missing_text: str = "mean_of_available"  # mean_of_available | zero

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"FREEDA alpha must lie in [0, 1], got {self.alpha}")
        if self.global_feature not in GLOBAL_FEATURES:
            raise ConfigError(f"FREEDA global_feature {self.global_feature!r} unknown; choose one of {GLOBAL_FEATURES}")
        if self.unsupported_local not in UNSUPPORTED_LOCAL:
            raise ConfigError(
                f"FREEDA unsupported_local {self.unsupported_local!r} unknown; choose one of {tuple(UNSUPPORTED_LOCAL)}"
            )
        if self.missing_text not in MISSING_TEXT_POLICIES:
            raise ConfigError(
                f"FREEDA missing_text {self.missing_text!r} unknown; choose one of {MISSING_TEXT_POLICIES}"
            )

    @property
    def effective_alpha(self) -> float:
        return self.alpha if self.use_text else 1.0


# ------------------------------------------------------------------------------ pure functions
def local_scores(
    queries: torch.Tensor, prototypes: torch.Tensor, supported: torch.Tensor, unsupported_local: str = "zero"
) -> torch.Tensor:
    """(N, D) queries, (K, D) prototypes, (K,) bool supported → (N, K) cos(q, p_c);
    columns of classes without visual support hold the ``unsupported_local`` constant."""
    scores = F.normalize(queries, dim=-1) @ prototypes.T
    return scores.masked_fill(~supported, UNSUPPORTED_LOCAL[unsupported_local])


def global_scores(queries: torch.Tensor, text: torch.Tensor, global_feature: str = "image_mean") -> torch.Tensor:
    """(N, D) queries of one image, (K, D) unit-norm text → (N, K) cos(g, t_c).

    ``image_mean``: g = normalize(mean of the queries), the same row for every query.
    ``query``: each query is its own g.
    """
    if global_feature == "image_mean":
        g = F.normalize(queries.mean(dim=0), dim=0)
        return (g @ text.T).expand(len(queries), -1)
    if global_feature == "query":
        return F.normalize(queries, dim=-1) @ text.T
    raise ConfigError(f"global_feature {global_feature!r} unknown; choose one of {GLOBAL_FEATURES}")


def text_for_global(
    text: torch.Tensor, text_available: torch.Tensor | None, missing_text: str
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(K, D) text as the global term sees it, and the (K,) mask of classes whose global score
    is forced to 0 (``missing_text=zero``), else None."""
    if text_available is None or bool(text_available.all()):
        return text, None
    if missing_text == "mean_of_available":  # paper supp. 6.3, the same filler as RNS (spec §5)
        return TextSupport.from_features(text, text_available).features, None
    return text, ~text_available


def freeda_predict(
    queries: torch.Tensor,
    bank: SupportBank,
    text: torch.Tensor | None,
    config: FreeDAConfig | None = None,
    text_available: torch.Tensor | None = None,
) -> torch.Tensor:
    """(N, D) queries of one image → (N, K) FREEDA probabilities (text None only if α = 1)."""
    config = config or FreeDAConfig()
    check_features(queries, "query features")
    alpha = config.effective_alpha
    score = alpha * local_scores(
        queries, bank.prototypes.to(queries), bank.supported.to(queries.device), config.unsupported_local
    )
    if alpha < 1.0:
        if text is None:
            raise InputError("freeda needs text features unless alpha = 1; use the option use_text: false")
        global_text, zeroed = text_for_global(text.to(queries), text_available, config.missing_text)
        global_ = global_scores(queries, global_text, config.global_feature)
        if zeroed is not None:
            global_ = global_.masked_fill(zeroed.to(queries.device), 0.0)
        score = score + (1.0 - alpha) * global_
    return torch.softmax(config.logit_scale * score, dim=-1)


# ------------------------------------------------------------------------------ method
@METHODS.register("freeda")
class FreeDA(SegMethod):
    """FREEDA behind the method interface; each image is predicted independently."""

    options_class = FreeDAConfig

    @property
    def reads_text(self) -> bool:
        return self.config.effective_alpha < 1.0

    def on_support_changed(self) -> None:
        if self.config.effective_alpha == 1.0:
            return
        if self.text is None:
            raise InputError("freeda needs text features unless alpha = 1; use the option use_text: false")
        if self.text_available is not None and not bool(self.text_available.any()):
            raise InputError("text_available is all False; use the option use_text: false for the w/o-text variant")

    def predict_probs(self, queries: list[torch.Tensor], image_ids: list[str]) -> list[torch.Tensor]:
        self.bank.require_rows()  # a prototype-less bank would predict from text alone
        return [freeda_predict(q, self.bank, self.text, self.config, self.text_available) for q in queries]
