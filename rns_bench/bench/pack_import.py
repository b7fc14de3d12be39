"""Fill a user's caches from a reproduction pack (``python -m rns_bench.features import``).

For each part of the pack (dataset × backbone; ``dataset=`` / ``backbone=`` on the command line pick
some) the user's config is composed from the part's recorded overrides with the command line's on top,
and built exactly as a sweep builds it (``build_context``), with the pack's backbone card standing in
for the backbone. So the keys compared are the ones the user's sweep will look up: the ``FeatureKey`` of
the test and support features (backbone and options, short side and windows, feature dtype, autocast,
cache format, pixel pipeline), the region cache's settings, and the data identity its records will hold
(the test images and labels by content, the class list). Any difference refuses the pack, naming it.
Then the sha256 of every shard is checked, and the entries are staged and moved into place
(``rns_bench.features.pack_install``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rns_bench.bench.pack_readme import sweep_command
from rns_bench.bench.pack_targets import part_jobs
from rns_bench.core.errors import ConfigError, InputError
from rns_bench.features.backbone_card import CachedBackbone, load_card
from rns_bench.features.pack_format import read_manifest, verify_shards
from rns_bench.features.pack_install import InstallJob, install
from rns_bench.features.pack_source import pack_folder
from rns_bench.runs.context import RunContext, build_context
from rns_bench.runs.fingerprint import identity_differences
from rns_bench.runs.schema import validate_config

Compose = Callable[[list[str]], DictConfig]  # overrides → the composed configs/bench.yaml
SHOWN_DIFFERENCES = 3


@dataclass
class ImportReport:
    pack: Path
    bytes: int
    shards: int
    seconds: float
    lines: list[str]


def import_pack(source: str, overrides: Sequence[str], compose: Compose) -> ImportReport:
    """Check the pack ``source`` (a folder or ``hf://datasets/<repo>``) against the user's config and fill the
    user's caches from it; ``overrides``: the command line's (cache_dir, data_root, ...)."""
    started = time.perf_counter()
    folder = pack_folder(source)
    manifest = read_manifest(folder)
    parts = select_parts(manifest, overrides, source)
    cards = {part["caches"]["backbone"] for part in parts}
    verify_shards(folder, [manifest["caches"][card] for card in cards])  # read before the checks: verified first
    jobs: dict[Path, InstallJob] = {}
    lines = []
    for part in parts:
        arguments = merged_overrides(part["overrides"], overrides)
        run = validate_config(compose(arguments), arguments)
        if not run.cache_dir:
            raise ConfigError("import fills the on-disk feature cache: set cache_dir (configs/bench.yaml), not null")
        card = folder / part["caches"]["backbone"]
        context = build_context(run, backbone=CachedBackbone(load_card(card), card))
        check_part(manifest, part, context, source)
        for job, line in part_jobs(folder, manifest, part, run, context):
            if Path(job.target) not in jobs:  # parts that share a cache folder fill it once
                jobs[Path(job.target)] = job
                lines.append(line)
        lines.append(f"sweep with: {sweep_command(part)}  (add extraction.backbone=cached to run without the backbone)")
    used = {role_folder for part in parts for role_folder in part["caches"].values()}
    size = verify_shards(folder, [manifest["caches"][name] for name in sorted(used)])  # before any write
    install(list(jobs.values()))
    shards = sum(len(manifest["caches"][name]["shards"]) for name in used)
    return ImportReport(folder, size, shards, time.perf_counter() - started, lines)


def select_parts(manifest: dict[str, Any], overrides: Sequence[str], source: str) -> list[dict[str, Any]]:
    """The parts the command line's ``dataset=`` / ``backbone=`` pick (all of them without either)."""
    chosen = {}
    for argument in overrides:
        key, _, value = argument.partition("=")
        if key in ("dataset", "backbone"):
            chosen[key] = value
    parts = [p for p in manifest["parts"] if all(p[key] == value for key, value in chosen.items())]
    if not parts:
        held = ", ".join(f"dataset={p['dataset']} backbone={p['backbone']}" for p in manifest["parts"])
        asked = " ".join(f"{key}={value}" for key, value in chosen.items())
        raise ConfigError(
            f"pack {source} holds no features for {asked}: it holds {held}; import it with those, or export a "
            "pack of your dataset and backbone"
        )
    return parts


def merged_overrides(recorded: Sequence[str], given: Sequence[str]) -> list[str]:
    """The part's recorded overrides with the command line's on top (a key given there replaces the recorded one)."""
    given_keys = {_key(argument) for argument in given}
    return [*(a for a in recorded if _key(a) not in given_keys), *given]


def _key(argument: str) -> str:
    return argument.lstrip("+~").partition("=")[0]


def check_part(manifest: dict[str, Any], part: dict[str, Any], context: RunContext, source: str) -> None:
    """Refuse, in one line naming the difference, a part whose caches or data are not what ``context`` reads."""
    caches, roles = manifest["caches"], part["caches"]
    where = f"pack {source} ({part['dataset']} × {part['backbone']})"
    for role, store in (("test", context.test_store), ("support", context.support_store)):
        ours = json.loads(store.cache.key.to_json())
        _refuse_differences(
            caches[roles[role]]["key"],
            ours,
            f"{where} holds {role} features of another setting than your config reads",
            "sweep with the pack's settings (its overrides: see its README) or export a pack with yours",
        )
    if "regions" in roles:
        if context.region_store is None or context.region_store.cache is None:
            raise ConfigError(f"{where} holds region maps: import it in region mode with region_cache_dir set")
        _refuse_differences(
            caches[roles["regions"]]["settings"],
            context.region_store.cache.settings,
            f"{where} holds region maps of another proposer setting than your config reads",
            "sweep with the pack's proposer settings or export a pack with yours",
        )
    _refuse_differences(
        part["data_identity"],
        context.data_identity,
        f"{where} was made from other data than your {context.spec.key} under data_root",
        "import it with the pack's data (same files, test_limit and class list) or export a pack of yours",
    )


def _refuse_differences(pack: dict[str, Any], ours: dict[str, Any], what: str, fix: str) -> None:
    paths = identity_differences([pack, ours])
    if not paths:
        return
    shown = "; ".join(
        f"{path}: pack {_short(_at(pack, path))}, yours {_short(_at(ours, path))}" for path in paths[:SHOWN_DIFFERENCES]
    )
    more = f" (and {len(paths) - SHOWN_DIFFERENCES} more)" if len(paths) > SHOWN_DIFFERENCES else ""
    raise InputError(f"{what}: {shown}{more}; {fix}")


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 48 else text[:47] + "…"


def _at(mapping: dict[str, Any], dotted: str) -> Any:
    node: Any = mapping
    for name in dotted.split("."):
        if not isinstance(node, dict) or name not in node:
            return None
        node = node[name]
    return node
