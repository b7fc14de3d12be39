"""``python -m rns_bench.data``: the prepare and split commands, their files and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data.prepare.fake_raw import write_raw_png
from data.small_toy import small_toy_spec, split_only_store

import rns_bench.cli.data as cli
from rns_bench.data.sampling import SupportSplit
from rns_bench.data.support_splits import split_file
from rns_bench.runs.context import prepare_context


@pytest.fixture
def small_toy(monkeypatch):
    spec = small_toy_spec()
    monkeypatch.setattr(cli, "spec_for_key", lambda key, data_root: {spec.key: spec}[key])
    return spec


def test_split_writes_the_split_a_run_uses(tmp_path: Path, data_root: Path, small_toy, capsys) -> None:
    results = tmp_path / "results"
    argv = [
        "split",
        "toy_small",
        "--shots",
        "1",
        "2",
        "--seed",
        "100",
        "18",
        "--data-root",
        str(data_root),
        "--results-dir",
        str(results),
        "--presence-cache",
        str(tmp_path / "presence"),
    ]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    context = prepare_context(small_toy, data_root, split_only_store(448))
    for shots in (1, 2):
        for seed in (100, 18):
            path = results / "splits" / "toy_small" / f"B{shots}_seed{seed}.json"
            assert path == split_file(results, "toy_small", shots, seed)
            written = SupportSplit.from_json(path.read_text())
            assert written == context.support_split(shots, seed)
            assert f"sha256 {written.sha256} → {path}" in printed
    assert len(list((tmp_path / "presence").rglob("*.safetensors"))) == 1  # one index for all four


def test_split_out_file_and_short_side(tmp_path: Path, data_root: Path, small_toy, capsys) -> None:
    out = tmp_path / "mine.json"
    argv = [
        "split",
        "toy_small",
        "--shots",
        "3",
        "--seed",
        "42",
        "--data-root",
        str(data_root),
        "--out",
        str(out),
        "--short-side",
        "none",
        "--presence-cache",
        "none",
    ]
    assert cli.main(argv) == 0
    split = SupportSplit.from_json(out.read_text())
    assert split == prepare_context(small_toy, data_root, split_only_store(None)).support_split(3, 42)
    assert split.sha256 in capsys.readouterr().out
    assert split_file(Path("r"), "voc", 3, 42, None) == Path("r/splits/voc/B3_seed42_orig.json")
    assert split_file(Path("r"), "voc", 3, 42, 384) == Path("r/splits/voc/B3_seed42_short384.json")


def test_split_errors_exit_2_with_the_fix(tmp_path: Path, data_root: Path, small_toy, capsys) -> None:
    argv = [
        "split",
        "toy_small",
        "--shots",
        "1",
        "2",
        "--seed",
        "1",
        "--out",
        str(tmp_path / "x.json"),
        "--data-root",
        str(data_root),
    ]
    assert cli.main(argv) == 2
    assert "--out names one file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["split", "toy_small", "--shots", "1", "--seed", "1", "--short-side", "zero"])


def test_prepare_runs_the_registered_step(tmp_path: Path, capsys) -> None:
    raw = tmp_path / "coco_stuff164k" / "annotations"
    write_raw_png(raw / "train2017" / "000000000009.png", np.array([[0, 255]]))
    write_raw_png(raw / "val2017" / "000000000139.png", np.array([[91, 12]]))
    assert cli.main(["prepare", "coco_stuff", "--data-root", str(tmp_path)]) == 0
    assert "wrote 2 file(s)" in capsys.readouterr().out
    assert (raw / "val2017" / "000000000139_labelTrainIds.png").is_file()
    assert cli.main(["prepare", "coco_stuff", "--data-root", str(tmp_path)]) == 0
    assert "wrote 0 file(s), kept 2 already prepared" in capsys.readouterr().out


def test_prepare_errors_exit_2_with_the_fix(tmp_path: Path, capsys) -> None:
    assert cli.main(["prepare", "context", "--data-root", str(tmp_path)]) == 2
    assert f"{tmp_path}/VOCdevkit/VOC2010/trainval_merged.json. Download" in capsys.readouterr().err
    assert cli.main(["prepare", "nope", "--data-root", str(tmp_path)]) == 2
    assert "valid preparation step names: cityscapes, coco_object, coco_stuff, context" in capsys.readouterr().err
    assert cli.main(["prepare", "toy", "--data-root", str(tmp_path)]) == 2
    assert "needs no preparation step" in capsys.readouterr().err


def test_verify_is_wired_to_the_dataset_check(tmp_path: Path, capsys) -> None:
    from data.fake_datasets import write_fake_dataset

    # no dataset folder at all: one line with the fix (not a report saying "labels not checked")
    assert cli.main(["verify", "voc", "--data-root", str(tmp_path), "--counts-only"]) == 2
    err = capsys.readouterr().err
    assert "VOCdevkit/VOC2012" in err and len(err.strip().splitlines()) == 1
    write_fake_dataset("voc", tmp_path)  # there, but not the real counts: the report says so
    assert cli.main(["verify", "voc", "--data-root", str(tmp_path), "--counts-only"]) == 1
    assert "expected 1449" in capsys.readouterr().out
    assert cli.main(["verify", "nope", "--data-root", str(tmp_path)]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err


def test_split_out_that_is_a_folder_is_one_line(tmp_path: Path, capsys) -> None:
    assert cli.main(["split", "toy", "--shots", "1", "--seed", "100", "--out", str(tmp_path)]) == 2
    assert f"--out {tmp_path} is a folder" in capsys.readouterr().err
