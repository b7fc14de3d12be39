"""Every registered method honours the one interface: support in, probabilities and a record out."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
from synthetic_problem import PATCH, bank_of, make_problem
from torch.utils.data import DataLoader

from rns_bench.backbones import build_backbone
from rns_bench.core.errors import InputError, UnknownNameError
from rns_bench.methods import build_method, load_methods
from rns_bench.support.bank import SupportBank
from rns_bench.support.pixels import SupportPixels

GRID = 8  # test images are 8×8 patches (the problem's 64 queries per image)


def items_of(problem, with_regions: bool = False) -> list[dict]:
    items = []
    for i, (q, y) in enumerate(zip(problem.queries, problem.targets, strict=True)):
        label = y.reshape(GRID, GRID).repeat_interleave(PATCH, 0).repeat_interleave(PATCH, 1)
        item = {
            "image_id": f"test{i}",
            "features": q.reshape(GRID, GRID, -1),
            "resized_hw": (GRID * PATCH, GRID * PATCH),
            "label": label,
        }
        if with_regions:  # 2×2-patch blocks as region proposals
            blocks = torch.arange(GRID * GRID // 4).reshape(GRID // 2, GRID // 2)
            item["regions"] = blocks.repeat_interleave(2 * PATCH, 0).repeat_interleave(2 * PATCH, 1)
        items.append(item)
    return items


def pixels_of(problem) -> list[SupportPixels]:
    """The problem's support images as pixel-level support (labels at the features' resolution)."""
    return [
        SupportPixels(f"s{i}", f, y)
        for i, (f, y) in enumerate(zip(problem.support_features, problem.support_labels, strict=True))
    ]


def evaluate(method, items, batch_size: int) -> dict:
    trainer = L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    trainer.test(method, dataloaders=DataLoader(items, batch_size=batch_size, collate_fn=list), verbose=False)
    return method.results


@pytest.fixture(scope="module")
def problem():
    return make_problem(seed=3)


def adapt_to_random_images(method, problem) -> None:
    """Methods that finetune the encoder first see support images: random ones through a random
    backbone of the problem's width (the features they are then tested on are the problem's)."""
    backbone = build_backbone("random_vlm", dim=problem.support_features[0].shape[-1])
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (32, 48, 3), dtype=np.uint8) for _ in range(2)]
    labels = [rng.integers(0, problem.num_classes, (32, 48)).astype(np.uint8) for _ in range(2)]
    adapted = method.adapt_encoder(backbone, images, labels, None)
    assert adapted is not backbone and adapted.dim == backbone.dim


OPTIONS = {
    "rns": {"steps": 60},
    "finetune": {"steps": 2, "accelerator": "cpu"},
    "finetune_rns": {"steps": 2, "accelerator": "cpu", "rns": {"steps": 60}},
}


@pytest.mark.parametrize("name", sorted(load_methods().names()))
def test_method_contract(name, problem):
    names = [f"class{c}" for c in range(problem.num_classes)]
    method = build_method(name, names, PATCH, OPTIONS.get(name, {}))
    if method.needs_support_images:
        adapt_to_random_images(method, problem)
    else:
        with pytest.raises(InputError, match="does not adapt the encoder"):
            method.adapt_encoder(None, [], [], None)
    with pytest.raises(InputError, match="attach_support"):
        evaluate(method, items_of(problem), 2)
    with pytest.raises(InputError, match="give one per class"):
        method.attach_support(bank_of(problem), problem.text[:-1])
    method.attach_support(bank_of(problem), problem.text)
    if method.needs_support_pixels:  # offline pixel-level baselines also train on the label maps
        method.attach_support_pixels(pixels_of(problem))

    probs = method.predict_probs(problem.queries[:2], ["a", "b"])
    for p, q in zip(probs, problem.queries, strict=False):
        assert p.shape == (len(q), problem.num_classes)
        assert torch.all(p >= 0) and torch.allclose(p.sum(1), torch.ones(len(q)), atol=1e-5)

    one_by_one = evaluate(method, items_of(problem), batch_size=1)
    together = evaluate(method, items_of(problem), batch_size=4)
    assert one_by_one == together  # batching never changes a result
    assert set(together) >= {"mIoU", "aAcc", "per_class_IoU"}
    assert 0 <= together["mIoU"] <= 100 and list(together["per_class_IoU"]) == names

    broken = items_of(problem)[:2]
    broken[1] = {**broken[1], "features": broken[1]["features"].clone()}
    broken[1]["features"][0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="test features of image 'test1' contain NaN or inf"):
        evaluate(method, broken, batch_size=2)  # every method's guard, zero-shot's too


def test_unknown_method_lists_the_registered_ones():
    with pytest.raises(UnknownNameError, match="rns.*zero_shot"):
        build_method("rnss", ["a"], PATCH)


def test_region_mode_predicts_one_class_per_region(problem):
    method = build_method(
        "rns", [f"c{c}" for c in range(problem.num_classes)], PATCH, {"steps": 60}, query_mode="region"
    )
    method.attach_support(bank_of(problem), problem.text)
    item = items_of(problem, with_regions=True)[0]
    queries = method.queries_of(item)
    assert queries.shape == (GRID * GRID // 4, problem.dim)
    # A region's query is the normalised mean of its four patch features (spec §6).
    patches = item["features"][:2, :2].reshape(4, -1)
    assert torch.allclose(queries[0], torch.nn.functional.normalize(patches.mean(0), dim=0), atol=1e-6)
    label_map = method.label_map_of(item, method.predict_probs([queries], [item["image_id"]])[0])
    for region in item["regions"].unique():
        assert label_map[item["regions"] == region].unique().numel() == 1
    with pytest.raises(InputError, match="region proposals"):
        method.queries_of({**item, "regions": None})


def test_dynamic_support_growth_matches_a_bank_built_at_once(problem):
    # Class 5 appears only in support image 5 (see make_problem's quadrant layout).
    names = [f"c{c}" for c in range(problem.num_classes)]
    full = bank_of(problem)
    method = build_method("rns", names, PATCH, {"steps": 200})
    partial = type(full)(problem.num_classes, problem.dim)
    for i in range(5):
        partial.add_image(f"s{i}", problem.support_features[i], problem.support_labels[i], PATCH)
    method.attach_support(partial, problem.text)
    assert not bool(method.bank.supported[5])
    before = _class_accuracy(method, problem, 5)

    method.add_support_image("s5", problem.support_features[5], problem.support_labels[5])
    assert bool(method.bank.supported.all())
    assert torch.equal(method.bank.features, full.features) and torch.equal(method.bank.labels, full.labels)
    assert torch.allclose(method.bank.prototypes, full.prototypes)
    assert _class_accuracy(method, problem, 5) > before + 0.2


def _class_accuracy(method, problem, c: int) -> float:
    probs = method.predict_probs(problem.queries, [f"t{i}" for i in range(len(problem.queries))])
    hits = [(p.argmax(1) == c)[t == c] for p, t in zip(probs, problem.targets, strict=True)]
    return float(torch.cat(hits).float().mean())


def test_a_subset_without_classes_in_the_test_images_is_null_not_nan(problem):
    """Partial support with the unsupported classes absent from the test labels (a short test_limit):
    the record's U value is null (JSON has no NaN), S and A are numbers."""
    names = [f"class{c}" for c in range(problem.num_classes)]
    # closed vocabulary: the classes without support are never predicted either, so their IoU is NaN
    method = build_method("linear_class_features", names, PATCH, {"steps": 20})
    items = items_of(problem)
    present = sorted({int(c) for item in items for c in item["label"].unique()})
    absent = [c for c in range(problem.num_classes) if c not in present]
    for item in items:  # free a class from the test labels, then take its support away
        item["label"] = torch.where(item["label"] == present[-1], present[0], item["label"])
    gone = [present[-1], *absent]
    partial = SupportBank(problem.num_classes, problem.dim)
    for i, (f, y) in enumerate(zip(problem.support_features, problem.support_labels, strict=True)):
        partial.add_image(f"s{i}", f, torch.where(torch.isin(y, torch.tensor(gone)), 255, y), PATCH)
    assert not bool(partial.supported.all())
    method.attach_support(partial, problem.text)
    results = evaluate(method, items, batch_size=4)
    assert results["mIoU_unsupported"] is None
    assert isinstance(results["mIoU_supported"], float) and isinstance(results["mIoU"], float)
