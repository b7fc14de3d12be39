"""Hand-checkable properties of the RNS training set (rns spec §3–§4, §9)."""

import pytest
import torch
import torch.nn.functional as F
from synthetic_problem import bank_of, make_problem

from rns_bench.core.errors import ConfigError, InputError
from rns_bench.methods import build_method
from rns_bench.rns import RNSConfig, predict, training_sets
from rns_bench.rns.training_set import relevance_weights
from rns_bench.support.bank import SupportBank
from rns_bench.support.text import TextSupport


def sets_for(problem, bank, config=RNSConfig(), text=True, available=None):
    support = TextSupport.from_features(problem.text, available) if text else None
    return training_sets(problem.queries, bank, support, config, seeds=list(range(len(problem.queries))))


def test_full_support_has_u_and_six_fused_per_retrieved_class_and_no_pseudo_labels():
    problem = make_problem(0)
    bank = bank_of(problem)
    for q, s in zip(problem.queries, sets_for(problem, bank), strict=True):
        # U = distinct union of each query's 4 nearest rows
        knn = torch.topk(q @ bank.features.T, 4, dim=1).indices.unique()
        assert s.num_retrieved == len(knn)
        assert torch.equal(s.features[: s.num_retrieved], bank.features[knn])
        retrieved_classes = bank.labels[knn].unique()
        assert s.num_fused == 6 * len(retrieved_classes)
        assert s.num_pseudo == 0  # full visual support → S is empty
        # the fused feature of (c, α) is normalize(α p_c + (1−α) t_c)
        c = int(retrieved_classes[0])
        f = s.features[s.num_retrieved]
        assert torch.allclose(f, F.normalize(0.9 * bank.prototypes[c] + 0.1 * problem.text[c], dim=0), atol=1e-6)
        assert torch.allclose(s.features[s.num_retrieved + 5], problem.text[c], atol=1e-6)  # α = 0


def test_sample_weights_sum_to_one_with_set_factors():
    problem = make_problem(1)
    config = RNSConfig()
    for s in sets_for(problem, bank_of(problem), config):
        n = len(s.features)
        beta = torch.cat(
            [
                torch.ones(s.num_retrieved),
                torch.full((s.num_fused,), config.beta_f),
                torch.full((s.num_pseudo,), config.beta_p),
            ]
        )
        w = s.scale * n / beta  # undo the set factor and the mean → the normalised r_label weights
        assert torch.isclose(w.sum(), torch.tensor(1.0), atol=1e-5)


def test_relevance_weights_are_softmax_of_tau_times_image_text_similarity():
    problem = make_problem(2)
    q = problem.queries[0]
    r = relevance_weights(q, TextSupport(problem.text, True), problem.num_classes, RNSConfig())
    g = F.normalize(q.mean(0), dim=0)
    assert torch.allclose(r, torch.softmax(10.0 * problem.text @ g, dim=0))
    uniform = relevance_weights(q, TextSupport(problem.text, False), problem.num_classes, RNSConfig())
    assert torch.allclose(uniform, torch.full((problem.num_classes,), 1 / problem.num_classes))


def test_partial_visual_support_adds_pseudo_labels_only_for_unsupported_zero_shot_classes():
    problem = make_problem(3)
    bank = bank_of(problem).without_classes([0, 1, 2])
    for q, s in zip(problem.queries, sets_for(problem, bank), strict=True):
        zero_shot = (q @ problem.text.T).argmax(1).unique().tolist()
        unsupported = [c for c in zero_shot if c in (0, 1, 2)]
        assert s.num_pseudo == 6 * len(unsupported)
        assert not bool(torch.isin(bank.labels, torch.tensor([0, 1, 2])).any())
        soft = s.targets[-s.num_pseudo :] if s.num_pseudo else torch.empty(0, problem.num_classes)
        assert torch.allclose(soft.sum(1), torch.ones(len(soft)))


def test_partial_textual_support_replaces_missing_names_by_mean_text():
    problem = make_problem(4)
    available = torch.ones(problem.num_classes, dtype=torch.bool)
    available[[1, 3]] = False
    support = TextSupport.from_features(problem.text, available)
    filler = F.normalize(problem.text[available].mean(0), dim=0)
    assert torch.allclose(support.features[1], filler) and torch.allclose(support.features[3], filler)
    assert torch.equal(support.features[0], problem.text[0]) and not support.complete


def test_no_text_trains_on_retrieved_rows_only():
    problem = make_problem(5)
    for s in sets_for(problem, bank_of(problem), text=False):
        assert s.num_fused == 0 and s.num_pseudo == 0 and len(s.features) == s.num_retrieved
    for s in sets_for(problem, bank_of(problem), RNSConfig(use_text=False)):
        assert s.num_fused == 0 and s.num_pseudo == 0


