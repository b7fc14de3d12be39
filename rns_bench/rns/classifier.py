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
Images whose rows are mostly the same (bank rows, text, prototypes: a small bank, or one retrieved
whole) multiply one shared table of the batch's distinct rows — one GEMM instead of B small ones.
On CPU, parts of the batch train side by side, one thread and one core each (rns_bench.core.threads).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch.optim.adamw import adamw as adamw_update

from rns_bench.core.threads import run_side_by_side
from rns_bench.rns.config import RNSConfig
from rns_bench.rns.training_set import TrainingSet


def init_weights(num_classes: int, dim: int, seed: int) -> torch.Tensor:
    """(K, D) Kaiming-uniform (fan_in = D, relu gain) = U(±√(6/D)), as the release; b = 0."""
    bound = math.sqrt(6.0 / dim)
    generator = torch.Generator().manual_seed(seed)
    return torch.empty(num_classes, dim).uniform_(-bound, bound, generator=generator)


# Images trained together multiply W by one table of their distinct rows (one GEMM for the batch, which
# runs nearer the matmul peak than B small ones) when it is at most this much larger than the largest
# image's own rows: each image then also multiplies the rows only the others use.
SHARED_TABLE_SLACK = 1.25

# On CPU the batch is split among the cores, each part trained by its own thread
# (rns_bench.core.threads), when every part still multiplies W by this many rows × classes × dims
# per step: shorter steps lose more to handing the GIL between threads than the cores gain
# (K = 21, 2 cores: 8 images a part ≈ 5.4 M, 1.2× faster; 2 images ≈ 1.4 M, 0.7×).
MIN_WORK_PER_THREAD = 4_000_000

# The samples' logits are kept in rows padded to a multiple of this many classes (padding: logit −∞,
# target 0, so softmax and gradient are 0 there): torch's CPU softmax over a last dim of 21 runs at
# 3.3 ns an element, over 24 at 1.5 (one AVX2 vector is 8 floats).
CLASS_COLUMNS_MULTIPLE = 8


def _pad(t: torch.Tensor, length: int) -> torch.Tensor:
    return torch.nn.functional.pad(t, (0, 0) * (t.ndim - 1) + (0, length - len(t)))


@dataclass(frozen=True)
class Block:
    """One kind of mixed samples (F or S) of every image, dense: (B, C, A) samples of C classes × A
    weights α, each coef[..., 0]·table[first] + coef[..., 1]·table[second] (first / second: (B·C,)
    flat table indices, one per class), at sample columns [offset, offset + C·A) of every image."""

    first: torch.Tensor
    second: torch.Tensor
    coef: torch.Tensor  # (B, C, A, 2)
    offset: int

    @property
    def width(self) -> int:
        return self.coef.shape[1] * self.coef.shape[2]


@dataclass(frozen=True)
class Stacked:
    """The images' sets as dense tensors, every image's samples in one (B, N, K) layout:
    [U (M) | F block | S block], each padded to the batch's largest (padding: scale 0, coefficient 0).

    ``rows`` is what W multiplies: (B, R, D) each image's explicit rows [U | F | S], or, ``shared``,
    (R_u, D) the batch's distinct rows, which every image multiplies. Flat logit-table indices: image
    b's explicit row i at b·R + i (per image) or u·B + b (shared, u its table row); derived row j at
    E + b·R_d + j (E explicit rows in all). U samples are rows [0, M) of each image's own rows (per
    image) or ``u_index`` (shared). Shared tables whose derived rows are the same sums in every image
    (a bank retrieved whole) sum them for all images at once, ``derivation``."""

    rows: torch.Tensor
    shared: bool
    u_index: torch.Tensor | None  # (B·M,) shared only
    retrieved: int  # M
    explicit: int  # E
    blocks: tuple[Block, ...]
    targets: torch.Tensor  # (B, N, K)
    scale: torch.Tensor  # (B, N, 1)
    derived_source: torch.Tensor  # (E,) flat explicit rows summed into …
    derived_target: torch.Tensor  # (E,) … flat derived rows (from 0: add E for the table)
    derived_coef: torch.Tensor  # (E, 1)
    derived_rows: int  # B·R_d
    derivation: Derivation | None  # shared, the same in every image: derived row j of image b at E + j·B + b


