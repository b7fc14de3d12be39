"""Offline closed-vocabulary linear baselines: separable support, closed vocabulary, pixel loss."""

from __future__ import annotations

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from synthetic_problem import PATCH, bank_of, make_problem
from torch.utils.data import DataLoader

from baselines.offline_linear import (
    LinearHead,
    LinearTrainConfig,
    fit_on_pixels,
    fit_on_rows,
    pixel_loss,
    upsample_logits,
)
from rns_bench.core.errors import ConfigError, InputError
from rns_bench.methods import build_method
from rns_bench.support.bank import SupportBank
from rns_bench.support.pixels import SupportPixels

K, D = 4, 8


def separable_rows(per_class: int = 3, classes: tuple[int, ...] = (0, 1, 2, 3)) -> tuple[torch.Tensor, torch.Tensor]:
    """Class c's rows lie around the axis e_c (hand-made, linearly separable): (R, D), (R,)."""
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor(classes).repeat_interleave(per_class)
    rows = F.one_hot(labels, D).float() + 0.1 * torch.rand(len(labels), D, generator=g)
    return F.normalize(rows, dim=-1), labels


def test_linear_class_features_separates_separable_support_perfectly():
    rows, labels = separable_rows()
    head = fit_on_rows(rows, labels, K, LinearTrainConfig(lr=0.1, steps=100))
    assert torch.equal(head.probs(rows).argmax(1), labels)
    # and through the method: bank rows in, probabilities out
    bank = SupportBank(K, D)
    bank.add_rows(rows, labels, [f"s{i}" for i in range(len(labels))])
    method = build_method("linear_class_features", [f"c{c}" for c in range(K)], PATCH, {"lr": 0.1, "steps": 100})
    method.attach_support(bank, None)
    probs = method.predict_probs([rows], ["q"])[0]
    assert torch.equal(probs.argmax(1), labels)
    assert torch.allclose(probs.sum(1), torch.ones(len(rows)))


def test_a_class_without_support_is_never_predicted():
    rows, labels = separable_rows(classes=(0, 1, 3))  # class 2 has no visual support
    head = fit_on_rows(rows, labels, K, LinearTrainConfig(lr=0.1, steps=100))
    assert head.supported.tolist() == [True, True, False, True]
    queries = F.normalize(torch.randn(200, D, generator=torch.Generator().manual_seed(1)), dim=-1)
    queries[:50] = F.one_hot(torch.full((50,), 2), D).float()  # exactly class 2's direction
    probs = head.probs(queries)
    assert torch.all(probs[:, 2] == 0) and not bool((probs.argmax(1) == 2).any())


def test_record_lists_unpredictable_classes_and_gives_them_iou_zero():
    problem = make_problem(seed=3)
    names = [f"c{c}" for c in range(problem.num_classes)]
    method = build_method("linear_class_features", names, PATCH, {"steps": 50})
    method.attach_support(bank_of(problem).without_classes([2]), problem.text)
    items = []
    for i, (q, y) in enumerate(zip(problem.queries, problem.targets, strict=True)):
        label = y.reshape(8, 8).repeat_interleave(PATCH, 0).repeat_interleave(PATCH, 1)
        items.append({"image_id": f"t{i}", "features": q.reshape(8, 8, -1), "resized_hw": (128, 128), "label": label})
    trainer = L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    trainer.test(method, dataloaders=DataLoader(items, batch_size=2, collate_fn=list), verbose=False)
    assert method.results["unpredictable_classes"] == ["c2"]
    assert any(bool((t == 2).any()) for t in problem.targets)  # class 2 is in the ground truth ...
    assert method.results["per_class_IoU"]["c2"] == 0.0  # ... and never predicted


def test_upsampling_by_hand_on_a_tiny_grid():
    """2×2 grid, patch 2: bilinear (align_corners=False) rows are A·G·Aᵀ, cropped to the label."""
    grid = torch.tensor([[[1.0, 3.0], [5.0, 7.0]]])  # (K=1, 2, 2)
    a = torch.tensor([[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]])  # 2 → 4, edges clamp
    expected = a @ grid[0] @ a.T
    assert torch.allclose(upsample_logits(grid, 2, (4, 4))[0], expected)
    assert torch.allclose(upsample_logits(grid, 2, (3, 4))[0], expected[:3])  # cropped to the unpadded label
    with pytest.raises(InputError, match="larger than the padded feature grid"):
        upsample_logits(grid, 2, (5, 4))


