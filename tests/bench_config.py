"""Compose the real ``configs/bench.yaml`` with overrides, as ``make bench`` would."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from rns_bench.core.paths import CONFIG_DIR


def bench_config(tmp_path: Path, data_root: Path, *overrides: str) -> DictConfig:
    """Tests extract only the drawn support images unless they ask for the pool prefetch (seconds each)."""
    if not any(o.startswith("extraction.support_prefetch=") for o in overrides):
        overrides = ("extraction.support_prefetch=drawn", *overrides)
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(
            "bench",
            overrides=[
                f"data_root={data_root}",
                f"results_dir={tmp_path / 'results'}",
                f"cache_dir={tmp_path / 'cache'}",
                f"presence_cache_dir={tmp_path / 'presence'}",
                *overrides,
            ],
        )
