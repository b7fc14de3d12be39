"""One aggregation for every report: an experiment's cell and a sweep's leaderboard average the same
seeds to the same number, through the one helper."""

from __future__ import annotations

import statistics

from report.declared_records import write_record

from rns_bench.report import figures, tables
from rns_bench.report.cells import mean_std, report_table
from rns_bench.report.intervals import seed_spread
from rns_bench.report.spec import resolve_spec
from rns_bench.runs.records import read_records

SEEDS = {100: 40.0, 18: 44.0, 42: 41.3}


def test_mean_std_is_the_mean_and_sample_std_over_seeds():
    assert mean_std([40.0, 44.0]) == (42.0, statistics.stdev([40.0, 44.0]))
    assert mean_std([7.5]) == (7.5, 0.0)  # one seed: no spread, not an error


def test_the_experiment_report_and_the_leaderboard_average_seeds_alike(tmp_path):
    results = tmp_path / "results"
    for seed, miou in SEEDS.items():
        write_record(results, "table5_k", "voc", "rns_k1", 1, seed, miou)
    mean, std = mean_std(list(SEEDS.values()))

    spec = resolve_spec("table5_k", "clip_b16")
    table, cells, _, _ = report_table(spec, results, "clip_b16")
    assert cells["rns_k1", 1, "A"].per_dataset == {"voc": mean}
    assert next(r for r in table if r["row"] == "rns_k1" and r["column"] == 1)["runs"] == 3

    records = read_records(results, "voc", "clip_b16", "full")
    line = next(x for x in tables.leaderboard_table(records).splitlines() if x.startswith("| rns_k1 |"))
    half = 4.3027 * std / 3**0.5  # t(0.975, 2)
    assert f"| {mean:.2f} ± {std:.2f} [{mean - half:.2f}, {mean + half:.2f}] (n=3) |" in line
    assert seed_spread(list(SEEDS.values())).std == std  # the interval's std is mean_std's
    assert tables.seed_spread is figures.seed_spread is seed_spread  # the leaderboard's table and curves: one helper
