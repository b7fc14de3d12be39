"""``python -m rns_bench.cli.plan NAME [gpu=a100] [key=value ...]`` (``make plan NAME=<experiment>``): what
an experiment will do on the datasets present — runs, evaluations, RNS trainings, images to extract, cache
size, peak RAM per job, GPU-hours — before anything is spent (``rns_bench.bench.plan``). The other
``key=value`` arguments are the sweep's overrides, as ``make experiment`` passes them
(``dataset=voc,ade`` narrows the datasets, ``backbone=siglip2_l16`` plans another backbone)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rns_bench.bench.plan import GPUS, format_plan, plan_experiment
from rns_bench.cli import exit_on_user_error
from rns_bench.cli.preflight import compose_checked
from rns_bench.core.errors import ConfigError
from rns_bench.report.declared import is_sweep


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or "=" in arguments[0]:
        print(__doc__, file=sys.stderr)
        return 2
    name, gpu, overrides = arguments[0], "a100", []
    for argument in arguments[1:]:
        if argument.startswith("gpu="):
            gpu = argument.partition("=")[2].lower()
        else:
            overrides.append(argument)
    if gpu not in GPUS:
        exit_on_user_error(
            lambda: (_ for _ in ()).throw(ConfigError(f"gpu={gpu}: unknown GPU; choose one of {', '.join(GPUS)}"))
        )
    # an unknown experiment, key or choice: one line (exit 2) before any planning
    exit_on_user_error(
        lambda: compose_checked("bench", [f"experiment={name}", *(o for o in overrides if not is_sweep(o))])
    )
    plans = exit_on_user_error(lambda: plan_experiment(name, overrides))
    print(format_plan(plans, gpu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
