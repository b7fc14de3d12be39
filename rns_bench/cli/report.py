"""``python -m rns_bench.report NAME [backbone=toy_vlm] [results_dir=results] [dataset=ade]``: rebuild an
experiment's report (markdown, CSV, LaTeX, plot) from its records alone; ``dataset=`` reports one
dataset against its own published values (Table 3: voc or ade). Other ``key=value`` arguments
(the sweep's overrides, as ``make experiment`` passes them) are ignored."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rns_bench.cli import exit_on_user_error
from rns_bench.core.errors import ConfigError
from rns_bench.report.experiment import build_report

DEFAULTS = {"backbone": "toy_vlm", "results_dir": "results", "dataset": ""}


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or "=" in arguments[0]:
        print(__doc__, file=sys.stderr)
        return 2
    name, options = arguments[0], dict(DEFAULTS)
    for argument in arguments[1:]:
        key, _, value = argument.lstrip("+").partition("=")
        if not value:
            exit_on_user_error(lambda a=argument: (_ for _ in ()).throw(ConfigError(f"{a}: expected key=value")))
        if key in options:
            options[key] = value
    text = exit_on_user_error(lambda: build_report(name, options["results_dir"], options["backbone"],
                                                   dataset=options["dataset"] or None))
    print(text)
    return 0
