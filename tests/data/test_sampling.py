"""Tests of support sampling (protocol §2): hand-worked cases, properties, and a literal reference."""

from __future__ import annotations

import hashlib
import json

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rns_bench.core.errors import InputError
from rns_bench.data.sampling import SupportSplit, class_presence, draw_support, sample_pool, sample_support

FULL_SEEDS = (100, 18, 42, 84, 92, 256, 512, 1024)
# Every published seed (protocol §2: full and partial support, all datasets).
PUBLISHED_SEEDS = (100, 18, 42, 84, 92, 128, 256, 512, 1024, 2048, 5096, 8192, 16384, 32768, 65536, 131072)
SHOTS = (1, 2, 5, 10, 20)


def perm(n: int, seed: int) -> list[int]:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()


# --------------------------------------------------------------------------- literal reference
# Written straight from the text of protocol §2 steps 3-5 with plain Python lists, sharing no
# code with rns_bench.data.sampling.


def reference_support(rows: list[list[bool]], shots: int, seed: int) -> list[int]:
    num_classes = len(rows[0])
    order = torch.randperm(num_classes, generator=torch.Generator().manual_seed(seed)).tolist()
    count = [0] * num_classes
    selected: set[int] = set()
    for c in order:
        cand = [i for i, row in enumerate(rows) if row[c]]
        if not cand:
            raise RuntimeError(f"class {c} has no candidate")
        shuffle = torch.randperm(len(cand), generator=torch.Generator().manual_seed(seed)).tolist()
        cand = [cand[j] for j in shuffle]
        need = shots - count[c]
        if need <= 0:
            continue
        for i in cand[:need]:
            selected.add(i)
            for c2 in range(num_classes):
                if rows[i][c2]:
                    count[c2] += 1
    return sorted(selected)


def random_presence(rng: np.random.Generator, num_images: int, num_classes: int) -> np.ndarray:
    """Long-tailed presence: class frequencies from 0.3 down to about one image, no empty class."""
    freq = np.geomspace(0.3, 1.0 / num_images, num_classes)
    presence = rng.random((num_images, num_classes)) < rng.permutation(freq)
    for c in np.flatnonzero(~presence.any(axis=0)):
        presence[rng.integers(num_images), c] = True
    return presence


# --------------------------------------------------------------------------- hand-worked cases


def test_permutations_used_by_the_hand_worked_cases() -> None:
    # The cases below are worked out by hand from these torch permutations (printed once).
    assert perm(2, 0) == [0, 1] and perm(3, 0) == [2, 0, 1]
    assert perm(2, 1) == [1, 0] and perm(3, 1) == [1, 2, 0]


def test_hand_case_skip_rule() -> None:
    # img0 {0}, img1 {0, 1}, img2 {1, 2}, img3 {2};  B = 1, seed 0.
    presence = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 1], [0, 0, 1]], dtype=bool)
    # order = perm(3, 0) = [2, 0, 1]
    # c=2: cand [2, 3], perm(2, 0) = [0, 1] -> [2, 3]; need 1 -> take img2 {1, 2}; count = [0, 1, 1]
    # c=0: cand [0, 1] -> [0, 1]; need 1 -> take img0 {0};                     count = [1, 1, 1]
    # c=1: cand [1, 2]; need = 1 - 1 = 0 -> skipped (img1 is never drawn)
    selected, count = draw_support(presence, shots=1, seed=0)
    assert np.flatnonzero(selected).tolist() == [0, 2]
    assert count.tolist() == [1, 1, 1]
    assert sample_support(presence, shots=1, seed=0).tolist() == [0, 2]


