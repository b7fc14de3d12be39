"""``python -m rns_bench.bench [dataset=toy] [methods=[...]] [shots=[...]] ...`` (Hydra)."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from rns_bench.bench.run import run_sweep
from rns_bench.cli import exit_on_user_error, quiet_lightning
from rns_bench.cli.preflight import preflight
from rns_bench.runs.config import CONFIG_DIR


@hydra.main(config_path=str(CONFIG_DIR), config_name="bench", version_base="1.3")
def run(cfg: DictConfig) -> None:
    quiet_lightning()
    board = exit_on_user_error(lambda: run_sweep(cfg))
    if board:
        print(board)


def main() -> None:
    exit_on_user_error(lambda: preflight("bench", sys.argv[1:]))  # one line, before Hydra makes folders
    run()
