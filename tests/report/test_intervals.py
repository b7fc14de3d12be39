"""The 95 % interval of a cell, pinned on cases worked by hand with the t table's values."""

from __future__ import annotations

import math

import pytest

from rns_bench.report.intervals import seed_spread, spread_over_datasets, t_quantile


@pytest.mark.parametrize(("seeds", "table_value"), [(2, 12.706), (3, 4.303), (4, 3.182), (5, 2.776), (8, 2.365)])
def test_the_t_quantile_is_the_tables(seeds, table_value):
    assert t_quantile(seeds - 1) == pytest.approx(table_value, abs=5e-4)


def test_two_seeds_give_the_mean_plus_minus_t1_times_the_standard_error():
    spread = seed_spread([40.0, 44.0])  # std √8, standard error √8 / √2 = 2
    assert spread.mean == 42.0 and spread.std == pytest.approx(math.sqrt(8))
    assert (spread.low, spread.high) == pytest.approx((42 - 12.7062 * 2, 42 + 12.7062 * 2), abs=1e-3)
    assert spread.seeds_text == "2"


def test_five_seeds():
    spread = seed_spread([50.0, 52.0, 54.0, 56.0, 58.0])  # std √10, standard error √2
    assert spread.std == pytest.approx(math.sqrt(10))
    assert (spread.low, spread.high) == pytest.approx(
        (54 - 2.7764 * math.sqrt(2), 54 + 2.7764 * math.sqrt(2)), abs=1e-3
    )


def test_a_mean_over_datasets_combines_their_standard_errors():
    # Two datasets of two seeds, each of variance 8: standard error √(8/2 + 8/2) / 2 = √2, Welch–Satterthwaite
    # degrees of freedom (4 + 4)² / (4² + 4²) = 2, t(0.975, 2) = 4.3027; std √(8 + 8) / 2 = 2.
    spread = spread_over_datasets({"voc": [40.0, 44.0], "ade": [20.0, 24.0]})
    assert spread.mean == 32.0 and spread.std == pytest.approx(2.0)
    half = 4.3027 * math.sqrt(2)
    assert (spread.low, spread.high) == pytest.approx((32 - half, 32 + half), abs=1e-3)
    assert spread_over_datasets({"voc": [40.0, 44.0], "ade": [20.0, 22.0, 24.0]}).seeds_text == "2–3"


def test_one_seed_has_no_spread_and_identical_seeds_no_width():
    alone = seed_spread([61.0])
    assert (alone.mean, alone.std, alone.low, alone.high) == (61.0, None, None, None)
    assert spread_over_datasets({"voc": [40.0, 44.0], "ade": [30.0]}).low is None  # one dataset with one seed
    same = seed_spread([19.13, 19.13])  # zero-shot ignores support: every seed scores alike
    assert (same.std, same.low, same.high) == (0.0, 19.13, 19.13)


def test_intervals_stay_within_0_and_100():
    assert (seed_spread([1.0, 25.0]).low, seed_spread([80.0, 99.0]).high) == (0.0, 100.0)
    assert seed_spread([]) is None and spread_over_datasets({}) is None
