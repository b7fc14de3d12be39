"""The dataset card (``README.md``) of a reproduction pack: Hub metadata, what it holds, how to use it."""

from __future__ import annotations

from typing import Any

import yaml

FRONT_MATTER = {"tags": ["rns-bench", "feature-cache", "safetensors"], "viewer": False}


def sweep_command(part: dict[str, Any]) -> str:
    """The sweep that reads a part's features (add ``extraction.backbone=cached`` to run without the backbone)."""
    return " ".join(["python -m rns_bench.bench", *part["overrides"]])


def dataset_card(manifest: dict[str, Any]) -> str:
    """README.md of the pack ``manifest`` describes: YAML metadata for the Hub, then a table and commands."""
    parts = manifest["parts"]
    names = ", ".join(f"{p['dataset']} × {p['backbone']}" for p in parts)
    front = {"pretty_name": f"rns-bench reproduction pack: {names}", **FRONT_MATTER}
    rows = [_row(part, manifest["caches"]) for part in parts]
    commands = "\n".join(f"    {sweep_command(part)} extraction.backbone=cached" for part in parts)
    return f"""---
{yaml.safe_dump(front, sort_keys=False).strip()}
---
# rns-bench reproduction pack

The cached dense features (and region maps) of rns-bench runs, with the text features of their
classes: every method that works on features (zero-shot, RNS and its ablations, kNN-CLIP, FREEDA,
the linear probes) reruns from them with no backbone weights and no GPU, to the same records.
Written by `python -m rns_bench.features export`; `manifest.json` holds each cache's key (backbone
settings, windows, feature dtype, pixel pipeline `{manifest["pixel_pipeline"]}`), each part's data
identity and the sha256 of every shard.

| dataset | backbone | test images | support-pool images packed | test features | support features | region maps |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

## Use

The dataset's own files are still needed (labels; images are read only to check they are the
pack's). Import (the sha256 of every shard is checked first; a pack made with other settings or
other data is refused, naming the difference), then sweep:

    python -m rns_bench.features import pack=hf://datasets/<this repository> data_root=/data
{commands}

The features derive from the datasets' images: the datasets' own licences apply.
"""


def _row(part: dict[str, Any], caches: dict[str, Any]) -> str:
    roles, images = part["caches"], part["images"]
    test, support = (caches[roles[role]]["key"] for role in ("test", "support"))
    regions = caches[roles["regions"]]["settings"]["proposer"] if "regions" in roles else "–"
    return (
        f"| {part['dataset']} | {part['backbone']} | {images['test']} | {images['support_in_pack']} of "
        f"{images['support_pool']} | {_setting(test)} | {_setting(support)} | {regions} |"
    )


def _setting(key: dict[str, Any]) -> str:
    settings = key["settings"]
    size = "original size" if settings["short_side"] is None else f"short side {settings['short_side']}"
    windows = settings["windows"]
    grid = "whole image" if windows is None else " + ".join(f"{crop}/{stride}" for crop, stride in windows)
    return f"{size}, {grid}, {key['storage_dtype']}"
