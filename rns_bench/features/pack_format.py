"""A reproduction pack on disk: safetensors shards, ``manifest.json`` and a dataset card (``README.md``).

The folder is a Hugging Face dataset repository as it stands (``hf upload --repo-type dataset``):

    README.md                                      the dataset card: what the pack holds, how to import it
    manifest.json                                  parts (dataset × backbone: overrides, data identity), caches
                                                   (feature keys, region settings, backbone card), every shard
                                                   with its size and sha256
    features/<backbone>-<key digest>/00000.safetensors    "<entry>/features" (h, w, D), "<entry>/resized_hw" (2,)
    regions/<proposer>-<settings hash>/00000.safetensors  "<entry>/png": the region cache's PNG bytes (uint8)
    backbones/<backbone>-<digest>.safetensors      the backbone card (``backbone_card``), as the cache holds it

Entries keep the names the caches give them (the sha256 of the image file), so a pack serves any copy
of the same images. A shard is written atomically and closed at ``max_bytes`` of tensors.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from rns_bench.core.atomic_io import atomic_target, write_text_atomic
from rns_bench.core.errors import InputError
from rns_bench.core.file_digests import sha256_file

PACK_FORMAT = "rns-bench-pack-v1"
MANIFEST_NAME = "manifest.json"
CARD_NAME = "README.md"
DEFAULT_SHARD_MB = 512  # well under the Hub's per-file limits; a few shards per real dataset and backbone

Entry = tuple[str, dict[str, torch.Tensor]]  # entry name → its tensors ("features", "resized_hw" / "png")


def write_shards(pack: Path, folder: str, entries: Iterable[Entry], max_bytes: int) -> list[dict[str, Any]]:
    """Write ``entries`` as ``<pack>/<folder>/00000.safetensors, 00001, ...``, each closed once it holds
    ``max_bytes`` of tensors; returns each shard's manifest row (file, entries, bytes, sha256)."""
    shards: list[dict[str, Any]] = []
    tensors: dict[str, torch.Tensor] = {}
    count = size = 0
    for name, parts in entries:
        for suffix, tensor in parts.items():
            tensors[f"{name}/{suffix}"] = tensor.contiguous()
            size += tensor.numel() * tensor.element_size()
        count += 1
        if size >= max_bytes:
            shards.append(_write_shard(pack, f"{folder}/{len(shards):05d}.safetensors", tensors, count))
            tensors, count, size = {}, 0, 0
    if tensors:
        shards.append(_write_shard(pack, f"{folder}/{len(shards):05d}.safetensors", tensors, count))
    return shards


def _write_shard(pack: Path, file: str, tensors: dict[str, torch.Tensor], count: int) -> dict[str, Any]:
    with atomic_target(pack / file) as tmp:
        save_file(tensors, str(tmp), metadata={"format": PACK_FORMAT})
    return shard_row(pack, file, count)


def shard_row(pack: Path, file: str, entries: int) -> dict[str, Any]:
    """The manifest row of the written file ``<pack>/<file>``."""
    path = pack / file
    return {"file": file, "entries": entries, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def read_shard(path: Path) -> Iterator[Entry]:
    """The entries of one shard, in file order (one entry's tensors at a time in memory)."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            grouped: dict[str, list[str]] = {}
            for key in handle.keys():  # noqa: SIM118  (a safetensors handle is not a mapping)
                name, _, suffix = key.rpartition("/")
                grouped.setdefault(name, []).append(suffix)
            for name, suffixes in grouped.items():
                yield name, {suffix: handle.get_tensor(f"{name}/{suffix}") for suffix in suffixes}
    except (SafetensorError, OSError) as error:
        raise InputError(f"pack shard {path} is unreadable ({error}); download or copy the pack again") from None


def verify_shards(pack: Path, caches: Iterable[dict[str, Any]]) -> int:
    """Check the size and sha256 of every shard of ``caches`` (manifest rows); returns their total bytes.
    An InputError names the first missing or damaged file."""
    total = 0
    for cache in caches:
        for shard in cache["shards"]:
            path = pack / shard["file"]
            if not path.is_file():
                raise InputError(f"pack shard {path} is missing; download or copy the whole pack folder again")
            if path.stat().st_size != shard["bytes"] or sha256_file(path) != shard["sha256"]:
                raise InputError(
                    f"pack shard {path} fails its sha256 check (manifest: {shard['sha256'][:16]}…, "
                    f"{shard['bytes']} bytes): the file is damaged or incomplete; download or copy it again"
                )
            total += shard["bytes"]
    return total


def write_manifest(pack: Path, manifest: dict[str, Any]) -> None:
    write_text_atomic(pack / MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def read_manifest(pack: Path) -> dict[str, Any]:
    """The manifest of the pack folder ``pack``; an InputError naming the file when it is not one we read."""
    path = pack / MANIFEST_NAME
    if not path.is_file():
        raise InputError(f"pack={pack} is not a reproduction pack: it has no {MANIFEST_NAME}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path} is unreadable ({error}); download or copy the pack again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != PACK_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise InputError(
            f"{path} is pack format {found!r}; this rns-bench reads {PACK_FORMAT!r}: export the pack again "
            "with this version, or install the version that wrote it"
        )
    missing = {"parts", "caches", "pixel_pipeline"} - set(manifest)
    if missing:
        raise InputError(f"{path} lacks {sorted(missing)}; export the pack again")
    return manifest
