"""``python -m rns_bench.features extract [split=both] [support_images=splits] [bench overrides ...]``.

Precomputes a dataset's test and/or support features into the feature cache, with a progress
bar, so later sweeps only read them. Every other argument is a Hydra override of
``configs/bench.yaml``, exactly as for ``python -m rns_bench.bench``:

    python -m rns_bench.features extract dataset=voc backbone=clip_b16 data_root=/data cache_dir=/fast/cache
    python -m rns_bench.features extract dataset=toy split=support support_images=pool seeds=[100,18]
    python -m rns_bench.features extract dataset=ade split=test test_limit=100 extraction.window_batch=32

``split``: test | support | both (default). ``support_images``: splits (default; the images of
every ``shots`` × ``seeds`` support split) | pool (every image of the seeds' support pools).
Exit status: 0 done, 2 bad input (the message says the fix).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from omegaconf import DictConfig

from rns_bench.bench.extract import ExtractRequest, extract_features
from rns_bench.cli import exit_status
from rns_bench.cli.preflight import compose_checked

COMMANDS = ("extract",)
REQUEST_KEYS = ("split", "support_images")  # the command's own options; the rest go to Hydra


def split_arguments(arguments: Sequence[str]) -> tuple[ExtractRequest, list[str]]:
    """``key=value`` arguments → (the command's options, the Hydra overrides of configs/bench.yaml)."""
    request, overrides = {}, []
    for argument in arguments:
        key, _, value = argument.partition("=")
        if key in REQUEST_KEYS:
            request[key] = value
        else:
            overrides.append(argument)
    return ExtractRequest(**request), overrides


def compose_bench_config(overrides: list[str]) -> DictConfig:
    return compose_checked("bench", overrides)  # an unknown key or choice: one line, exit 2


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or arguments[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2

    def extract() -> int:
        request, overrides = split_arguments(arguments[1:])
        extract_features(compose_bench_config(overrides), request, overrides)
        return 0

    return exit_status(extract)


if __name__ == "__main__":
    sys.exit(main())
