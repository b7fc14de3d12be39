"""``python -m rns_bench.features extract`` end to end on the embedded toy dataset, and what a run then reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_config import bench_config

import rns_bench.features.store as store_module
from rns_bench.bench.extract import support_image_ids
from rns_bench.cli.features import main
from rns_bench.runs.config import RunConfig
from rns_bench.runs.context import build_context

SMALL = (
    "backbone=random_vlm",
    "test_limit=3",
    "shots=[1,2]",
    "seeds=[100]",
    "+backbone.test={windows:[{crop:64,stride:32}]}",
    "+backbone.support={short_side:96,windows:[{crop:64,stride:32},{crop:32,stride:32}]}",
)


def _arguments(tmp_path: Path, data_root: Path, *extra: str) -> list[str]:
    return [
        "extract",
        f"data_root={data_root}",
        f"cache_dir={tmp_path / 'cache'}",
        f"presence_cache_dir={tmp_path / 'presence'}",
        f"results_dir={tmp_path / 'results'}",
        *SMALL,
        *extra,
    ]


def test_extract_fills_the_cache_that_a_run_then_reads(tmp_path: Path, toy_data_root: Path, capsys, monkeypatch):
    assert main(_arguments(tmp_path, toy_data_root)) == 0
    out = capsys.readouterr().out
    assert "test: 3 images (0 already cached, 3 extracted, " in out and "windows/s" in out
    cfg = RunConfig.of(bench_config(tmp_path, toy_data_root, *SMALL))
    context = build_context(cfg)
    support_ids = support_image_ids(cfg, context, "splits")
    assert f"support: {len(support_ids)} images (0 already cached, {len(support_ids)} extracted" in out
    assert set(support_ids) >= set(context.support_split(2, 100).image_ids)
    test_dir, support_dir = context.test_store.cache.dir, context.support_store.cache.dir
    assert test_dir != support_dir
    assert len(list(test_dir.glob("*.safetensors"))) == 3
    assert len(list(support_dir.glob("*.safetensors"))) == len(support_ids)

    assert main(_arguments(tmp_path, toy_data_root)) == 0  # a second run finds everything
    assert "test: 3 images (3 already cached, 0 extracted" in capsys.readouterr().out

    def no_extraction(*args, **kwargs):
        raise AssertionError("every feature should come from the cache")

    monkeypatch.setattr(store_module, "extract_prepared", no_extraction)
    test_features = context.test_features()
    assert [f.resized_hw for f in test_features] == [context.reader.read_label(i).shape for i in context.test_ids]
    bank = context.build_bank(context.support_split(1, 100).image_ids)  # labels resized at the support short side
    assert len(bank) > 0
    assert all(
        min(f.resized_hw) == 96
        for f in context.support_store.get(
            support_ids, context.reader.read_image, entry_name=context.reader.image_digest
        )
    )
    assert context.presence_index.key.short_side == 96  # presence on the support-resized labels (§2.2)


def test_support_images_pool_is_the_whole_toy_train_split(tmp_path: Path, toy_data_root: Path) -> None:
    cfg = RunConfig.of(bench_config(tmp_path, toy_data_root, *SMALL))
    context = build_context(cfg)
    assert support_image_ids(cfg, context, "pool") == context.reader.image_ids("train")  # 240 < 5000: file order


@pytest.mark.parametrize(
    "extra, message",
    [
        (("split=train",), "split must be one of test, support, both"),
        (("support_images=all",), "support_images must be one of splits, pool"),
        (("cache_dir=null",), "set cache_dir"),
        (("shotz=1",), "unknown config key shotz (from the override shotz=1); valid keys: backbone"),
        (("dataset=nope",), "no config dataset/nope.yaml; choices for dataset:"),
    ],
)
def test_bad_arguments_exit_2_with_the_fix(tmp_path: Path, toy_data_root: Path, capsys, extra, message) -> None:
    assert main([*_arguments(tmp_path, toy_data_root), *extra]) == 2  # the last cache_dir= wins
    assert message in capsys.readouterr().err


def test_without_a_command_it_prints_the_usage(capsys) -> None:
    assert main([]) == 2 and "python -m rns_bench.features extract" in capsys.readouterr().err
