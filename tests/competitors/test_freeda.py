"""FREEDA (baselines/freeda.py): local prototype scores, the broadcast global text term, w/o text."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from synthetic_problem import PATCH, bank_of, make_problem

from baselines.freeda import FreeDAConfig, freeda_predict, global_scores
from rns_bench.core.errors import ConfigError, InputError
from rns_bench.methods import build_method
from rns_bench.support.bank import SupportBank

TEXT = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # t_0, t_1
QUERIES = torch.tensor([[1.0, 0.0], [0.6, 0.8]])  # g = normalize((0.8, 0.4)) = (2, 1)/√5


def two_class_bank() -> SupportBank:
    """Class 0: two rows whose mean points along (1, 0); class 1: one row (0, 1)."""
    bank = SupportBank(num_classes=2, dim=2)
    rows = F.normalize(torch.tensor([[1.0, 0.3], [1.0, -0.3], [0.0, 1.0]]), dim=1)
    bank.add_rows(rows, torch.tensor([0, 0, 1]), ["s0", "s1", "s2"])
    return bank


def test_global_term_by_hand_on_two_classes():
    g = torch.tensor([2.0, 1.0]) / math.sqrt(5)
    assert torch.allclose(global_scores(QUERIES, TEXT), g.expand(2, 2))  # broadcast: the same row per query
    local = torch.tensor([[1.0, 0.0], [0.6, 0.8]])  # prototypes are (1, 0) and (0, 1)
    for alpha, winner in ((0.8, 1), (0.5, 0)):  # query 2: local favours class 1, the image prior class 0
        probs = freeda_predict(QUERIES, two_class_bank(), TEXT, FreeDAConfig(alpha=alpha))
        expected = torch.softmax(100 * (alpha * local + (1 - alpha) * g), dim=-1)
        assert torch.allclose(probs, expected, atol=1e-5)
        assert int(probs[1].argmax()) == winner


def test_alpha_one_ignores_the_text():
    bank = two_class_bank()
    other_text = F.normalize(torch.tensor([[0.0, 1.0], [1.0, 1.0]]), dim=1)
    one = freeda_predict(QUERIES, bank, TEXT, FreeDAConfig(alpha=1.0))
    assert torch.equal(one, freeda_predict(QUERIES, bank, other_text, FreeDAConfig(alpha=1.0)))
    assert torch.equal(one, freeda_predict(QUERIES, bank, None, FreeDAConfig(use_text=False)))
    assert not torch.equal(freeda_predict(QUERIES, bank, TEXT), freeda_predict(QUERIES, bank, other_text))


def test_wo_text_method_needs_no_text():
    problem = make_problem(seed=1)
    names = [f"c{c}" for c in range(problem.num_classes)]
    with pytest.raises(InputError, match="use_text: false"):
        build_method("freeda", names, PATCH).attach_support(bank_of(problem), None)
    wo_text = build_method("freeda", names, PATCH, {"use_text": False})
    wo_text.attach_support(bank_of(problem), None)
    assert wo_text.predict_probs(problem.queries[:1], ["t0"])[0].shape == (len(problem.queries[0]), 6)


def test_classes_without_visual_support_take_the_named_local_score():
    bank = two_class_bank().without_classes([1])
    q = torch.tensor([[0.0, 1.0]])  # orthogonal to class 0's prototype, on class 1's name
    for policy, local_1 in (("zero", 0.0), ("min", -1.0)):
        probs = freeda_predict(q, bank, TEXT, FreeDAConfig(unsupported_local=policy))
        score = torch.tensor([0.0, local_1]) * 0.8 + 0.2 * torch.tensor([0.0, 1.0])  # g = q
        assert torch.allclose(probs, torch.softmax(100 * score, dim=-1)[None], atol=1e-5)


def test_missing_names_follow_the_named_policy():
    bank = two_class_bank()
    available = torch.tensor([True, False])
    g = torch.tensor([2.0, 1.0]) / math.sqrt(5)
    local = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    zero = freeda_predict(QUERIES, bank, TEXT, FreeDAConfig(alpha=0.5, missing_text="zero"), available)
    assert torch.allclose(zero, torch.softmax(100 * (0.5 * local + 0.5 * torch.stack([g[0], g[0] * 0])), -1))
    mean = freeda_predict(QUERIES, bank, TEXT, FreeDAConfig(alpha=0.5), available)  # t_1 := t_0
    assert torch.allclose(mean, torch.softmax(100 * (0.5 * local + 0.5 * g[0]), -1), atol=1e-5)


def test_unknown_option_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="valid options.*alpha.*global_feature"):
        build_method("freeda", ["a", "b"], PATCH, {"alpa": 0.5})
    with pytest.raises(ConfigError, match="image_mean"):
        FreeDAConfig(global_feature="cls")


def test_region_mode_uses_regions_as_superpixels():
    problem = make_problem(seed=3)
    method = build_method("freeda", [f"c{c}" for c in range(problem.num_classes)], PATCH, query_mode="region")
    method.attach_support(bank_of(problem), problem.text)
    blocks = torch.arange(16).reshape(4, 4)
    item = {
        "image_id": "t0",
        "features": problem.queries[0].reshape(8, 8, -1),
        "resized_hw": (8 * PATCH, 8 * PATCH),
        "label": torch.zeros(8 * PATCH, 8 * PATCH, dtype=torch.long),
        "regions": blocks.repeat_interleave(2 * PATCH, 0).repeat_interleave(2 * PATCH, 1),
    }
    regions = method.queries_of(item)
    probs = method.predict_probs([regions], ["t0"])[0]
    assert torch.allclose(probs, freeda_predict(regions, method.bank, problem.text))  # regions are the queries
    label_map = method.label_map_of(item, probs)
    for region in item["regions"].unique():
        assert label_map[item["regions"] == region].unique().numel() == 1


@pytest.mark.parametrize("row", ["freeda", "freeda_wo_text"])
def test_config_rows_build(row):
    from hydra import compose, initialize_config_dir

    from rns_bench.core.paths import CONFIG_DIR
    from rns_bench.runs.config import method_row

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        spec = method_row(compose("bench"), row)  # configs/method/<row>.yaml as the sweep composes it
    method = build_method(spec.method, ["a", "b"], PATCH, spec.options)
    assert method.config.effective_alpha == (0.8 if row == "freeda" else 1.0)