def _layout(s: TrainingSet, alphas: int) -> tuple[int, int, int, int]:
    """(M, C_F, C_S, F base rows) of one image's set."""
    classes_f = s.num_fused // alphas if alphas else 0
    classes_s = s.num_pseudo // alphas if alphas else 0
    return s.num_retrieved, classes_f, classes_s, len(s.base) - s.num_retrieved - 2 * classes_s


def _shared_rows(sets: list[TrainingSet]) -> tuple[torch.Tensor, list[torch.Tensor]] | None:
    """The batch's distinct rows (R_u, D) and each image's row positions in them, when they pay
    (SHARED_TABLE_SLACK) and rows of one key are the same vector in every image; else None."""
    if len(sets) < 2 or any(s.keys is None for s in sets):
        return None
    keys = torch.cat([s.keys for s in sets])
    common = torch.unique(keys[keys >= 0])
    private = int((keys < 0).sum())
    if len(common) + private > SHARED_TABLE_SLACK * max(len(s.base) for s in sets):
        return None
    device = sets[0].base.device
    table = sets[0].base.new_empty(len(common) + private, sets[0].base.shape[1])
    positions, next_private = [], len(common)
    for s in sets:
        position = torch.searchsorted(common, s.keys)
        own = s.keys < 0
        position[own] = next_private + torch.arange(int(own.sum()), device=device)
        next_private += int(own.sum())
        positions.append(position)
    for s, position in zip(sets, positions, strict=True):
        table[position] = s.base
    if not all(torch.equal(table[p], s.base) for s, p in zip(sets, positions, strict=True)):
        return None  # sets from different banks or texts: their keys do not name one vector
    return table, positions


@dataclass(frozen=True)
class Derivation:
    """Derived row target[e] += coef[e]·table[source[e]] in every image: the sums run on the table's
    (rows, B·K) view, one row for all images, instead of image by image."""

    source: torch.Tensor  # (E,) table rows
    target: torch.Tensor  # (E,) derived rows
    coef: torch.Tensor  # (E, 1)
    rows: int  # R_d


def _shared_derivation(sets: list[TrainingSet], positions: list[torch.Tensor]) -> Derivation | None:
    """The images' common derivation, or None when they derive different rows."""
    first, where = sets[0], positions[0][sets[0].derived_source]
    for s, position in zip(sets[1:], positions[1:], strict=True):
        if not (
            s.num_derived == first.num_derived
            and torch.equal(position[s.derived_source], where)
            and torch.equal(s.derived_target, first.derived_target)
            and torch.equal(s.derived_coef, first.derived_coef)
        ):
            return None
    return Derivation(where, first.derived_target, first.derived_coef.unsqueeze(1), first.num_derived)


