"""``python -m rns_bench.bench [dataset=toy] [methods=[...]] [shots=[...]] ...`` (Hydra)."""

from __future__ import annotations

import logging
import sys
import warnings

import hydra
from omegaconf import DictConfig

from rns_bench.bench.run import CONFIG_DIR, run_sweep
from rns_bench.errors import RNSBenchError


@hydra.main(config_path=str(CONFIG_DIR), config_name="bench", version_base="1.3")
def main(cfg: DictConfig) -> None:
    _quiet_lightning()
    try:
        board = run_sweep(cfg)
        if board:
            print(board)
    except RNSBenchError as error:  # bad input: the message is the fix, no stack trace
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def _quiet_lightning() -> None:
    # One Trainer per run: its banners ("GPU available", tips) would bury the sweep's progress bar.
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated")


if __name__ == "__main__":
    main()
