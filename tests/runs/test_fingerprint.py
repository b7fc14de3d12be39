"""What a fingerprint covers: everything that changes a number; the config fingerprint groups a row's
cells (shots, seeds, per-cell tuned parameters) under one config."""

from __future__ import annotations

import pytest
from bench_config import bench_config

from rns_bench.runs.config import RunConfig
from rns_bench.runs.fingerprint import config_fingerprint, data_identity, fingerprint, run_identity
from rns_bench.runs.key import RunKey

DATA = data_identity("toy", "v1", "abc", ["a", "b"], "c0")


def _identity(cfg, shots=1, seed=100, options=None, tuned=None, row_options=None, data=DATA):
    options = options or {"k": 4}
    return run_identity(
        RunConfig.of(cfg),
        RunKey("toy", "toy_vlm", "full", "rns", shots, seed),
        method="rns",
        options=options,
        tuned_params=tuned,
        data=data,
        backbone_provenance={},
        row_options=row_options if row_options is not None else options,
    )


@pytest.fixture
def cfg(tmp_path, toy_data_root):
    return bench_config(tmp_path, toy_data_root)


def test_each_number_changing_setting_changes_the_fingerprint(cfg, tmp_path, toy_data_root):
    base = fingerprint(_identity(cfg))
    assert fingerprint(_identity(cfg)) == base  # deterministic
    changed = [
        _identity(cfg, options={"k": 16}),
        _identity(cfg, data=data_identity("toy", "v1", "abc", ["a"], "c0")),  # another test set (test_limit)
        _identity(cfg, data=data_identity("toy", "v2", "abc", ["a", "b"], "c0")),  # regenerated files
        _identity(cfg, data=data_identity("toy", "v1", "abc", ["a", "b"], "c1")),  # a file's content changed
        _identity(bench_config(tmp_path, toy_data_root, "extraction.cache_dtype=float16")),
        _identity(bench_config(tmp_path, toy_data_root, "+backbone.options.dim=32")),
        _identity(bench_config(tmp_path, toy_data_root, "protocol.visual_drop_fraction=0.5")),
        _identity(bench_config(tmp_path, toy_data_root, "trainer.precision=bf16-mixed")),
        _identity(bench_config(tmp_path, toy_data_root, "extraction.autocast=bfloat16")),
        _identity(bench_config(tmp_path, toy_data_root, "batch_size=4")),
    ]
    assert len({base, *map(fingerprint, changed)}) == len(changed) + 1


def test_where_and_how_fast_do_not_change_it(cfg, tmp_path, toy_data_root):
    base = fingerprint(_identity(cfg))
    for override in (
        "extraction.window_batch=2",
        "extraction.image_batch=1",
        "trainer.devices=2",
        f"cache_dir={tmp_path}/elsewhere",
        "+backbone.options.device=cpu",
    ):
        assert fingerprint(_identity(bench_config(tmp_path, toy_data_root, override))) == base, override


def test_the_config_fingerprint_groups_cells_and_their_tuned_parameters(cfg):
    one = config_fingerprint(
        _identity(cfg, shots=1, seed=100, options={"lr": 0.1}, tuned={"lr": 0.1}, row_options={"lr": 0.01})
    )
    other_cell = config_fingerprint(
        _identity(cfg, shots=5, seed=18, options={"lr": 0.3}, tuned={"lr": 0.3}, row_options={"lr": 0.01})
    )
    assert one == other_cell  # per-cell tuning is one config
    assert one != config_fingerprint(_identity(cfg, options={"lr": 0.1}, row_options={"lr": 0.02}))