def _stack(sets: list[TrainingSet], alphas: int) -> Stacked:
    layouts = [_layout(s, alphas) for s in sets]
    m, cf, cs, rf = (max(column) for column in zip(*layouts, strict=True))
    rows, derived_rows, images = m + rf + 2 * cs, max(s.num_derived for s in sets), len(sets)
    shared = _shared_rows(sets)
    explicit = len(shared[0]) * images if shared else images * rows
    derivation = _shared_derivation(sets, shared[1]) if shared and derived_rows else None
    bases, remaps = [], []
    for b, (s, (mb, _, _, rfb)) in enumerate(zip(sets, layouts, strict=True)):
        if shared:
            flat = shared[1][b] * images + b
        else:  # the image's explicit rows go to their section of the padded base
            own = torch.arange(len(s.base), device=s.base.device)
            position = torch.where(own < mb, own, torch.where(own < mb + rfb, m + own - mb, m + rf + own - mb - rfb))
            flat = b * rows + position
            base = s.base.new_zeros(rows, s.base.shape[1])
            base[position] = s.base
            bases.append(base)
        own = torch.arange(s.num_derived, device=s.base.device)
        derived = explicit + (own * images + b if derivation is not None else b * derived_rows + own)
        remaps.append(torch.cat([flat, derived]))

    def block(spans: list[tuple[int, int]], width: int, offset: int) -> tuple[Block, torch.Tensor, torch.Tensor]:
        """The F or S samples of every image (``spans``: first sample, classes), padded to ``width``
        classes; also their (B, width·A, K) targets and (B, width·A) scales."""
        firsts, seconds, coefs, targets, scales = [], [], [], [], []
        for s, remap, (start, count) in zip(sets, remaps, spans, strict=True):
            part = slice(start, start + count * alphas)
            index = remap[s.index[part]].view(count, alphas, 2)[:, 0]  # one (first, second) per class
            firsts.append(_pad(index[:, 0], width))
            seconds.append(_pad(index[:, 1], width))
            coefs.append(_pad(s.coef[part].view(count, alphas, 2), width))
            targets.append(_pad(s.targets[part], width * alphas))
            scales.append(_pad(s.scale[part], width * alphas))
        return (
            Block(torch.cat(firsts), torch.cat(seconds), torch.stack(coefs), offset),
            torch.stack(targets),
            torch.stack(scales),
        )

    fused = block([(mb, cfb) for mb, cfb, _, _ in layouts], cf, m)
    pseudo = block(
        [(mb + s.num_fused, csb) for s, (mb, _, csb, _) in zip(sets, layouts, strict=True)], cs, m + cf * alphas
    )
    blocks = tuple(part for part in (fused, pseudo) if part[0].width)
    u_targets = torch.stack([_pad(s.targets[: s.num_retrieved], m) for s in sets])
    u_scale = torch.stack([_pad(s.scale[: s.num_retrieved], m) for s in sets])
    u_index = None
    if shared:  # padding U samples read row 0 with scale 0
        u_index = torch.cat([_pad(r[: s.num_retrieved], m) for s, r in zip(sets, remaps, strict=True)])
    return Stacked(
        rows=shared[0] if shared else torch.stack(bases),
        shared=shared is not None,
        u_index=u_index,
        retrieved=m,
        explicit=explicit,
        blocks=tuple(part[0] for part in blocks),
        targets=torch.cat([u_targets, *(part[1] for part in blocks)], dim=1),
        scale=torch.cat([u_scale, *(part[2] for part in blocks)], dim=1).unsqueeze(-1),
        derived_source=torch.cat([r[s.derived_source] for s, r in zip(sets, remaps, strict=True)]),
        derived_target=torch.cat([b * derived_rows + s.derived_target for b, s in enumerate(sets)]),
        derived_coef=torch.cat([s.derived_coef for s in sets]).unsqueeze(1),
        derived_rows=images * derived_rows,
        derivation=derivation,
    )


class AdamW:
    """``torch.optim.AdamW``'s update with the spec's settings: torch's fused kernel called directly
    where the device has one (the same call ``torch.optim.AdamW(fused=True)`` makes), else torch's
    functional ``adamw``. The Optimizer's per-step Python (≈ 40 µs here) holds the GIL, which the
    threads training parts of a batch side by side wait for: +11 % at K = 21, 32 images."""

    def __init__(self, params: list[torch.Tensor], config: RNSConfig) -> None:
        self.params, self.grads = params, [p.grad for p in params]
        self.exp_avgs = [torch.zeros_like(p) for p in params]
        self.exp_avg_sqs = [torch.zeros_like(p) for p in params]
        self.steps = [torch.zeros((), dtype=torch.float32, device=p.device) for p in params]
        self.fused = all(p.device.type in ("cpu", "cuda") for p in params)
        self.settings = dict(
            amsgrad=False,
            beta1=config.betas[0],
            beta2=config.betas[1],
            lr=config.lr,
            weight_decay=config.weight_decay,
            eps=1e-8,
            maximize=False,
        )

    def step(self) -> None:
        if self.fused:
            torch._foreach_add_(self.steps, 1)
            torch._fused_adamw_(
                self.params, self.grads, self.exp_avgs, self.exp_avg_sqs, [], self.steps, **self.settings
            )
        else:
            adamw_update(self.params, self.grads, self.exp_avgs, self.exp_avg_sqs, [], self.steps, **self.settings)


