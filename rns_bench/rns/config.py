"""RNS settings with the released defaults (rns spec §2–§5, ablation switches §8)."""

from __future__ import annotations

from dataclasses import dataclass

from rns_bench.core.errors import ConfigError

RETRIEVAL_VARIANTS = ("knn", "random", "class_rows", "random_class_rows", "furthest_class_rows")
MATMUL_PRECISIONS = ("highest", "tf32", "bf16")


@dataclass(frozen=True)
class RNSConfig:
    """Every RNS constant, named. Defaults are the authors' released code (spec §2–§4).

    retrieval (spec §8, paper Fig. 5):
      ``knn``                 k nearest bank rows of every query, united (the method);
      ``random``              a random subset of the whole bank, as large as the kNN union;
      ``class_rows``          every bank row of the classes the kNN union retrieved;
      ``random_class_rows``   a random subset of those rows, as large as the kNN union;
      ``furthest_class_rows`` for every query its k *least* similar rows among those rows
                              (our reading of "the furthest rows of the retrieved classes").
    """

    k: int = 4
    alphas: tuple[float, ...] = (0.9, 0.8, 0.6, 0.4, 0.2, 0.0)
    tau: float = 10.0  # relevance softmax scale; the paper writes it as temperature 0.1
    beta_f: float = 1.5  # weight of the fused-feature loss
    beta_p: float = 0.2  # weight of the pseudo-label loss
    pseudo_target_scale: float = 100.0  # π(h) = softmax(scale · h·t)
    steps: int = 700
    lr: float = 2e-3
    weight_decay: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.999)
    # "w/o text" (spec §5). use_text=False gates the relevance weights (uniform r) and the fused set F.
    # Under partial visual support the release still builds S from the text (ŷ, h, π): that is
    # ``text_free=False``, the default. ``text_free=True`` is the paper's wording, no text anywhere
    # (no S either); it needs use_text=False. The published Fig. 4 (left) "w/o text" curve is
    # use_text=False with pseudo_label_loss=False (its caption; spec §5).
    use_text: bool = True
    text_free: bool = False
    relevance_weights: bool = True  # False = ablation "w/o relevance weights"
    pseudo_label_loss: bool = True  # False = ablation "w/o pseudo-label loss"
    retrieval: str = "knn"
    init_seed: int = 0  # seeds each image's classifier init (and random retrieval variants)
    # The two products per step (logits, ∂L/∂W): "highest" = float32, the release; "tf32" = TensorFloat-32
    # on CUDA (torch's "high" matmul precision); "bf16" = bfloat16 operands with float32 accumulation,
    # weights, softmax and AdamW. Speed options for GPUs, off by default: they move the numbers.
    matmul_precision: str = "highest"

    def __post_init__(self) -> None:
        object.__setattr__(self, "alphas", tuple(float(a) for a in self.alphas))
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        if self.retrieval not in RETRIEVAL_VARIANTS:
            raise ConfigError(f"RNS retrieval {self.retrieval!r} unknown; choose one of {RETRIEVAL_VARIANTS}")
        if self.matmul_precision not in MATMUL_PRECISIONS:
            raise ConfigError(
                f"RNS matmul_precision {self.matmul_precision!r} unknown; choose one of {MATMUL_PRECISIONS}"
            )
        if self.k < 1 or self.steps < 0:
            raise ConfigError(f"RNS needs k ≥ 1 and steps ≥ 0 (got k={self.k}, steps={self.steps})")
        negative = [
            n for n in ("lr", "weight_decay", "tau", "beta_f", "beta_p", "pseudo_target_scale") if getattr(self, n) < 0
        ]
        if negative or self.lr == 0:
            name = negative[0] if negative else "lr"
            raise ConfigError(
                f"RNS {name}={getattr(self, name)} must be {'positive' if name == 'lr' else '0 or more'} "
                f"(default {getattr(RNSConfig, name)})"
            )
        if any(not 0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"RNS betas must lie in [0, 1) (AdamW's), got {self.betas}")
        if any(not 0.0 <= a <= 1.0 for a in self.alphas):
            raise ConfigError(f"RNS alphas must lie in [0, 1], got {self.alphas}")
        if self.text_free and self.use_text:
            raise ConfigError(
                "RNS text_free=true (no text anywhere) needs use_text=false; set both, as the "
                "rns_wo_text_literal row does"
            )
