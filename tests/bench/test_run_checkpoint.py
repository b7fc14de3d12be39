"""A run killed half-way resumes from its checkpoint and gives the uninterrupted numbers exactly."""

from __future__ import annotations

import pytest
from bench_config import bench_config

from rns_bench.bench.sweep import run_sweep
from rns_bench.methods.rns_method import RNS
from rns_bench.runs.records import read_records

RUN = (
    "methods=[rns]",
    "shots=[1]",
    "seeds=[100]",
    "test_limit=12",
    "batch_size=2",
    "checkpoint_every=4",
    "rows.rns.options.steps=10",
)


class Killed(Exception):
    pass


def test_a_run_killed_after_half_its_images_resumes_to_the_same_numbers(tmp_path, toy_data_root, monkeypatch):
    run_sweep(bench_config(tmp_path / "whole", toy_data_root, *RUN))
    (whole,) = [r.to_json() for r in read_records(tmp_path / "whole" / "results", "toy", "toy_vlm", "full")]

    predicted: list[str] = []
    real = RNS.predict_probs

    def dies_after_six_images(self, queries, image_ids):
        if len(predicted) >= 6:
            raise Killed
        predicted.extend(image_ids)
        return real(self, queries, image_ids)

    monkeypatch.setattr(RNS, "predict_probs", dies_after_six_images)
    cfg = bench_config(tmp_path / "killed", toy_data_root, *RUN)
    with pytest.raises(Killed):
        run_sweep(cfg)
    row = tmp_path / "killed" / "results" / "toy" / "toy_vlm" / "full" / "rns"
    (partial,) = row.glob("*.partial-rank0of1.safetensors")  # written at 4 images (6 is not a multiple of 4)
    assert not list(row.glob("B*_seed*-*.json"))

    monkeypatch.setattr(RNS, "predict_probs", lambda self, q, ids: predicted.extend(ids) or real(self, q, ids))
    predicted.clear()
    run_sweep(cfg)
    assert len(predicted) == 12 - 4  # the four checkpointed images are not predicted again
    (resumed,) = [r.to_json() for r in read_records(tmp_path / "killed" / "results", "toy", "toy_vlm", "full")]
    assert resumed["resumed_after_images"] == 4 and whole["resumed_after_images"] == 0
    assert resumed["metrics"] == whole["metrics"] and resumed["fingerprint"] == whole["fingerprint"]
    assert not partial.exists()  # removed once the record holds the whole matrix


def test_a_checkpoint_of_another_config_is_never_read(tmp_path, toy_data_root):
    import torch

    from rns_bench.runs.key import RunKey
    from rns_bench.runs.run_checkpoint import RunCheckpoint

    key = RunKey("toy", "toy_vlm", "full", "rns", 1, 100)
    mine = RunCheckpoint.of(tmp_path, key, "a" * 64, 4)
    mine.save(torch.ones(3, 3, dtype=torch.int64), 8)
    assert mine.load(3)[1] == 8 and torch.equal(mine.load(3)[0], torch.ones(3, 3, dtype=torch.int64))
    other = RunCheckpoint(mine.path, "b" * 64, 4)  # same file, another fingerprint
    with pytest.warns(UserWarning, match="another config"):
        assert other.load(3) is None
    with pytest.warns(UserWarning, match="matrix is"):
        assert mine.load(4) is None
    assert RunCheckpoint.of(tmp_path, key, "a" * 64, 4, rank=1, world_size=2).path != mine.path