class _BlockViews(NamedTuple):
    """A block's tensors as its steps use them, made once."""

    first_index: torch.Tensor
    second_index: torch.Tensor
    first_coef: torch.Tensor  # (B, C, A, 1)
    second_coef: torch.Tensor
    first: torch.Tensor  # (B·C, K) the first rows' logits, or the classes' gradient
    second: torch.Tensor
    first_rows: torch.Tensor  # (B, C, 1, K) views of them
    second_rows: torch.Tensor
    logits: torch.Tensor  # (B, C, A, K) the block's samples in the (B, N, K′) buffers
    grad: torch.Tensor
    product: torch.Tensor  # (B, C, A, K) scratch
    class_grad: torch.Tensor  # (B·C, K)
    class_grad_rows: torch.Tensor  # (B, C, K) view of it

    @classmethod
    def of(
        cls,
        part: Block,
        pair: tuple[torch.Tensor, torch.Tensor],
        product: torch.Tensor,
        class_grad: torch.Tensor,
        logits: torch.Tensor,
        grad: torch.Tensor,
    ) -> _BlockViews:
        images, num_classes = product.shape[0], product.shape[-1]
        samples = slice(part.offset, part.offset + part.width)
        first, second = pair
        return cls(
            part.first,
            part.second,
            part.coef[..., :1],
            part.coef[..., 1:],
            first,
            second,
            first.view(images, -1, 1, num_classes),
            second.view(images, -1, 1, num_classes),
            logits[:, samples].view(product.shape),
            grad[:, samples].view(product.shape),
            product,
            class_grad,
            class_grad.view(images, -1, num_classes),
        )


