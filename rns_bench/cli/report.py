"""``python -m rns_bench.report NAME [backbone=clip_b16] [results_dir=results] [dataset=ade]``: rebuild an
experiment's report (markdown, CSV, LaTeX, plot) from its records alone; ``dataset=`` reports one
dataset against its own published values (Table 3: voc or ade); ``protocol=full_region-sam2`` reads the
region-mode records of an experiment whose file says patch, and ``proposer=felzenszwalb`` those of a
region-mode experiment run with another proposer (as the sweep's override); ``panels=true`` also draws one figure with a
panel per (backbone, patch / region) found (Fig. 3). Without ``backbone=`` every backbone with records
of the experiment's rows is reported. Other ``key=value`` arguments
(the sweep's overrides, as ``make experiment`` passes them) are ignored."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rns_bench.cli import exit_on_user_error
from rns_bench.core.errors import ConfigError
from rns_bench.report.experiment import build_report, experiment_backbones
from rns_bench.report.panels import build_panels

DEFAULTS = {"backbone": "", "results_dir": "results", "dataset": "", "protocol": "", "proposer": "",
            "panels": "false"}


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
    # No backbone= : every backbone with records of this experiment (a real dataset's sweep runs clip_b16).
    backbones = ([options["backbone"]] if options["backbone"]
                 else exit_on_user_error(lambda: experiment_backbones(name, options["results_dir"])) or ["toy_vlm"])
    for backbone in backbones:
        print(exit_on_user_error(lambda b=backbone: build_report(name, options["results_dir"], b,
                                                                 dataset=options["dataset"] or None,
                                                                 protocol=options["protocol"] or None,
                                                                 proposer=options["proposer"] or None)))
    if options["panels"].lower() in ("true", "1", "yes"):
        path = exit_on_user_error(lambda: build_panels(name, options["results_dir"]))
        print(f"panels: {path}" if path else "panels: no records of this experiment's rows under full support")
    return 0
