"""Where the suite's own files are, found once: its Hydra configs ship inside the package
(``rns_bench/configs``; the checkout's top-level ``configs`` is a link to it), so a pip-installed suite
finds them as a checkout does."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
CONFIG_DIR = PACKAGE_DIR / "configs"  # bench.yaml, tune.yaml and the groups (dataset/, method/, experiment/, ...)
PUBLISHED_CSV = PACKAGE_DIR / "report" / "paper" / "published.csv"  # the paper's numbers, per table cell
