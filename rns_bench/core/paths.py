"""Where the suite's own files are, found once: its Hydra configs ship inside the package
(``rns_bench/configs``; the checkout's top-level ``configs`` is a link to it), so a pip-installed suite
finds them as a checkout does. Importing this module also registers the resolver the configs use
(``experiment_methods``: an experiment's method rows, derived from its report rows)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from rns_bench.core.row_names import experiment_methods

PACKAGE_DIR = Path(__file__).resolve().parents[1]
CONFIG_DIR = PACKAGE_DIR / "configs"  # bench.yaml, tune.yaml and the groups (dataset/, method/, experiment/, ...)
PUBLISHED_CSV = PACKAGE_DIR / "report" / "paper" / "published.csv"  # the paper's numbers, per table cell

# configs/bench.yaml: methods: ${experiment_methods:${oc.select:experiment.rows,null},[<every method>]}
OmegaConf.register_new_resolver("experiment_methods", experiment_methods, replace=True)
