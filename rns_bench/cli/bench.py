"""``python -m rns_bench.bench [dataset=toy] [methods=[...]] [shots=[...]] ...`` (Hydra)."""

from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from rns_bench.bench.personalized import is_personalized, run_personalized_experiment
from rns_bench.bench.sweep import run_sweep
from rns_bench.cli import exit_on_user_error, quiet_lightning
from rns_bench.cli.preflight import preflight
from rns_bench.core.errors import RNSBenchError
from rns_bench.core.paths import CONFIG_DIR
from rns_bench.runs.config import dataset_key


@hydra.main(config_path=str(CONFIG_DIR), config_name="bench", version_base="1.3")
def run(cfg: DictConfig) -> None:
    quiet_lightning()
    job = run_personalized_experiment if is_personalized(cfg) else run_sweep  # Fig. 7 is a study, not a sweep
    if HydraConfig.get().mode == RunMode.MULTIRUN:  # an experiment: one job's bad input skips that job only
        try:
            board = job(cfg)
        except RNSBenchError as error:
            print(f"skipped {dataset_key(cfg)} (job {HydraConfig.get().job.num}): {error}", file=sys.stderr)
            return
        except KeyboardInterrupt:  # the sweep said what finished; the whole multirun stops, status 130
            sys.exit(130)
    else:
        board = exit_on_user_error(lambda: job(cfg))
    if board:
        print(board)


def main() -> None:
    exit_on_user_error(lambda: preflight("bench", sys.argv[1:]))  # one line, before Hydra makes folders
    run()
