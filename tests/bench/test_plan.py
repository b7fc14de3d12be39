"""``make plan``: on fake data its counts equal what the sweep then does; after the sweep nothing is left."""

from __future__ import annotations

import pytest
from data.fake_datasets import write_fake_dataset

from rns_bench.bench.plan import format_plan, plan_experiment, sweep_jobs
from rns_bench.bench.sweep import SweepStats, run_sweep
from rns_bench.cli.plan import main


def _overrides(tmp_path):
    return [
        f"data_root={tmp_path / 'data'}",
        f"results_dir={tmp_path / 'results'}",
        f"cache_dir={tmp_path / 'cache'}",
        f"presence_cache_dir={tmp_path / 'presence'}",
        "backbone=random_vlm",
        "seeds=[100,18]",
        "extraction.support_prefetch=drawn",
        "rows.rns.options.steps=5",
        "rows.rns_wo_text.options.steps=5",
        "rows.rns_wo_pseudo_label.options.steps=5",
        "rows.rns_wo_text_wo_pseudo_label.options.steps=5",
    ]


def test_the_jobs_are_the_sweepers_and_the_command_line_narrows_them():
    jobs = sweep_jobs("fig4_visual", ["dataset=voc,ade", "shots=[3]"])
    assert len(jobs) == 2 * 5 and ["dataset=voc", "protocol.visual_drop_fraction=0.1", "shots=[3]"] in jobs


def test_the_plan_counts_what_the_sweep_then_runs(tmp_path, capsys):
    write_fake_dataset("voc", tmp_path / "data")
    overrides = [*_overrides(tmp_path), "dataset=voc", "protocol.visual_drop_fraction=0.5"]
    (plan,) = plan_experiment("fig4_visual", overrides)
    assert plan.runs == 7 * 2 and plan.recorded == 0 and plan.shared == 1  # zero-shot: 2 seeds, 1 evaluation
    assert plan.evaluations == (plan.runs - plan.shared) * plan.test_images
    assert plan.rns_trainings == 4 * 2 * plan.test_images  # rns, its three ablations × 2 seeds
    assert plan.cache_gb > 0 and plan.peak_ram_gb > 1.5

    stats = SweepStats()
    (job,) = sweep_jobs("fig4_visual", overrides)
    from hydra import compose, initialize_config_dir

    from rns_bench.core.paths import CONFIG_DIR

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("bench", overrides=["experiment=fig4_visual", *job])
    run_sweep(cfg, stats)
    assert stats.evaluated == plan.runs - plan.shared and stats.from_shared_evaluation == plan.shared
    assert stats.context.test_store.extracted == plan.extract["test"]
    assert stats.context.support_store.extracted == plan.extract["support"]
    assert stats.label_decodes == plan.test_images  # one decode per test label for the whole job

    (again,) = plan_experiment("fig4_visual", overrides)
    assert again.recorded == again.runs and again.extract == {} and again.evaluations == 0
    assert main(["fig4_visual", *overrides, "gpu=h100"]) == 0
    out = capsys.readouterr().out
    assert "0 runs to evaluate" in out and "h100" in out
    assert "skipped" in format_plan(
        plan_experiment("fig4_visual", [*overrides[:-2], "dataset=ade", "protocol.visual_drop_fraction=0.5"]), "a100"
    )


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["table5_k", "shotz=1"], "error: unknown config key shotz (from the override shotz=1)"),
        (["table5_k", "dataset=nope"], "error: no config dataset/nope.yaml; choices for dataset:"),
        (["nope"], "error: no config experiment/nope.yaml; choices for experiment:"),
    ],
)
def test_a_composition_mistake_is_one_line_and_exit_2(arguments, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith(message) and "Traceback" not in err
