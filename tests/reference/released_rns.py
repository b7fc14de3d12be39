"""Independent reference ("oracle") implementation of RNS for the faithfulness tests (spec §9).

Written from shared/spec/rns.md only, without reading the suite's own implementation under
rns_bench/. It stands in for the authors' released code: one test image at a time, unbatched,
loops where they are clearest. Everything follows the spec literally:

* §1 support bank: soft pixel-fraction pooling per 16x16 block, one row per (image, class present),
  prototypes p_c = normalize(sum_i v_{i,c});
* §2 relevance r = softmax(tau * g.t) (uniform without text or with any name missing), zero-shot labels;
* §5 "w/o text" as the release runs it (use_text=False): uniform r and no F, but S still uses the text;
  text=None is the paper's wording, no text anywhere;
* §3 training set U (kNN union, exact inner product), F (fused, every retrieved class x alpha),
  S (pseudo-labelled, only classes in unique(y_hat) without visual support);
* §4 fresh nn.Linear(D, K) (Kaiming-uniform relu W, zero b), weighted CE / KL, AdamW, full-batch steps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PATCH = 16
IGNORE = 255


def reference_zero_shot_predict(queries: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Only-text setting: softmax(100 * q t^T)."""
    return torch.softmax(100.0 * queries.float() @ text.float().T, dim=1)


def _pool_support_image(feats: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict[int, torch.Tensor]:
    """§1: per-image class features v_{i,c} for every class present in this image."""
    h, w, _ = feats.shape
    H, W = labels.shape
    assert PATCH * h >= H and PATCH * w >= W, "label map larger than the patch grid"
    padded = torch.full((PATCH * h, PATCH * w), IGNORE, dtype=torch.long)
    padded[:H, :W] = labels.long().cpu()
    out = {}
    for c in torch.unique(padded).tolist():
        if c == IGNORE or c < 0 or c >= num_classes:
            continue
        pooled = torch.zeros(feats.shape[-1])
        total = (padded == c).sum().item()
        for a in range(h):
            for b in range(w):
                block = padded[a * PATCH : (a + 1) * PATCH, b * PATCH : (b + 1) * PATCH]
                count = (block == c).sum().item()
                if count > 0:
                    pooled += (count / total) * feats[a, b]
        out[c] = F.normalize(pooled, dim=0)
    return out


def reference_rns_predict(
    support_features: list[torch.Tensor],
    support_labels: list[torch.Tensor],
    queries: torch.Tensor,
    text: torch.Tensor | None,
    num_classes: int,
    *,
    init_seed: int = 0,
    k: int = 4,
    alphas: tuple[float, ...] = (0.9, 0.8, 0.6, 0.4, 0.2, 0.0),
    tau: float = 10.0,
    beta_f: float = 1.5,
    beta_p: float = 0.2,
    steps: int = 700,
    lr: float = 2e-3,
    weight_decay: float = 5e-4,
    classes_without_images: set[int] = frozenset(),
    classes_without_names: set[int] = frozenset(),
    use_text: bool = True,
) -> torch.Tensor:
    """RNS for ONE test image. Returns (N, K) class probabilities for the N queries."""
    K = num_classes
    device = queries.device
    q = queries.detach().float().cpu()

    # ---- §1 support bank (rows of dropped classes never enter) and prototypes
    bank_feats, bank_labels = [], []
    for feats, labels in zip(support_features, support_labels, strict=True):
        per_class = _pool_support_image(feats.detach().float().cpu(), labels, K)
        for c in sorted(per_class):
            if c in classes_without_images:
                continue
            bank_feats.append(per_class[c])
            bank_labels.append(c)
    proto_sum = {}
    for v, c in zip(bank_feats, bank_labels, strict=True):
        proto_sum[c] = proto_sum.get(c, torch.zeros_like(v)) + v
    protos = {c: F.normalize(s, dim=0) for c, s in proto_sum.items()}

    # ---- text handling (§5): missing names get the normalised mean of the available text features
    t = None
    if text is not None:
        t = text.detach().float().cpu().clone()
        named = [c for c in range(K) if c not in classes_without_names]
        if len(named) == 0:
            t = None  # no name at all: reduces to w/o text (paper §3.5)
        elif len(named) < K:
            mean_t = F.normalize(t[named].mean(dim=0), dim=0)
            for c in range(K):
                if c in classes_without_names:
                    t[c] = mean_t

    # ---- §2 relevance weights and zero-shot labels
    if t is None or len(classes_without_names) > 0 or not use_text:
        r = torch.full((K,), 1.0 / K)
    else:
        g = F.normalize(q.mean(dim=0), dim=0)
        r = torch.softmax(tau * (t @ g), dim=0)
    y_hat = (q @ t.T).argmax(dim=1) if t is not None else None

    # ---- §3.1 retrieved visual features U: union of each query's k nearest bank rows
    xs, targets, kinds = [], [], []  # target: soft distribution over K; kind: "U" | "F" | "S"
    retrieved_rows = set()
    if bank_feats:
        bank = torch.stack(bank_feats)
        kk = min(k, bank.shape[0])
        for j in range(q.shape[0]):
            scores = bank @ q[j]
            order = torch.sort(scores, descending=True, stable=True).indices  # ties: lower row first
            retrieved_rows.update(order[:kk].tolist())
    for row in sorted(retrieved_rows):
        xs.append(bank_feats[row])
        targets.append(F.one_hot(torch.tensor(bank_labels[row]), K).float())
        kinds.append("U")

    # ---- §3.2 fused class features F for every class among U's labels and every alpha
    if t is not None and use_text:
        for c in sorted({bank_labels[row] for row in retrieved_rows}):
            for a in alphas:
                xs.append(F.normalize(a * protos[c] + (1.0 - a) * t[c], dim=0))
                targets.append(F.one_hot(torch.tensor(c), K).float())
                kinds.append("F")

    # ---- §3.3 pseudo-labelled features S: predicted classes that have no visual support (no bank row)
    if t is not None:
        for c in sorted(torch.unique(y_hat).tolist()):
            if c in protos:
                continue
            s_c = F.normalize(q[y_hat == c].mean(dim=0), dim=0)
            for a in alphas:
                h_ca = F.normalize(a * s_c + (1.0 - a) * t[c], dim=0)
                xs.append(h_ca)
                targets.append(torch.softmax(100.0 * (t @ h_ca), dim=0))
                kinds.append("S")

    if not xs:
        raise ValueError("RNS has no training samples (empty bank and no pseudo-labelled classes)")

    X = torch.stack(xs)
    T = torch.stack(targets)
    labels = T.argmax(dim=1)  # hard label for U/F; argmax of the soft target for S
    weights = r[labels]
    weights = weights / weights.sum()  # normalised over ALL samples (U, F and S together)
    beta = torch.tensor([{"U": 1.0, "F": beta_f, "S": beta_p}[kd] for kd in kinds])
    is_kl = torch.tensor([kd == "S" for kd in kinds])

    # ---- §4 fresh linear classifier, Kaiming-uniform (relu gain) W, zero bias, AdamW full batch
    torch.manual_seed(init_seed)
    D = X.shape[1]
    clf = nn.Linear(D, K)
    nn.init.kaiming_uniform_(clf.weight, nonlinearity="relu")
    nn.init.zeros_(clf.bias)
    opt = torch.optim.AdamW(clf.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.999))
    for _ in range(steps):
        opt.zero_grad()
        log_p = F.log_softmax(clf(X), dim=1)
        ce = -(T * log_p).sum(dim=1)  # T one-hot for U/F -> plain cross-entropy
        kl = (torch.xlogy(T, T) - T * log_p).sum(dim=1)  # KL(pi || softmax(z)), summed over classes
        per_sample = torch.where(is_kl, kl, ce)
        loss = (beta * weights * per_sample).mean()  # mean over all samples
        loss.backward()
        opt.step()

    with torch.no_grad():
        probs = torch.softmax(clf(q), dim=1)
    return probs.to(device)


