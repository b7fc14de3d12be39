"""``python -m rns_bench.tuning [dataset=toy] [methods=[linear_class_features]] [tuning.n_trials=20] ...`` (Hydra)."""

from __future__ import annotations

import sys

import hydra
import optuna
from omegaconf import DictConfig

from rns_bench.cli import exit_on_user_error, quiet_lightning
from rns_bench.cli.preflight import preflight
from rns_bench.core.paths import CONFIG_DIR
from rns_bench.runs.schema import command_line_overrides, validate_config
from rns_bench.tuning.tune import run_tuning, study_settings


@hydra.main(config_path=str(CONFIG_DIR), config_name="tune", version_base="1.3")
def run(cfg: DictConfig) -> None:
    quiet_lightning()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one summary line per study instead
    exit_on_user_error(lambda: run_tuning(validate_config(cfg, command_line_overrides())))


def main() -> None:
    checked = exit_on_user_error(lambda: preflight("tune", sys.argv[1:]))  # one line, before Hydra makes folders
    if checked is not None:
        exit_on_user_error(lambda: study_settings(checked.tuning))  # tuning.heartbeat_s=0 and the like
    run()
