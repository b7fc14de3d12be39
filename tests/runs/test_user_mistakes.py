"""What a new user trips over ends as one line naming the value and the fix (or an honest record)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from bench_config import bench_config

from rns_bench.bench.sweep import run_sweep
from rns_bench.core.errors import InputError
from rns_bench.runs.records import read_records
from rns_bench.runs.weights import weights_loading


def test_a_garbage_checkpoint_is_named_not_a_traceback(tmp_path):
    garbage = tmp_path / "sam2.1_hiera_large.pt"
    garbage.write_bytes(b"\x80\x05 definitely not a checkpoint" * 50)
    with (
        pytest.raises(InputError) as raised,
        weights_loading("proposer sam2", {"checkpoint": str(garbage)}, "proposer.options"),
    ):
        torch.load(garbage)
    message = str(raised.value)
    assert f"proposer sam2 could not load proposer.options.checkpoint={garbage}" in message
    assert "download it again" in message and "\n" not in message


def test_more_shots_than_the_pool_has_warns_and_records_what_each_class_got(tmp_path, toy_data_root):
    cfg = bench_config(tmp_path, toy_data_root, "shots=[150]", "seeds=[100]", "test_limit=2", "methods=[zero_shot]")
    with pytest.warns(
        UserWarning,
        match=r"B=150 seed=100: .* fewer than B support images because the pool has "
        r"no more",
    ) as caught:
        run_sweep(cfg)
    assert len([w for w in caught if "fewer than B" in str(w.message)]) == 1  # once per support set
    (record,) = [r.to_json() for r in read_records(tmp_path / "results", "toy", "toy_vlm", "full")]
    counts = record["support_images_per_class"]
    assert set(counts) == set(record["metrics"]["per_class_IoU"])
    assert min(counts.values()) < 150 and max(counts.values()) <= len(record["support_split"]["image_ids"])


def test_ctrl_c_keeps_finished_runs_and_the_same_command_resumes(tmp_path, toy_data_root, monkeypatch):
    import rns_bench.bench.sweep as sweep

    # knn_clip: zero-shot would be evaluated once for both seeds (runs.shared_evaluation)
    cfg = bench_config(tmp_path, toy_data_root, "shots=[1]", "seeds=[100,18]", "test_limit=2", "methods=[knn_clip]")
    real, calls = sweep.run_one, []

    def interrupt_the_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep, "run_one", interrupt_the_second)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(cfg)
    assert len(read_records(tmp_path / "results", "toy", "toy_vlm", "full")) == 1  # the finished one stays
    monkeypatch.setattr(sweep, "run_one", real)
    run_sweep(cfg)  # resumes: only the interrupted run is done again
    assert len(read_records(tmp_path / "results", "toy", "toy_vlm", "full")) == 2


def test_the_command_prints_the_interruption_and_exits_130(tmp_path):
    code = (
        "import sys; from rns_bench.cli import exit_on_user_error\n"
        "def stop(): raise KeyboardInterrupt\n"
        "exit_on_user_error(stop)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 130 and "Traceback" not in done.stderr


def test_the_interruption_message(tmp_path, toy_data_root, capsys, monkeypatch):
    import rns_bench.bench.sweep as sweep

    monkeypatch.setattr(sweep, "run_one", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        run_sweep(
            bench_config(tmp_path, toy_data_root, "shots=[1]", "seeds=[100]", "test_limit=2", "methods=[zero_shot]")
        )
    err = capsys.readouterr().err
    assert "interrupted: 0 of the 1 runs to do finished this time" in err and "run the same command again" in err


def test_a_corrupt_study_file_is_named_before_any_feature_is_extracted(tmp_path, toy_data_root):
    db = tmp_path / "results" / "tuning" / "toy" / "toy_vlm" / "full" / "linear_class_features" / "B2_seed100.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"garbage, not SQLite " * 64)
    cfg = bench_config(
        tmp_path,
        toy_data_root,
        "shots=[2]",
        "seeds=[100]",
        "test_limit=2",
        "methods=[linear_class_features]",
        "extraction.support_prefetch=pool",
    )
    with pytest.raises(InputError, match=f"storage {db} cannot be opened .*move it aside and tune again"):
        run_sweep(cfg)
    assert not (tmp_path / "cache").exists()  # nothing extracted


@pytest.mark.parametrize("where", ["extraction", "run"])
def test_ctrl_c_inside_lightning_says_what_finished_and_stays_an_interrupt(
    tmp_path, toy_data_root, capsys, monkeypatch, where
):
    """Lightning turns Ctrl-C in Trainer.test into SystemExit(1); the sweep still reports the interruption
    (how many runs finished, how to resume) and raises KeyboardInterrupt, which the command turns into 130."""
    import rns_bench.runs.extraction as extraction
    from baselines.knn_clip import KNNCLIP

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    if where == "extraction":
        monkeypatch.setattr(extraction.ExtractionModule, "test_step", interrupt)
    else:
        monkeypatch.setattr(KNNCLIP, "predict_probs", interrupt)
    cfg = bench_config(tmp_path, toy_data_root, "shots=[1]", "seeds=[100]", "test_limit=2", "methods=[knn_clip]")
    with pytest.raises(KeyboardInterrupt):
        run_sweep(cfg)
    err = capsys.readouterr().err
    assert "interrupted: 0 of the 1 runs to do finished this time" in err and "run the same command again" in err


@pytest.mark.parametrize(
    "override, row, message",
    [
        ("protocol.text_drop_fraction=1.0", "rns", r"text_drop_fraction=1 drops every class name, but row 'rns'"),
        ("protocol.visual_drop_fraction=1.0", "knn_clip", r"visual_drop_fraction=1 drops every support image"),
    ],
)
def test_a_protocol_that_leaves_a_row_nothing_is_one_line_before_any_work(
    tmp_path, toy_data_root, override, row, message
):
    from rns_bench.core.errors import ConfigError

    cfg = bench_config(
        tmp_path, toy_data_root, "shots=[1]", "seeds=[100]", "test_limit=2", f"methods=[{row}]", override
    )
    with pytest.raises(ConfigError, match=message):
        run_sweep(cfg)
    assert not (tmp_path / "cache").exists() and not (tmp_path / "results").exists()


def test_a_bad_test_label_is_named_before_any_feature_is_extracted(tmp_path, toy_data_root):
    import shutil

    import numpy as np
    from PIL import Image

    data = tmp_path / "data"
    shutil.copytree(toy_data_root, data)
    cfg = bench_config(tmp_path, data, "shots=[1]", "seeds=[100]", "test_limit=3", "methods=[zero_shot]")
    from rns_bench.runs.config import RunConfig
    from rns_bench.runs.context import build_context

    context = build_context(RunConfig.of(cfg))
    path = context.reader.label_path(context.test_ids[2])
    with Image.open(path) as image:
        label = np.array(image)
    label[0, 0] = 200  # no toy class has this index
    Image.fromarray(label).save(path)
    with pytest.raises(InputError, match=f"label file {path} contains value 200"):
        run_sweep(bench_config(tmp_path, data, "shots=[1]", "seeds=[100]", "test_limit=3", "methods=[zero_shot]"))
    assert not (tmp_path / "cache").exists()


def test_a_fully_cached_read_only_feature_cache_is_used_and_a_missing_image_is_one_line(
    tmp_path, toy_data_root, monkeypatch
):
    """Root can write anywhere, so the folder's read-only state is what the probe says (as on a real mount)."""
    import rns_bench.runs.extraction as extraction
    import rns_bench.runs.schema as schema
    from rns_bench.core.errors import ConfigError

    run = ("shots=[1]", "seeds=[100]", "methods=[knn_clip]")
    run_sweep(bench_config(tmp_path, toy_data_root, *run, "test_limit=2"))  # fills the cache
    cache = (tmp_path / "cache").resolve()
    for module in (schema, extraction):
        real = module.can_write_in
        monkeypatch.setattr(
            module, "can_write_in", lambda folder, real=real: Path(folder).resolve() != cache and real(folder)
        )
    run_sweep(bench_config(tmp_path, toy_data_root, *run, "test_limit=2", "rows.knn_clip.options.k=3"))
    assert len(read_records(tmp_path / "results", "toy", "toy_vlm", "full")) == 2  # ran from the cache alone
    with pytest.raises(ConfigError, match=r"cache_dir=.* is read-only and 2 of this sweep's images are not in it"):
        run_sweep(bench_config(tmp_path, toy_data_root, *run, "test_limit=4"))


@pytest.mark.parametrize(
    "override, message",
    [
        ("trainer.devices=0", r"Trainer\(devices=0\)` value is not a valid input"),
        pytest.param(
            "trainer.accelerator=gpu",
            r"No supported gpu backend found",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU"),
        ),
    ],
)
def test_a_trainer_argument_lightning_refuses_is_one_line_before_any_extraction(
    tmp_path, toy_data_root, override, message
):
    from rns_bench.core.errors import ConfigError

    with pytest.raises(ConfigError, match=f"the Lightning Trainer refuses .*{message}"):
        run_sweep(
            bench_config(
                tmp_path, toy_data_root, "shots=[1]", "seeds=[100]", "test_limit=2", "methods=[zero_shot]", override
            )
        )
    assert not (tmp_path / "cache").exists()
