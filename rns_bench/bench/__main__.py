"""``python -m rns_bench.bench [dataset=toy] [methods=[...]] [shots=[...]] ...`` (Hydra)."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from rns_bench.bench.run import CONFIG_DIR, run_sweep
from rns_bench.errors import RNSBenchError


@hydra.main(config_path=str(CONFIG_DIR), config_name="bench", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        print(run_sweep(cfg))
    except RNSBenchError as error:  # bad input: the message is the fix, no stack trace
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
