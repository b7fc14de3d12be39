"""``python -m rns_bench.features extract | export | import`` — fill, pack and unpack the feature cache.

extract [split=both] [support_images=splits] [bench overrides ...]
    Precomputes a dataset's test and/or support features into the cache, with a progress bar, so
    later sweeps only read them. ``split``: test | support | both (default). ``support_images``:
    splits (default; the images of every ``shots`` × ``seeds`` support split) | pool (every image of
    the seeds' support pools).

export pack=DIR [shard_mb=512] [bench overrides ...]
    Writes the cached features (and, in region mode, region maps) of the configured dataset ×
    backbone as a reproduction pack: a Hugging Face dataset folder (safetensors shards, manifest.json
    with every cache key, data identity and shard sha256, README.md). ``dataset=a,b`` and
    ``backbone=x,y`` pack every combination. Extracts nothing: sweep or extract first.

import pack=DIR|hf://datasets/ORG/NAME[@REVISION] [bench overrides ...]
    Checks the pack against your config (refused, naming the difference, when its backbone settings,
    pixel pipeline or data differ), verifies every shard's sha256, and fills cache_dir (and
    region_cache_dir) atomically. Then sweep with ``extraction.backbone=cached`` to need no backbone.

Every other argument is a Hydra override of ``configs/bench.yaml``, exactly as for ``python -m rns_bench.bench``:

    python -m rns_bench.features extract dataset=voc backbone=clip_b16 data_root=/data cache_dir=/fast/cache
    python -m rns_bench.features export pack=packs/voc-clip_b16 dataset=voc backbone=clip_b16 data_root=/data
    python -m rns_bench.features import pack=hf://datasets/ORG/rns-voc-clip_b16 data_root=/data

Exit status: 0 done, 2 bad input (the message says the fix).
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence

from omegaconf import DictConfig

from rns_bench.bench.extract import ExtractRequest, extract_features
from rns_bench.bench.pack_export import export_pack
from rns_bench.bench.pack_import import import_pack
from rns_bench.cli import exit_status
from rns_bench.cli.preflight import compose_checked
from rns_bench.core.errors import ConfigError

COMMANDS = ("extract", "export", "import")
REQUEST_KEYS = {"extract": ("split", "support_images"), "export": ("pack", "shard_mb"), "import": ("pack",)}
EXPANDED = ("dataset", "backbone")  # export: a comma list packs every combination


def split_arguments(arguments: Sequence[str], command: str = "extract") -> tuple[dict[str, str], list[str]]:
    """``key=value`` arguments → (the command's options, the Hydra overrides of configs/bench.yaml)."""
    request, overrides = {}, []
    for argument in arguments:
        key, _, value = argument.partition("=")
        if key in REQUEST_KEYS[command]:
            request[key] = value
        else:
            overrides.append(argument)
    return request, overrides


def compose_bench_config(overrides: list[str]) -> DictConfig:
    return compose_checked("bench", overrides)  # an unknown key or choice: one line, exit 2


def combinations(overrides: list[str]) -> list[list[str]]:
    """The override lists of every dataset × backbone a comma list names (one list without commas)."""
    choices = {key: [None] for key in EXPANDED}
    rest = []
    for argument in overrides:
        key, _, value = argument.partition("=")
        if key in EXPANDED:
            choices[key] = [v.strip() for v in value.split(",") if v.strip()]
        else:
            rest.append(argument)
    return [
        [f"{key}={value}" for key, value in zip(EXPANDED, values, strict=True) if value is not None] + rest
        for values in itertools.product(*(choices[key] for key in EXPANDED))
    ]


def _pack_option(request: dict[str, str], command: str) -> str:
    if not request.get("pack"):
        example = "pack=packs/voc-clip_b16" if command == "export" else "pack=DIR or pack=hf://datasets/ORG/NAME"
        raise ConfigError(f"{command} needs {example}")
    return request["pack"]


def _shard_mb(request: dict[str, str]) -> float:
    try:
        return float(request.get("shard_mb", 512))
    except ValueError:
        raise ConfigError(f"shard_mb must be a number of MiB, got {request['shard_mb']!r}") from None


def extract(request: dict[str, str], overrides: list[str]) -> None:
    extract_features(compose_bench_config(overrides), ExtractRequest(**request), overrides)


def export(request: dict[str, str], overrides: list[str]) -> None:
    pack, shard_mb = _pack_option(request, "export"), _shard_mb(request)
    report = export_pack([(compose_bench_config(each), each) for each in combinations(overrides)], pack, shard_mb)
    print("\n".join(report.lines))
    print(f"pack {report.pack}: {report.shards} shards, {report.bytes / 2**20:.1f} MiB in {report.seconds:.1f} s")


def import_(request: dict[str, str], overrides: list[str]) -> None:
    report = import_pack(_pack_option(request, "import"), overrides, compose_bench_config)
    print("\n".join(report.lines))
    print(
        f"imported {report.pack}: {report.shards} shards ({report.bytes / 2**20:.1f} MiB, sha256 verified) "
        f"in {report.seconds:.1f} s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or arguments[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    command = {"extract": extract, "export": export, "import": import_}[arguments[0]]

    def run() -> int:
        command(*split_arguments(arguments[1:], arguments[0]))
        return 0

    return exit_status(run)


if __name__ == "__main__":
    sys.exit(main())
