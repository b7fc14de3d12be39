"""``python -m rns_bench.report NAME [backbone=clip_b16] [results_dir=results] [dataset=ade] [OVERRIDES]``:
rebuild an experiment's report (markdown, CSV, LaTeX, plots) from its records alone.

Report keys: ``backbone=`` (default: every backbone with records of the experiment's rows),
``results_dir=`` (the folder the sweep wrote; it must exist), ``dataset=`` (the datasets the sweep ran,
``voc,ade``; one dataset is compared with its own published values, Table 3: voc or ade),
``protocol=full_region-sam2`` (read the region-mode records of an experiment whose file says patch; a
configs/protocol/ name such as ``partial_text`` is the sweep's override), ``panels=true`` (also one figure
with a panel per backbone × patch / region found, Fig. 3). Every other ``key=value`` is an override of the
sweep, as ``make experiment`` passes it (``shots=[1] seeds=[100] test_limit=8 rows.rns.options.k=16
proposer=felzenszwalb``): the report shows only records of the config those overrides declare and lists
what it left out. ``hydra...`` arguments (launcher settings) do not change a number and are ignored. A
mistake (an unknown key, a missing results folder, a value the sweep would refuse) is one line, status 2."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Sequence
from pathlib import Path

from rns_bench.cli import exit_on_user_error
from rns_bench.cli.preflight import preflight
from rns_bench.core.errors import ConfigError
from rns_bench.core.paths import CONFIG_DIR
from rns_bench.report.build import build_panels, build_report, experiment_backbones, require_results_dir
from rns_bench.report.declared import is_sweep, parse_protocol_folder, protocol_overrides, with_overrides
from rns_bench.runs.schema import TOP_LEVEL_KEYS

DEFAULTS = {"backbone": "", "results_dir": "results", "dataset": "", "protocol": "", "panels": "false"}


def parse_arguments(arguments: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """(report options, the sweep's overrides) of ``key=value`` arguments; ConfigError (one line) on a
    malformed argument or a key that neither the report nor the sweep knows."""
    options, overrides = dict(DEFAULTS), []
    for argument in arguments:
        key, sep, value = argument.partition("=")
        name = key.lstrip("+~")
        if argument.startswith("-") or not sep or not name:
            raise ConfigError(
                f"{argument}: expected key=value (report keys: {', '.join(DEFAULTS)}; or an override "
                "of the sweep, e.g. shots=[1])"
            )
        if name.startswith("hydra"):  # where and how jobs are launched: never part of a number
            continue
        if (
            name == "protocol"
            and parse_protocol_folder(value) is None
            and (CONFIG_DIR / "protocol" / f"{value}.yaml").is_file()
        ):
            overrides.append(argument)  # a protocol config (partial_text): the sweep's own override
        elif name in options:
            if not value:
                raise ConfigError(f"{argument}: {name} needs a value")
            options[name] = value
        elif name.split(".")[0] in TOP_LEVEL_KEYS:
            overrides.append(argument)
        else:
            top = name.split(".")[0]
            valid = sorted(set(DEFAULTS) | TOP_LEVEL_KEYS)
            close = difflib.get_close_matches(top, valid, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ConfigError(
                f"unknown key {top} (from {argument}); {hint}report keys: {', '.join(DEFAULTS)}; the "
                f"sweep's keys: {', '.join(sorted(TOP_LEVEL_KEYS))}"
            )
    return options, overrides


def check_overrides(name: str, options: dict[str, str], overrides: list[str]) -> None:
    """Compose and validate the sweep's config as the report will declare it, so a bad value is one line
    naming the override (``rns_bench.cli.preflight``)."""
    datasets = [d for d in options["dataset"].split(",") if d]
    argv = [
        f"experiment={name}",
        *([f"backbone={options['backbone']}"] if options["backbone"] else []),
        *([f"dataset={datasets[0]}"] if datasets else []),
        *with_overrides(
            [o for o in overrides if not is_sweep(o)],
            protocol_overrides(options["protocol"]) if options["protocol"] else [],
        ),
    ]
    preflight("bench", argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or "=" in arguments[0] or arguments[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    name = arguments[0]
    options, overrides = exit_on_user_error(lambda: parse_arguments(arguments[1:]))
    results_dir = Path(options["results_dir"])
    exit_on_user_error(lambda: require_results_dir(results_dir))  # before anything is read or created
    exit_on_user_error(lambda: check_overrides(name, options, overrides))
    # No backbone= : every backbone with records of this experiment (a real dataset's sweep runs clip_b16).
    backbones = (
        [options["backbone"]]
        if options["backbone"]
        else exit_on_user_error(lambda: experiment_backbones(name, results_dir)) or ["toy_vlm"]
    )
    for backbone in backbones:
        print(
            exit_on_user_error(
                lambda b=backbone: build_report(
                    name,
                    results_dir,
                    b,
                    dataset=options["dataset"] or None,
                    protocol=options["protocol"] or None,
                    overrides=overrides,
                )
            )
        )
    if options["panels"].lower() in ("true", "1", "yes"):
        path = exit_on_user_error(
            lambda: build_panels(name, results_dir, overrides=overrides, dataset=options["dataset"] or None)
        )
        print(f"panels: {path}" if path else "panels: no records of this experiment's rows under full support")
    return 0