if __name__ == "__main__":
    gen = torch.Generator().manual_seed(0)
    K, D, h, w = 5, 32, 8, 8
    centers = F.normalize(torch.randn(K, D, generator=gen), dim=1)
    text_feats = F.normalize(centers + 1.2 * torch.randn(K, D, generator=gen) / D**0.5, dim=1)

    def blocky_image(classes: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Patch grid split into vertical stripes of the given classes; pixel labels with ignore border."""
        patch_lab = torch.empty(h, w, dtype=torch.long)
        for i, c in enumerate(classes):
            patch_lab[:, i * w // len(classes) : (i + 1) * w // len(classes)] = c
        feats = F.normalize(centers[patch_lab] + 0.9 * torch.randn(h, w, D, generator=gen) / D**0.5, dim=-1)
        pix = patch_lab.repeat_interleave(PATCH, 0).repeat_interleave(PATCH, 1)
        pix = pix[: PATCH * h - 8, : PATCH * w - 5].clone()  # smaller than the padded grid
        pix[:3] = IGNORE
        return feats, pix, patch_lab

    supports = [blocky_image([0, 1]), blocky_image([2, 3, 4]), blocky_image([1, 4]), blocky_image([0, 3])]
    s_feats = [s[0] for s in supports]
    s_labels = [s[1] for s in supports]
    test_feats, _, test_lab = blocky_image([4, 0, 2, 3])
    qs, gt = test_feats.reshape(-1, D), test_lab.reshape(-1)

    def acc(p: torch.Tensor) -> float:
        return (p.argmax(dim=1) == gt).float().mean().item()

    print(f"zero-shot           acc {acc(reference_zero_shot_predict(qs, text_feats)):.3f}")
    for name, kwargs in [
        ("full support", {}),
        ("w/o text", {"text": None}),
        ("partial visual", {"classes_without_images": {2, 4}}),
        ("partial textual", {"classes_without_names": {0, 3}}),
    ]:
        args = {"text": text_feats, **kwargs}
        for seed in (0, 1):
            p = reference_rns_predict(s_feats, s_labels, qs, num_classes=K, init_seed=seed, **args)
            assert p.shape == (qs.shape[0], K) and torch.allclose(p.sum(1), torch.ones(qs.shape[0]))
            print(f"{name:<19} seed {seed} acc {acc(p):.3f}")