def test_hand_case_double_count_quirk() -> None:
    # img0 {0, 1}, img1 {1, 2}, img2 {0, 2}, img3 {1};  B = 2, seed 1.
    presence = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1], [0, 1, 0]], dtype=bool)
    # order = perm(3, 1) = [1, 2, 0]
    # c=1: cand [0, 1, 3], perm(3, 1) = [1, 2, 0] -> [1, 3, 0]; need 2 -> take img1, img3; count = [0, 2, 1]
    # c=2: cand [1, 2],    perm(2, 1) = [1, 0]    -> [2, 1];    need 1 -> take img2;       count = [1, 2, 2]
    # c=0: cand [0, 2]                            -> [2, 0];    need 1 -> take img2 AGAIN: count = [2, 2, 3]
    # img2 is stored once, but counted twice: class 0 reaches its B = 2 counted hits with ONE
    # distinct support image although it has two candidates (img0 is never drawn).
    selected, count = draw_support(presence, shots=2, seed=1)
    assert np.flatnonzero(selected).tolist() == [1, 2, 3]
    assert count.tolist() == [2, 2, 3]
    distinct = presence[selected].sum(axis=0)
    assert distinct.tolist() == [1, 2, 2]  # < count[0]: the quirk
    assert sample_support(presence, shots=2, seed=1).tolist() == [1, 2, 3]


def test_hand_case_fewer_candidates_than_shots_takes_them_all() -> None:
    # img0 {0}, img1 {0, 1};  B = 5, seed 0. order = perm(2, 0) = [0, 1].
    # c=0: cand [0, 1] -> [0, 1]; need 5 -> take both;  count = [2, 1]
    # c=1: cand [1];      need 4 -> take img1 again;    count = [3, 2]
    presence = np.array([[1, 0], [1, 1]], dtype=bool)
    selected, count = draw_support(presence, shots=5, seed=0)
    assert np.flatnonzero(selected).tolist() == [0, 1]
    assert count.tolist() == [3, 2]


def test_result_is_in_pool_order_not_draw_order() -> None:
    # Same matrix as the double-count case: drawn in the order img1, img3, img2; returned ascending.
    presence = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1], [0, 1, 0]], dtype=bool)
    assert sample_support(presence, shots=2, seed=1).tolist() == [1, 2, 3]


def test_class_without_candidates_fails_naming_it() -> None:
    presence = np.array([[1, 0, 0], [1, 0, 1]], dtype=bool)
    with pytest.raises(InputError, match=r"'sofa' \(class index 1\).*support \(train\) split"):
        sample_support(presence, shots=1, seed=0, class_names=["cat", "sofa", "road"])
    with pytest.raises(InputError, match=r"class index 1"):
        sample_support(presence, shots=1, seed=0)


def test_hand_case_pool_order_is_numpy_draw_order() -> None:
    # np.random.seed(0); np.random.choice(6, 3, replace=False) -> [5, 2, 1] (printed once): unsorted.
    assert sample_pool(6, seed=0, cap=3).tolist() == [5, 2, 1]


# --------------------------------------------------------------------------- sample_pool


@pytest.mark.parametrize("num_images", [5001, 20210, 118287])
@pytest.mark.parametrize("seed", [100, 18, 42, 84, 0, 2**32 - 1])
def test_pool_equals_the_legacy_global_numpy_call(num_images: int, seed: int) -> None:
    np.random.seed(seed)
    expected = np.random.choice(num_images, 5000, replace=False)
    pool = sample_pool(num_images, seed)
    np.testing.assert_array_equal(pool, expected)  # same values in the same (unsorted) order
    assert pool.dtype == np.int64
    assert not np.all(np.diff(pool) > 0)


@pytest.mark.parametrize("num_images", [0, 1, 1464, 4998, 5000])
def test_pool_is_the_whole_split_in_file_order_up_to_the_cap(num_images: int) -> None:
    np.testing.assert_array_equal(sample_pool(num_images, seed=42), np.arange(num_images))


def test_pool_leaves_the_global_numpy_state_alone() -> None:
    np.random.seed(7)
    before = np.random.get_state()
    sample_pool(20210, seed=42)
    after = np.random.get_state()
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2:] == after[2:]
    np.random.seed(7)
    expected = np.random.rand()
    np.random.seed(7)
    sample_pool(20210, seed=42)
    assert np.random.rand() == expected


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_images": -1, "seed": 0}, "num_images"),
        ({"num_images": 10, "seed": -1}, "seed"),
        ({"num_images": 10, "seed": 2**32}, "seed"),
        ({"num_images": 10, "seed": 1.5}, "seed must be an integer"),
        ({"num_images": 10, "seed": 0, "cap": 0}, "cap"),
    ],
)
def test_pool_rejects_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        sample_pool(**kwargs)


# --------------------------------------------------------------------------- class_presence


