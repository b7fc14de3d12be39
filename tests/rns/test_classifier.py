import dataclasses
import math

import pytest
import torch
from synthetic_problem import bank_of, make_problem

from rns_bench.core.errors import ConfigError
from rns_bench.rns import RNSConfig, classifier, predict, training_sets
from rns_bench.rns.classifier import init_weights, train_classifiers
from rns_bench.rns.reference import literal_training
from rns_bench.support.text import TextSupport


def test_init_is_kaiming_uniform_relu_fan_in():
    w = init_weights(150, 512, seed=3)
    bound = math.sqrt(6 / 512)
    assert w.abs().max() <= bound and w.abs().max() > 0.99 * bound
    assert torch.equal(w, init_weights(150, 512, seed=3))
    # torch's own kaiming_uniform_(nonlinearity="relu") on a (K, D) weight has the same bound
    ref = torch.empty(150, 512)
    torch.nn.init.kaiming_uniform_(ref, nonlinearity="relu")
    assert math.isclose(ref.abs().max().item(), bound, rel_tol=0.01)


def test_batched_training_equals_one_image_at_a_time():
    problem = make_problem(0, test_images=3)
    bank = bank_of(problem).without_classes([2])  # partial support: S is used too
    config = RNSConfig(steps=60)
    sets = training_sets(problem.queries, bank, TextSupport(problem.text, True), config, [0, 1, 2])
    assert any(s.num_pseudo for s in sets)
    weight, bias = train_classifiers(sets, [10, 11, 12], config)
    for i, s in enumerate(sets):
        w, b = literal_training(s, 10 + i, config)
        assert torch.allclose(weight[i], w, atol=2e-5) and torch.allclose(bias[i], b, atol=2e-5)


@pytest.mark.parametrize("slack", [0.0, 100.0], ids=["per_image_rows", "shared_table"])
def test_both_layouts_train_each_image_as_it_trains_alone(monkeypatch, slack):
    """The batch multiplies W by each image's own rows, or by one table of the batch's distinct rows
    (SHARED_TABLE_SLACK decides); either way every image gets its own literal training's result."""
    monkeypatch.setattr(classifier, "SHARED_TABLE_SLACK", slack)
    problem = make_problem(4, test_images=3)
    bank = bank_of(problem).without_classes([1])  # S rows: one image's own, never shared
    config = RNSConfig(steps=40)
    sets = training_sets(problem.queries, bank, TextSupport(problem.text, True), config, [0, 1, 2])
    assert any(s.num_pseudo for s in sets) and classifier._stack(sets, 6).shared == (slack > 1)
    weight, bias = train_classifiers(sets, [3, 4, 5], config)
    for i, s in enumerate(sets):
        w, b = literal_training(s, 3 + i, config)
        assert torch.allclose(weight[i], w, atol=2e-5) and torch.allclose(bias[i], b, atol=2e-5)


def test_a_batch_split_among_the_cores_trains_each_image_as_it_trains_alone(monkeypatch, torch_threads):
    torch_threads(2)
    problem = make_problem(5, test_images=5)
    bank = bank_of(problem).without_classes([1])
    config = RNSConfig(steps=40)
    sets = training_sets(problem.queries, bank, TextSupport(problem.text, True), config, list(range(5)))
    assert classifier._parts(sets) == [slice(0, 5)]  # tiny sets: too little work per thread to split
    monkeypatch.setattr(classifier, "MIN_WORK_PER_THREAD", 1)
    assert classifier._parts(sets) == [slice(0, 2), slice(2, 5)]
    weight, bias = train_classifiers(sets, [7, 8, 9, 10, 11], config)
    assert torch.get_num_threads() == 2
    with torch.inference_mode():  # as Lightning predicts: the worker threads are outside that mode
        assert torch.equal(train_classifiers(sets, [7, 8, 9, 10, 11], config)[0], weight)
    for i, s in enumerate(sets):
        w, b = literal_training(s, 7 + i, config)
        assert torch.allclose(weight[i], w, atol=2e-5) and torch.allclose(bias[i], b, atol=2e-5)


@pytest.mark.parametrize("seed, same_prototypes", [(0, True), (2, False)])
def test_prototypes_every_image_derives_alike_are_derived_once_for_the_batch(monkeypatch, seed, same_prototypes):
    """A shared table whose derived p_c are the same sums in every image sums them for all images at
    once; images retrieving different rows derive their own. Both train as literally."""
    monkeypatch.setattr(classifier, "SHARED_TABLE_SLACK", 100.0)
    problem = make_problem(seed, test_images=3)
    config = RNSConfig(steps=40)
    sets = training_sets(problem.queries, bank_of(problem), TextSupport(problem.text, True), config, [0, 1, 2])
    st = classifier._stack(sets, 6)
    assert st.shared and (st.derivation is not None) == same_prototypes
    if same_prototypes:  # the sums give each image's prototypes from the table's rows
        d = st.derivation
        derived = st.rows.new_zeros(d.rows, st.rows.shape[1]).index_add_(0, d.target, d.coef * st.rows[d.source])
        assert torch.allclose(derived, sets[0].table()[len(sets[0].base) :], atol=1e-6)
    weight, bias = train_classifiers(sets, [3, 4, 5], config)
    for i, s in enumerate(sets):
        w, b = literal_training(s, 3 + i, config)
        assert torch.allclose(weight[i], w, atol=2e-5) and torch.allclose(bias[i], b, atol=2e-5)