class _Buffers:
    """Every per-step tensor, allocated once: a fresh large temporary per op costs this loop as much
    as the op itself on CPU (allocation, first touch)."""

    def __init__(self, st: Stacked, num_classes: int) -> None:
        new = st.rows.new_empty
        images, samples, _ = st.targets.shape
        columns = -(-num_classes // CLASS_COLUMNS_MULTIPLE) * CLASS_COLUMNS_MULTIPLE
        self.table = new(st.explicit + st.derived_rows, num_classes)  # logits of every (explicit, derived) row
        self.table_grad = new(st.explicit + st.derived_rows, num_classes)
        self.derived = new(len(st.derived_source), num_classes)
        self.wide = new(len(st.derivation.source), images * num_classes) if st.derivation is not None else None
        # (B, N, K′ ≥ K): every sample of every image; logits[..., K:] stay −∞
        self.logits = torch.full((images, samples, columns), -math.inf, dtype=st.rows.dtype, device=st.rows.device)
        self.grad = new(images, samples, columns)
        self.scaled_targets = st.rows.new_zeros(images, samples, columns)  # − scale · y
        torch.mul(st.targets, st.scale, out=self.scaled_targets[..., :num_classes]).neg_()
        self.bias_grad = new(images, columns)
        self.u_rows = new(len(st.u_index), num_classes) if st.u_index is not None else None
        self.pairs = [(new(len(b.first), num_classes), new(len(b.second), num_classes)) for b in st.blocks]
        self.products = [new(b.coef.shape[:3] + (num_classes,)) for b in st.blocks]
        self.class_grads = [new(len(b.first), num_classes) for b in st.blocks]


def train_classifiers(
    sets: list[TrainingSet], seeds: list[int], config: RNSConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Train one linear classifier per training set → W (B, K, D), b (B, K); on CPU, parts of the
    batch side by side on the cores (each image's classifier is trained alone either way)."""
    with matmul_precision(config.matmul_precision):  # process-wide: set once, not by each thread
        trained = run_side_by_side([lambda part=part: _train(sets[part], seeds[part], config) for part in _parts(sets)])
    if len(trained) == 1:
        return trained[0]
    return torch.cat([w for w, _ in trained]), torch.cat([b for _, b in trained])


def _parts(sets: list[TrainingSet]) -> list[slice]:
    """Consecutive, balanced parts of the batch: one per core on CPU while each has
    MIN_WORK_PER_THREAD; one part on other devices, which run the batch's ops on their own."""
    if sets[0].base.device.type != "cpu":
        return [slice(0, len(sets))]
    work = sum(len(s.base) for s in sets) * sets[0].targets.shape[-1] * sets[0].base.shape[-1]
    count = max(1, min(torch.get_num_threads(), len(sets), int(work // MIN_WORK_PER_THREAD)))
    bounds = [round(i * len(sets) / count) for i in range(count + 1)]
    return [slice(start, stop) for start, stop in itertools.pairwise(bounds)]


def _train(sets: list[TrainingSet], seeds: list[int], config: RNSConfig) -> tuple[torch.Tensor, torch.Tensor]:
    st = _stack(sets, len(config.alphas))
    num_classes, dim = st.targets.shape[-1], st.rows.shape[-1]
    weight = torch.stack([init_weights(num_classes, dim, s) for s in seeds]).to(st.rows)
    bias = torch.zeros(len(sets), num_classes, device=st.rows.device, dtype=st.rows.dtype)
    weight.grad, bias.grad = torch.empty_like(weight), torch.empty_like(bias)
    optimizer = AdamW([weight, bias], config)
    step = _Step(st, weight, bias, torch.bfloat16 if config.matmul_precision == "bf16" else None)
    with torch.no_grad():
        for _ in range(config.steps):
            step.forward()
            step.backward()
            optimizer.step()
    return weight.detach(), bias.detach()


class _Step:
    """One step's work on ``_Buffers``: ``forward`` writes every sample's logits, ``backward`` ∂L/∂W and
    ∂L/∂b into ``weight.grad`` and ``bias.grad``. Every view the steps use is made here, once (a view
    costs a Python call; the steps run 700 times). ``low`` (bf16): the dtype the products run in."""

    def __init__(self, st: Stacked, weight: torch.Tensor, bias: torch.Tensor, low: torch.dtype | None) -> None:
        images, num_classes, dim = weight.shape
        buf = self.buf = _Buffers(st, num_classes)
        self.st, self.d, self.low, self.num_classes, self.bias = st, st.derivation, low, num_classes, bias
        rows = st.rows.to(low) if low else st.rows  # the bf16 operand, cast once
        explicit_logits, explicit_grad = buf.table[: st.explicit], buf.table_grad[: st.explicit]
        table_rows = len(st.rows)
        if st.shared:  # (R_u, B·K): row u, image b at u·B + b
            self.products = (
                (torch.mm, rows, weight.view(-1, dim).T, explicit_logits.view(table_rows, -1)),
                (torch.mm, explicit_grad.view(table_rows, -1).T, rows, weight.grad.view(-1, dim)),
            )
        else:  # (B, R, K)
            self.products = (
                (torch.bmm, rows, weight.transpose(1, 2), explicit_logits.view(images, -1, num_classes)),
                (torch.bmm, explicit_grad.view(images, -1, num_classes).transpose(1, 2), rows, weight.grad),
            )
        self.explicit_grad = explicit_grad
        self.derived_logits, self.derived_grad = buf.table[st.explicit :], buf.table_grad[st.explicit :]
        if self.d is not None:  # one (rows, B·K) row for all images
            self.wide_logits = explicit_logits.view(table_rows, -1)
            self.wide_derived = self.derived_logits.view(self.d.rows, -1)
            self.wide_grad = explicit_grad.view(table_rows, -1)
            self.wide_derived_grad = self.derived_grad.view(self.d.rows, -1)
        logits, grad = buf.logits[..., :num_classes], buf.grad[..., :num_classes]  # (B, N, K)
        self.u_logits, self.u_grad = logits[:, : st.retrieved], grad[:, : st.retrieved]
        if st.shared:
            self.u_source = buf.u_rows.view(self.u_logits.shape)
        else:
            self.u_source = explicit_logits.view(images, -1, num_classes)[:, : st.retrieved]
            self.u_target = explicit_grad.view(images, -1, num_classes)[:, : st.retrieved]
        self.bias_rows, self.bias_block = bias.unsqueeze(1), bias.view(images, 1, 1, -1)
        self.bias_grad = buf.bias_grad[:, :num_classes]
        self.blocks = [
            _BlockViews.of(part, pair, product, class_grad, logits, grad)
            for part, pair, product, class_grad in zip(st.blocks, buf.pairs, buf.products, buf.class_grads, strict=True)
        ]

    def product(self, op, a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> None:
        """out = op(a, b); with ``low`` (bf16) the operands are cast and the product is copied into the
        float32 ``out``."""
        if self.low:
            out.copy_(op(a.to(self.low), b.to(self.low)))
        else:
            op(a, b, out=out)

    def forward(self) -> None:
        """The logits of every explicit and derived row, then of every sample (B, N, K′)."""
        st, d, buf = self.st, self.d, self.buf
        self.product(*self.products[0])  # the logits of every explicit row, flat-table order
        self.derived_logits.zero_()
        if d is not None:
            torch.index_select(self.wide_logits, 0, d.source, out=buf.wide)
            self.wide_derived.index_add_(0, d.target, buf.wide.mul_(d.coef))
        else:
            torch.index_select(buf.table, 0, st.derived_source, out=buf.derived)
            self.derived_logits.index_add_(0, st.derived_target, buf.derived.mul_(st.derived_coef))
        if st.shared:
            torch.index_select(buf.table, 0, st.u_index, out=buf.u_rows)
        torch.add(self.u_source, self.bias_rows, out=self.u_logits)
        for v in self.blocks:
            torch.index_select(buf.table, 0, v.first_index, out=v.first)
            torch.index_select(buf.table, 0, v.second_index, out=v.second)
            torch.addcmul(self.bias_block, v.first_coef, v.first_rows, out=v.logits)
            v.logits.addcmul_(v.second_coef, v.second_rows)

    def backward(self) -> None:
        """The samples' logit gradient folded back onto the table's rows, then onto W and b."""
        st, d, buf = self.st, self.d, self.buf
        # ∂/∂z of Σ scale · KL(y ‖ softmax(z)) is scale · (softmax(z) − y): targets sum to 1.
        torch.softmax(buf.logits, dim=-1, out=buf.grad)
        torch.addcmul(buf.scaled_targets, buf.grad, st.scale, out=buf.grad)
        torch.sum(buf.grad, 1, out=buf.bias_grad)
        self.bias.grad.copy_(self.bias_grad)
        buf.table_grad.zero_()
        if st.shared:
            buf.table_grad.index_add_(0, st.u_index, self.u_grad.reshape(-1, self.num_classes))
        else:
            self.u_target.copy_(self.u_grad)
        for v in self.blocks:
            for coef, index in ((v.first_coef, v.first_index), (v.second_coef, v.second_index)):
                torch.mul(coef, v.grad, out=v.product)
                torch.sum(v.product, 2, out=v.class_grad_rows)
                buf.table_grad.index_add_(0, index, v.class_grad)
        if d is not None:
            torch.index_select(self.wide_derived_grad, 0, d.target, out=buf.wide)
            self.wide_grad.index_add_(0, d.source, buf.wide.mul_(d.coef))
        else:  # the derived rows' gradient back onto their U rows
            torch.index_select(self.derived_grad, 0, st.derived_target, out=buf.derived)
            self.explicit_grad.index_add_(0, st.derived_source, buf.derived.mul_(st.derived_coef))
        self.product(*self.products[1])  # ∂L/∂W = (∂L/∂logits)ᵀ · rows, into weight.grad


@contextmanager
def matmul_precision(precision: str) -> Iterator[None]:
    """torch's float32 matmul precision for the block ("tf32" → "high"), restored after it."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high" if precision == "tf32" else "highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)