def test_class_presence_counts_pixels_and_ignores_the_ignore_index() -> None:
    label = np.array([[0, 0, 255], [3, 255, 255]], dtype=np.uint8)
    assert class_presence(label, 4).tolist() == [True, False, False, True]
    assert class_presence(np.full((3, 3), 255), 2).tolist() == [False, False]
    assert class_presence(np.array([[1, -1]]), 2, ignore_index=-1).tolist() == [False, True]


@pytest.mark.parametrize(
    ("label", "match"),
    [
        (np.array([[0, 4]]), r"values \[4\] outside \[0, 4\)"),
        (np.array([[0, -2]]), r"values \[-2\]"),
        (np.zeros((2, 2, 3), dtype=int), "2-D"),
        (np.zeros((2, 2)), "integer"),
    ],
)
def test_class_presence_rejects_bad_labels(label: np.ndarray, match: str) -> None:
    with pytest.raises(InputError, match=match):
        class_presence(label, 4)


# --------------------------------------------------------------------------- input validation


@pytest.mark.parametrize(
    ("presence", "shots", "names", "match"),
    [
        (np.ones((2, 2), bool), 0, None, "shots must be >= 1"),
        (np.ones((2, 2), bool), True, None, "shots must be an integer"),
        (np.ones(4, bool), 1, None, "2-D"),
        (np.array([[0, 2], [1, 1]]), 1, None, "other than 0 and 1"),
        (np.array([["a"]]), 1, None, "dtype"),
        (np.ones((2, 2), bool), 1, ["a"], "1 names but presence has 2 classes"),
    ],
)
def test_sample_support_rejects_bad_inputs(presence: np.ndarray, shots: int, names, match: str) -> None:
    with pytest.raises(InputError, match=match):
        sample_support(presence, shots, seed=0, class_names=names)


def test_zero_one_numbers_are_accepted_as_presence() -> None:
    presence = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1], [0, 1, 0]])
    assert sample_support(presence, 2, 1).tolist() == sample_support(presence.astype(bool), 2, 1).tolist()
    assert sample_support(presence.astype(np.float32), 2, 1).tolist() == [1, 2, 3]


def test_sampling_leaves_the_global_torch_state_alone() -> None:
    torch.manual_seed(3)
    expected = torch.rand(1)
    torch.manual_seed(3)
    sample_support(random_presence(np.random.default_rng(0), 50, 10), 5, 42)
    assert torch.equal(torch.rand(1), expected)


# --------------------------------------------------------------------------- properties


@st.composite
def presence_matrices(draw: st.DrawFn) -> np.ndarray:
    """(P, K) bool with every class present in at least one image."""
    num_images = draw(st.integers(1, 12))
    num_classes = draw(st.integers(1, 6))
    presence = draw(hnp.arrays(np.bool_, (num_images, num_classes)))
    for c in np.flatnonzero(~presence.any(axis=0)):
        presence[draw(st.integers(0, num_images - 1)), c] = True
    return presence


SEEDS = st.integers(0, 2**32 - 1)
FAST = settings(max_examples=150, deadline=None)


@FAST
@given(presence=presence_matrices(), shots=st.integers(1, 6), seed=SEEDS)
def test_properties_of_the_support_set(presence: np.ndarray, shots: int, seed: int) -> None:
    support = sample_support(presence, shots, seed)
    selected, count = draw_support(presence, shots, seed)
    num_candidates = presence.sum(axis=0)
    distinct = presence[support].sum(axis=0)

    np.testing.assert_array_equal(support, sample_support(presence, shots, seed))  # deterministic
    np.testing.assert_array_equal(support, np.flatnonzero(selected))
    assert np.all(np.diff(support) > 0)  # sorted (= pool order) and unique
    assert presence[support].any(axis=1).all()  # every selected image contains some class
    assert len(support) <= presence.shape[1] * shots
    # Counted hits (re-drawn images counted again): every class reaches min(B, #candidates).
    # Distinct images do NOT obey that bound (see the double-count case); they only satisfy
    # 1 <= distinct[c] <= count[c], i.e. every class has at least one support image.
    assert np.all(count >= np.minimum(shots, num_candidates))
    assert np.all(distinct >= 1) and np.all(distinct <= count)