def test_single_alpha_ablation_and_k():
    problem = make_problem(6)
    bank = bank_of(problem)
    for s in sets_for(problem, bank, RNSConfig(alphas=(0.8,), k=1)):
        assert s.num_fused == len(s.targets[: s.num_retrieved].argmax(1).unique())


@pytest.mark.parametrize("variant", ["random", "class_rows", "random_class_rows", "furthest_class_rows"])
def test_retrieval_variants(variant):
    problem = make_problem(7)
    bank = bank_of(problem)
    knn_sets = sets_for(problem, bank)
    for knn, s in zip(knn_sets, sets_for(problem, bank, RNSConfig(retrieval=variant)), strict=True):
        knn_classes = knn.targets[: knn.num_retrieved].argmax(1).unique()
        got_classes = s.targets[: s.num_retrieved].argmax(1).unique()
        if variant in ("random", "random_class_rows"):
            assert s.num_retrieved == knn.num_retrieved
        if variant == "class_rows":
            assert s.num_retrieved == int(torch.isin(bank.labels, knn_classes).sum())
        if variant != "random":
            assert set(got_classes.tolist()) <= set(knn_classes.tolist())


def test_bad_inputs_are_clear_errors():
    problem = make_problem(8)
    bank = bank_of(problem)
    with pytest.raises(InputError, match=r"expected \(K, D\)"):
        predict(problem.queries[0], bank, problem.text[:-1])
    with pytest.raises(InputError, match="NaN"):
        predict(torch.full_like(problem.queries[0], float("nan")), bank, problem.text)
    with pytest.raises(InputError, match="empty"):
        predict(problem.queries[0], SupportBank(problem.num_classes, problem.dim), problem.text)
    with pytest.raises(InputError, match=r"expected \(N, 32\)"):
        predict(torch.zeros(5, 7), bank, problem.text)
    with pytest.raises(ConfigError, match=r"unknown rns option\(s\) \['kk'\]"):
        build_method("rns", ["a", "b"], 16, {"kk": 3})
    with pytest.raises(ConfigError, match="retrieval"):
        RNSConfig(retrieval="nearest")


def _one_class_bank_and_axis_text():
    """K = 3 classes on the axes of R³: the bank holds one row (class 0, feature e0); t_c = e_c."""
    bank = SupportBank(num_classes=3, dim=3)
    bank.add_image("only_class_0", torch.eye(3)[0].view(1, 1, 3), torch.zeros(16, 16, dtype=torch.long), patch_size=16)
    return bank, torch.eye(3)


def test_wo_text_under_partial_visual_support_keeps_pseudo_labels_as_the_release():
    """Release "w/o text" (use_text=False): no F, uniform r, but S from the text (spec §5); the
    paper's wording (text_free) has no S. Queries e0, e1: ŷ = (0, 1), class 1 has no support, so
    S = 6 copies of h = normalize(α e1 + (1−α) e1) = e1 with target softmax(100·(0, 1, 0))."""
    bank, text = _one_class_bank_and_axis_text()
    queries = torch.eye(3)[:2]
    support = TextSupport(text, True)
    (release,) = training_sets([queries], bank, support, RNSConfig(use_text=False), seeds=[0])
    (literal,) = training_sets([queries], bank, support, RNSConfig(use_text=False, text_free=True), seeds=[0])
    assert (release.num_retrieved, release.num_fused, release.num_pseudo) == (1, 0, 6)
    assert torch.allclose(release.features[1:], torch.eye(3)[1].expand(6, 3))
    assert torch.allclose(release.targets[1:], torch.softmax(100 * torch.eye(3)[1], dim=0).expand(6, 3))
    # Uniform r: every sample weighs 1/7 after normalisation; scale = β · w / N with N = 7.
    expected = torch.tensor([1.0] + [0.2] * 6) / 7 / 7
    assert torch.allclose(release.scale, expected)
    assert (literal.num_retrieved, literal.num_fused, literal.num_pseudo) == (1, 0, 0)
    # The release then predicts the unsupported class for the e1 query; the literal reading cannot.
    release_probs = predict(queries, bank, text, RNSConfig(use_text=False))
    literal_probs = predict(queries, bank, text, RNSConfig(use_text=False, text_free=True))
    assert release_probs.argmax(1).tolist() == [0, 1]
    assert literal_probs.argmax(1).tolist() == [0, 0]
    # No text given at all is the literal reading too.
    assert torch.equal(predict(queries, bank, None), literal_probs)


def test_text_free_needs_use_text_false():
    with pytest.raises(ConfigError, match="text_free=true.*use_text=false"):
        RNSConfig(text_free=True)
