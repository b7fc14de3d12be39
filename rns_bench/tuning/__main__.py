"""``python -m rns_bench.tuning [dataset=toy] [methods=[linear_class_features]] [n_trials=20] ...`` (Hydra)."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from rns_bench.bench.__main__ import _quiet_lightning
from rns_bench.bench.run import CONFIG_DIR
from rns_bench.errors import RNSBenchError


@hydra.main(config_path=str(CONFIG_DIR), config_name="tune", version_base="1.3")
def main(cfg: DictConfig) -> None:
    import optuna

    from rns_bench.tuning.run import run_tuning  # optuna is needed from here on

    _quiet_lightning()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one summary line per study instead
    try:
        run_tuning(cfg)
    except RNSBenchError as error:  # bad input: the message is the fix, no stack trace
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