@FAST
@given(presence=presence_matrices(), shots=st.integers(1, 6), seed=SEEDS, data=st.data())
def test_a_class_without_candidates_raises_naming_it(
    presence: np.ndarray, shots: int, seed: int, data: st.DataObject
) -> None:
    empty = data.draw(st.integers(0, presence.shape[1] - 1))
    presence = presence.copy()
    presence[:, empty] = False
    names = [f"class_{c}" for c in range(presence.shape[1])]
    with pytest.raises(InputError, match=rf"'class_{empty}' \(class index {empty}\)"):
        sample_support(presence, shots, seed, class_names=names)


@FAST
@given(presence=presence_matrices(), shots=st.integers(1, 6), seed=SEEDS)
def test_equals_the_literal_reference_on_small_matrices(presence: np.ndarray, shots: int, seed: int) -> None:
    expected = reference_support(presence.tolist(), shots, seed)
    assert sample_support(presence, shots, seed).tolist() == expected


@pytest.mark.parametrize("seed", FULL_SEEDS)
@pytest.mark.parametrize(("num_images", "num_classes"), [(300, 21), (500, 60)])
def test_equals_the_literal_reference_on_protocol_seeds(seed: int, num_images: int, num_classes: int) -> None:
    presence = random_presence(np.random.default_rng(seed), num_images, num_classes)
    rows = presence.tolist()
    for shots in SHOTS:
        assert sample_support(presence, shots, seed).tolist() == reference_support(rows, shots, seed), shots


@pytest.mark.parametrize("seed", PUBLISHED_SEEDS)
def test_pool_and_draw_equal_the_authors_steps_on_a_split_larger_than_the_cap(seed: int) -> None:
    """Steps 1-5 end to end on an unseen 6000-image split: the legacy global numpy pool call,
    then the literal draw, mapped back to split indices."""
    presence = random_presence(np.random.default_rng(seed + 1), 6000, 12)
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        pool = np.random.choice(6000, 5000, replace=False)
    finally:
        np.random.set_state(state)
    for c in np.flatnonzero(~presence[pool].any(axis=0)):  # a class only outside the pool: give it one
        presence[pool[seed % 5000], c] = True
    rows = presence[pool].tolist()
    ours_pool = sample_pool(6000, seed)
    assert ours_pool.tolist() == pool.tolist()
    for shots in SHOTS:
        expected = [int(pool[i]) for i in reference_support(rows, shots, seed)]
        assert ours_pool[sample_support(presence[ours_pool], shots, seed)].tolist() == expected, shots


# --------------------------------------------------------------------------- SupportSplit


def test_split_json_round_trip_and_canonical_hash() -> None:
    split = SupportSplit(image_ids=("2008_000002", "2007_000033"), shots=1, seed=42, dataset="voc")
    canonical = (
        '{"dataset":"voc","image_ids":["2008_000002","2007_000033"],"protocol_version":"rns-v1","seed":42,"shots":1}'
    )
    assert split.sha256 == hashlib.sha256(canonical.encode()).hexdigest()
    text = split.to_json()
    assert json.loads(text)["sha256"] == split.sha256
    assert SupportSplit.from_json(text) == split
    assert SupportSplit(image_ids=["2008_000002", "2007_000033"], shots=1, seed=42, dataset="voc") == split
    reordered = SupportSplit(image_ids=("2007_000033", "2008_000002"), shots=1, seed=42, dataset="voc")
    assert reordered.sha256 != split.sha256  # pool order is part of the split


def test_split_from_json_rejects_edited_or_malformed_files() -> None:
    split = SupportSplit(image_ids=("a", "b"), shots=2, seed=18, dataset="ade")
    data = json.loads(split.to_json())
    with pytest.raises(InputError, match="sha256 mismatch"):
        SupportSplit.from_json(json.dumps({**data, "seed": 19}))
    with pytest.raises(InputError, match="unknown keys"):
        SupportSplit.from_json(json.dumps({**data, "extra": 1}))
    with pytest.raises(InputError, match="not valid JSON"):
        SupportSplit.from_json("{")
    with pytest.raises(InputError, match="distinct"):
        SupportSplit(image_ids=("a", "a"), shots=1, seed=0, dataset="voc")
    with pytest.raises(InputError, match="shots"):
        SupportSplit(image_ids=("a",), shots=0, seed=0, dataset="voc")
