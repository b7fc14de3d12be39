"""Where a pack comes from: a local folder, or a Hugging Face dataset repository (``hf://datasets/<repo>``).

``hf://datasets/<org>/<name>[@<revision>]`` is downloaded with ``huggingface_hub.snapshot_download`` into
the Hugging Face cache (``HF_HOME`` / ``HF_HUB_CACHE``), then read like a folder. Offline
(``HF_HUB_OFFLINE=1``) only a copy already in that cache is used; no network, a wrong endpoint or an
unknown repository fail at once in one line naming the repository and the fix (features.md, "Offline
reality").
"""

from __future__ import annotations

import os
from pathlib import Path

from rns_bench.backbones.weight_files import hub_offline
from rns_bench.core.errors import InputError
from rns_bench.features.pack_format import MANIFEST_NAME

HUB_PREFIX = "hf://datasets/"
HUB_ETAG_TIMEOUT_S = 10  # huggingface_hub's default; a host that never answers fails after it


def pack_folder(source: str) -> Path:
    """The local folder of the pack ``source`` (downloaded first when it names a Hub dataset repository)."""
    if source.startswith(HUB_PREFIX):
        return download_pack(source)
    folder = Path(source).expanduser()
    if not (folder / MANIFEST_NAME).is_file():
        hint = f"; a Hub pack is named {HUB_PREFIX}<org>/<name>" if source.count("/") == 1 else ""
        raise InputError(f"pack={source}: no such pack folder (no {folder / MANIFEST_NAME}){hint}")
    return folder


def download_pack(source: str) -> Path:
    """``hf://datasets/<repo>[@<revision>]`` → its snapshot folder in the Hugging Face cache."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    repo, _, revision = source[len(HUB_PREFIX) :].partition("@")
    offline = _offline()
    endpoint = os.environ.get("HF_ENDPOINT") or None  # read now: huggingface_hub reads it once, on import
    try:
        folder = snapshot_download(
            repo,
            repo_type="dataset",
            revision=revision or None,
            local_files_only=offline,
            etag_timeout=HUB_ETAG_TIMEOUT_S,
            endpoint=endpoint,
        )
    except (HfHubHTTPError, OSError, ValueError) as error:  # LocalEntryNotFoundError is an OSError
        raise InputError(_unreachable(repo, source, offline, endpoint, error)) from None
    return Path(folder)


def _offline() -> bool:
    """HF_HUB_OFFLINE as the environment says it now (huggingface_hub read it once, on import)."""
    value = os.environ.get("HF_HUB_OFFLINE")
    return value.strip().lower() in {"1", "on", "yes", "true"} if value is not None else hub_offline()


def _unreachable(repo: str, source: str, offline: bool, endpoint: str | None, error: Exception) -> str:
    fetch = f"`hf download {repo} --repo-type dataset --local-dir DIR` where the Hub is reachable, then pack=DIR"
    if offline:
        return (
            f"pack={source}: dataset repo {repo} is not in the Hugging Face cache and HF_HUB_OFFLINE=1 forbids "
            f"downloading it; unset HF_HUB_OFFLINE, or {fetch}"
        )
    reason = " ".join(str(error).split())[:160]
    where = endpoint or "https://huggingface.co"
    return (
        f"pack={source}: cannot download dataset repo {repo} from {where} ({type(error).__name__}: {reason}); "
        f"check the name, the network and HF_ENDPOINT / HF_TOKEN, or {fetch}"
    )