def test_the_shared_table_holds_each_distinct_row_once_and_only_when_it_pays():
    problem = make_problem(5, test_images=4)
    bank, text = bank_of(problem), TextSupport(problem.text, True)
    sets = training_sets(problem.queries, bank, text, RNSConfig(), [0, 1, 2, 3])
    table, positions = classifier._shared_rows(sets)
    distinct = torch.unique(torch.cat([s.keys for s in sets]))
    assert bool((distinct >= 0).all()) and len(table) == len(distinct) <= max(len(s.base) for s in sets) * 1.25
    for s, position in zip(sets, positions, strict=True):
        assert torch.equal(table[position], s.base)
    # rows of one key that are different vectors (sets from two banks) are never shared
    other = training_sets(problem.queries[:1], bank_of(make_problem(6, test_images=1)), text, RNSConfig(), [0])
    assert classifier._shared_rows([sets[0], other[0]]) is None
    # images with no row in common: a table twice any image's rows is not worth it
    disjoint = dataclasses.replace(sets[1], keys=sets[1].keys + 10**6)
    assert classifier._shared_rows([sets[0], disjoint]) is None
    assert classifier._shared_rows([sets[0], sets[1]]) is not None


def test_predictions_do_not_depend_on_batching():
    problem = make_problem(1, test_images=3)
    bank = bank_of(problem)
    config = RNSConfig(steps=50)
    together = predict(problem.queries, bank, problem.text, config, seeds=[5, 6, 7])
    alone = [predict(q, bank, problem.text, config, seeds=[s]) for q, s in zip(problem.queries, [5, 6, 7], strict=True)]
    for a, b in zip(together, alone, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
        assert torch.allclose(a.sum(1), torch.ones(len(a)))


@pytest.mark.parametrize("slack", [0.0, 100.0], ids=["per_image_rows", "shared_table"])
def test_bf16_products_move_the_weights_slightly_and_label_the_queries_as_float32_does(monkeypatch, slack):
    monkeypatch.setattr(classifier, "SHARED_TABLE_SLACK", slack)
    problem = make_problem(2, test_images=2)
    bank = bank_of(problem).without_classes([1])
    exact = predict(problem.queries, bank, problem.text, RNSConfig(steps=60), seeds=[3, 4])
    low = predict(problem.queries, bank, problem.text, RNSConfig(steps=60, matmul_precision="bf16"), seeds=[3, 4])
    for a, b in zip(exact, low, strict=True):
        assert not torch.equal(a, b)  # the option is really used
        assert (a - b).abs().max() < 0.05
        assert (a.argmax(1) == b.argmax(1)).float().mean() > 0.95


def test_tf32_is_scoped_to_the_training_and_an_unknown_precision_is_refused():
    problem = make_problem(3, test_images=1)
    before = torch.get_float32_matmul_precision()
    predict(problem.queries, bank_of(problem), problem.text, RNSConfig(steps=5, matmul_precision="tf32"), seeds=[0])
    assert torch.get_float32_matmul_precision() == before
    try:
        RNSConfig(matmul_precision="fp8")
    except ConfigError as error:
        assert "matmul_precision" in str(error) and "bf16" in str(error)
    else:
        raise AssertionError("fp8 was accepted")


@pytest.mark.parametrize("fused", [True, False], ids=["fused_kernel", "functional"])
def test_the_update_is_torch_optim_adamw_with_the_spec_settings(fused):
    config = RNSConfig()
    torch.manual_seed(0)
    ours = [torch.randn(3, 4, 8), torch.randn(3, 4)]
    theirs = [p.clone().requires_grad_() for p in ours]
    start = [p.clone() for p in ours]
    for p in ours:
        p.grad = torch.empty_like(p)
    update = classifier.AdamW(ours, config)
    update.fused = fused
    reference = torch.optim.AdamW(theirs, lr=config.lr, weight_decay=config.weight_decay, betas=config.betas)
    for _ in range(12):
        grads = [torch.randn_like(p) for p in ours]
        for p, q, g in zip(ours, theirs, grads, strict=True):
            p.grad.copy_(g)
            q.grad = g.clone()
        update.step()
        reference.step()
    for p, q, p0 in zip(ours, theirs, start, strict=True):
        assert torch.allclose(p, q.detach(), atol=1e-6) and (p - p0).abs().max() > 1e-2
