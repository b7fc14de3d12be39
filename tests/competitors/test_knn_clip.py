"""kNN-CLIP (baselines/knn_clip.py): hand-checked votes, the confidence gate, the w/o-text variant."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from synthetic_problem import PATCH, bank_of, make_problem

from baselines.knn_clip import KNNCLIPConfig, gated_fusion, knn_clip_predict, knn_vote
from rns_bench.core.errors import ConfigError, InputError
from rns_bench.methods import build_method
from rns_bench.support.bank import SupportBank


def tiny_bank() -> SupportBank:
    """Five rows in the plane (D = 2, K = 3) at known angles from the query direction (1, 0)."""
    angles = torch.tensor([0.1, 0.3, 0.5, 1.2, 1.4])  # cosines to (1, 0): .995, .955, .878, .362, .170
    rows = torch.stack([angles.cos(), angles.sin()], dim=1)
    bank = SupportBank(num_classes=3, dim=2)
    bank.add_rows(rows, torch.tensor([0, 1, 1, 2, 0]), [f"s{i}" for i in range(5)])
    return bank


QUERY = torch.tensor([[1.0, 0.0]])
COS = torch.tensor([0.1, 0.3, 0.5, 1.2, 1.4]).cos()


def test_uniform_and_similarity_votes_by_hand():
    bank = tiny_bank()
    # k = 3: rows 0 (class 0), 1 and 2 (class 1).
    uniform = knn_vote(QUERY, bank.features, bank.labels, 3, k=3, weighting="uniform")
    assert torch.allclose(uniform, torch.tensor([[1 / 3, 2 / 3, 0.0]]))
    similarity = knn_vote(QUERY, bank.features, bank.labels, 3, k=3, weighting="similarity")
    s = COS[:3]
    assert torch.allclose(similarity, torch.tensor([[s[0], s[1] + s[2], 0.0]]) / s.sum(), atol=1e-6)
    softmax = knn_vote(QUERY, bank.features, bank.labels, 3, k=3, weighting="softmax", temperature=0.1)
    w = torch.softmax(s / 0.1, dim=0)
    assert torch.allclose(softmax, torch.tensor([[w[0], w[1] + w[2], 0.0]]), atol=1e-6)


def test_k_larger_than_the_bank_lets_every_row_vote():
    bank = tiny_bank()
    votes = knn_vote(QUERY, bank.features, bank.labels, 3, k=50, weighting="uniform")
    assert torch.allclose(votes, torch.tensor([[2 / 5, 2 / 5, 1 / 5]]))


def test_rows_tied_with_the_kth_all_vote_whatever_their_order():
    rows = F.normalize(torch.tensor([[1.0, 0.0], [1.0, 1.0], [1.0, 1.0], [0.0, 1.0]]), dim=1)
    labels = torch.tensor([0, 1, 2, 2])
    votes = knn_vote(QUERY, rows, labels, 3, k=2, weighting="uniform")
    assert torch.allclose(votes, torch.tensor([[1 / 3, 1 / 3, 1 / 3]]))  # rows 1 and 2 tie for 2nd place
    flipped = knn_vote(QUERY, rows.flip(0), labels.flip(0), 3, k=2, weighting="uniform")
    assert torch.equal(votes, flipped)


def test_threshold_one_and_lambda_one_is_the_pure_knn_vote():
    bank, text = tiny_bank(), F.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), dim=1)
    probs = knn_clip_predict(QUERY, bank, text, KNNCLIPConfig(k=4, threshold=1.0, fusion_weight=1.0))
    s = COS[:4]  # rows 0..3: classes 0, 1, 1, 2
    assert torch.allclose(probs, torch.tensor([[s[0], s[1] + s[2], s[3]]]) / s.sum(), atol=1e-6)
    wo_text = knn_clip_predict(QUERY, bank, None, KNNCLIPConfig(k=4, use_text=False))
    assert torch.allclose(probs, wo_text)


def test_the_gate_keeps_confident_zero_shot_exactly_and_fuses_the_rest():
    p_zs = torch.tensor([[0.9, 0.05, 0.05], [0.4, 0.35, 0.25]])
    p_ret = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    fused = gated_fusion(p_zs, p_ret, threshold=0.7, fusion_weight=0.6)
    assert torch.equal(fused[0], p_zs[0])  # max 0.9 ≥ T: zero-shot untouched
    assert torch.allclose(fused[1], 0.6 * p_ret[1] + 0.4 * p_zs[1])
    # T = 1 opens the gate even where the float32 softmax is exactly 1.
    assert torch.equal(
        gated_fusion(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]), 1.0, 1.0), torch.tensor([[0.0, 1.0]])
    )


def test_missing_names_follow_the_named_policy():
    bank = tiny_bank()
    text = F.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), dim=1)
    available = torch.tensor([True, True, False])
    q = F.normalize(torch.tensor([[1.0, 1.0]]), dim=1)  # closest to class 2's (hidden) name
    no_mass = KNNCLIPConfig(threshold=0.0, missing_text="no_zero_shot_mass")  # gate shut: P = P_zs
    assert knn_clip_predict(q, bank, text, no_mass, available)[0, 2] == 0
    mean_text = KNNCLIPConfig(threshold=0.0)  # class 2's text := normalize(t0 + t1), the direction of q
    assert knn_clip_predict(q, bank, text, mean_text, available).argmax() == 2


def test_unknown_option_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="valid options.*fusion_weight.*threshold"):
        build_method("knn_clip", ["a", "b"], PATCH, {"treshold": 0.5})
    with pytest.raises(ConfigError, match="uniform"):
        KNNCLIPConfig(vote_weighting="majority")


def test_text_is_required_unless_wo_text():
    problem = make_problem(seed=1)
    method = build_method("knn_clip", [f"c{c}" for c in range(problem.num_classes)], PATCH)
    with pytest.raises(InputError, match="use_text: false"):
        method.attach_support(bank_of(problem), None)
    wo_text = build_method("knn_clip", [f"c{c}" for c in range(problem.num_classes)], PATCH, {"use_text": False})
    wo_text.attach_support(bank_of(problem), None)
    probs = wo_text.predict_probs(problem.queries[:1], ["t0"])[0]
    assert probs.shape == (len(problem.queries[0]), problem.num_classes)


def region_item(queries: torch.Tensor, grid: int = 8) -> dict:
    """A test item of grid × grid patches whose regions are 2 × 2-patch blocks (as the contract test)."""
    blocks = torch.arange(grid * grid // 4).reshape(grid // 2, grid // 2)
    return {
        "image_id": "t0",
        "features": queries.reshape(grid, grid, -1),
        "resized_hw": (grid * PATCH, grid * PATCH),
        "label": torch.zeros(grid * PATCH, grid * PATCH, dtype=torch.long),
        "regions": blocks.repeat_interleave(2 * PATCH, 0).repeat_interleave(2 * PATCH, 1),
    }


def test_region_mode_predicts_one_class_per_region():
    problem = make_problem(seed=3)
    method = build_method("knn_clip", [f"c{c}" for c in range(problem.num_classes)], PATCH, query_mode="region")
    method.attach_support(bank_of(problem), problem.text)
    item = region_item(problem.queries[0])
    probs = method.predict_probs([method.queries_of(item)], [item["image_id"]])[0]
    assert probs.shape == (16, problem.num_classes)
    label_map = method.label_map_of(item, probs)
    for region in item["regions"].unique():
        assert label_map[item["regions"] == region].unique().numel() == 1


@pytest.mark.parametrize("row", ["knn_clip", "knn_clip_wo_text"])
def test_config_rows_build(row):
    from hydra import compose, initialize_config_dir

    from rns_bench.core.paths import CONFIG_DIR
    from rns_bench.runs.config import method_row

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        spec = method_row(compose("bench"), row)  # configs/method/<row>.yaml as the sweep composes it
    method = build_method(spec.method, ["a", "b"], PATCH, spec.options)
    assert method.config.use_text == (row == "knn_clip")