def test_separable_upsampling_equals_interpolate_and_its_gradient():
    # The training path multiplies by interpolation matrices; F.interpolate is the reference.
    grid = torch.randn(5, 7, 3, dtype=torch.float32, requires_grad=True)
    reference = F.interpolate(grid[None], size=(7 * 16, 3 * 16), mode="bilinear", align_corners=False)[0]
    ours = upsample_logits(grid, 16, (100, 41))
    assert torch.allclose(ours, reference[:, :100, :41], atol=1e-6)
    weights = torch.randn(5, 100, 41)
    (ours_grad,) = torch.autograd.grad((ours * weights).sum(), grid)
    (reference_grad,) = torch.autograd.grad((reference[:, :100, :41] * weights).sum(), grid)
    assert torch.allclose(ours_grad, reference_grad, atol=1e-4)


def test_linear_patches_loss_is_computed_at_label_resolution():
    g = torch.Generator().manual_seed(0)
    features = F.normalize(torch.randn(2, 2, 3, generator=g), dim=-1)  # (h, w, D)
    weight, bias = torch.randn(2, 3, generator=g), torch.randn(2, generator=g)
    label = torch.tensor([[0, 0, 1, 1], [0, 1, 1, 255], [1, 1, 0, 0]])  # (3, 4): finer than the patches
    supported = torch.tensor([True, True])
    grid = torch.einsum("hwd,kd->khw", features, weight) + bias[:, None, None]
    a = torch.tensor([[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]])
    logits = torch.einsum("ih,khw,jw->kij", a, grid, a)[:, :3]  # by hand: (K, 3, 4)
    keep = label != 255
    expected = F.cross_entropy(logits.permute(1, 2, 0)[keep], label[keep])
    loss = pixel_loss([SupportPixels("s", features, label)], weight, bias, supported, patch_size=2)
    assert torch.allclose(loss, expected, atol=1e-6)
    # A label change inside one patch changes the loss: it is not a patch-level loss.
    other = label.clone()
    other[0, 0] = 1
    assert not torch.allclose(pixel_loss([SupportPixels("s", features, other)], weight, bias, supported, 2), loss)


def test_linear_patches_learns_separable_pixels_and_masks_missing_classes():
    problem = make_problem(seed=3, num_classes=4, support_images=3)
    items = [
        SupportPixels(f"s{i}", f, y)
        for i, (f, y) in enumerate(zip(problem.support_features, problem.support_labels, strict=True))
    ]
    present = sorted({int(c) for y in problem.support_labels for c in y.unique() if c != 255})
    head = fit_on_pixels(items, 5, PATCH, LinearTrainConfig(lr=0.05, steps=60, batch_size=2))  # class 4: none
    assert head.supported.tolist() == [c in present for c in range(5)]
    for f, y in zip(problem.support_features, problem.support_labels, strict=True):
        patch_labels = y[PATCH // 2 :: PATCH, PATCH // 2 :: PATCH]  # patch centres (the ignore row is an edge)
        predicted = head.probs(f.reshape(-1, f.shape[-1])).argmax(1).reshape(patch_labels.shape)
        assert torch.equal(predicted, patch_labels)


def test_linear_patches_needs_pixels_and_grows_them_with_dynamic_support():
    problem = make_problem(seed=3)
    names = [f"c{c}" for c in range(problem.num_classes)]
    method = build_method("linear_patches", names, PATCH, {"steps": 5})
    assert method.needs_support_pixels
    method.attach_support(bank_of(problem), problem.text)
    with pytest.raises(InputError, match="attach_support_pixels"):
        method.predict_probs(problem.queries[:1], ["q"])
    method.attach_support_pixels([SupportPixels("s0", problem.support_features[0], problem.support_labels[0])])
    first = method.fit_head()
    method.add_support_image("s1", problem.support_features[1], problem.support_labels[1])
    assert [i.image_id for i in method.support_pixels] == ["s0", "s1"] and method.head is None  # retrains
    assert not torch.equal(method.fit_head().weight, first.weight)


def test_training_is_seeded_and_options_are_typed():
    rows, labels = separable_rows()
    config = LinearTrainConfig(lr=0.05, steps=20, batch_size=5, init_seed=7)
    a, b = fit_on_rows(rows, labels, K, config), fit_on_rows(rows, labels, K, config)
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    with pytest.raises(ConfigError, match="valid options"):
        build_method("linear_class_features", ["a", "b"], PATCH, {"learning_rate": 0.1})
    with pytest.raises(ConfigError, match="batch_size"):
        LinearTrainConfig(batch_size=0)
    with pytest.raises(InputError, match="no labelled support pixel"):
        fit_on_pixels(
            [SupportPixels("s", torch.ones(1, 1, D), torch.full((PATCH, PATCH), 255))], K, PATCH, LinearTrainConfig()
        )


def test_a_head_reports_intermediate_heads_every_chunk():
    rows, labels = separable_rows()
    steps = []
    fit_on_rows(
        rows, labels, K, LinearTrainConfig(steps=30), report=lambda s, h: steps.append((s, type(h))), report_every=10
    )
    assert steps == [(10, LinearHead), (20, LinearHead), (30, LinearHead)]
