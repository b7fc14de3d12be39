"""Find a backbone's weight files on disk before building anything, or fail fast saying how to get them.

features.md, "Offline reality": with no network every download step must fail fast with a
message naming what is missing and how to provide it (a path, an env var), never a hang or a
stack trace from deep inside a library. So the Hugging Face cache is checked *before* a model
is built, and open_clip is handed a local file, never a tag it would try to download.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from rns_bench.core.errors import InputError

OPEN_CLIP_HF_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")  # open_clip's preference order
CHECKPOINT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
_TRUE = {"1", "on", "yes", "true"}


@dataclass(frozen=True)
class OpenCLIPWeights:
    """A local open_clip checkpoint and what its pretrained tag says about the architecture."""

    checkpoint: str
    quick_gelu: bool = False  # OpenAI-trained towers use QuickGELU; a file path alone cannot say so


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE is set (read now, not when huggingface_hub was imported)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        return True
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def hub_cache_dir(cache_dir: str | None) -> str:
    """The Hugging Face cache directory a lookup uses (``cache_dir`` or HF_HUB_CACHE / HF_HOME)."""
    if cache_dir:
        return str(cache_dir)
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def looks_like_path(value: str) -> bool:
    """A ``pretrained`` value that is a file path rather than an open_clip tag."""
    return os.sep in value or "/" in value or value.endswith(CHECKPOINT_SUFFIXES) or value.startswith("~")


def require_file(backbone: str, option: str, value: str | os.PathLike | None, what: str, how: str) -> Path:
    """An existing file named by ``backbone.options.<option>``, else an InputError saying how to get it."""
    if value is None or str(value) == "":
        raise InputError(f"{backbone}: set backbone.options.{option}=/path/to/file — {what}. {how}")
    path = Path(value).expanduser()
    if not path.is_file():
        raise InputError(f"{backbone}: backbone.options.{option}={str(value)!r} is not a file ({what}). {how}")
    return path


def resolve_open_clip_weights(
    backbone: str,
    model_name: str,
    pretrained: str,
    cache_dir: str | None = None,
) -> OpenCLIPWeights:
    """An open_clip pretrained tag or checkpoint path → a local checkpoint file, without network
    when HF_HUB_OFFLINE is set; a missing file is an InputError that names the fix."""
    if looks_like_path(pretrained):
        path = require_file(
            backbone,
            "pretrained",
            pretrained,
            f"an open_clip checkpoint for {model_name}",
            "Give the path of a downloaded open_clip checkpoint (.safetensors / .bin / .pt), "
            "or an open_clip pretrained tag.",
        )
        return OpenCLIPWeights(str(path))
    import open_clip

    config = open_clip.get_pretrained_cfg(model_name, pretrained)
    if not config:
        tags = open_clip.list_pretrained_tags_by_model(model_name)
        raise InputError(
            f"{backbone}: open_clip has no pretrained tag {pretrained!r} for {model_name}; valid "
            f"tags: {', '.join(tags) or '(none)'}; or set backbone.options.pretrained=/path/to/file"
        )
    quick_gelu = bool(config.get("quick_gelu", False))
    cached = _cached_open_clip_file(config, cache_dir)
    if cached:
        return OpenCLIPWeights(cached, quick_gelu)
    if hub_offline():
        raise InputError(_missing_weights_message(backbone, model_name, pretrained, config, cache_dir))
    try:  # online: open_clip's own download (safetensors first), into the same cache
        from open_clip.pretrained import download_pretrained

        return OpenCLIPWeights(download_pretrained(config, cache_dir=cache_dir), quick_gelu)
    except Exception as error:  # any download failure gets the same fix
        reason = f"downloading them failed ({type(error).__name__}: {error})"
        message = _missing_weights_message(backbone, model_name, pretrained, config, cache_dir, reason)
        raise InputError(message) from None


def _hf_location(config: dict) -> tuple[str, tuple[str, ...]] | None:
    """open_clip's ``hf_hub`` entry 'org/repo/[file]' → (repo id, candidate file names)."""
    if not config.get("hf_hub"):
        return None
    repo_id, filename = os.path.split(config["hf_hub"])  # 'org/repo/' → ('org/repo', ''), as open_clip splits it
    if not filename:
        return repo_id, OPEN_CLIP_HF_FILES
    stem, suffix = os.path.splitext(filename)
    safe = (stem + ".safetensors",) if suffix in (".bin", ".pth") else ()
    return repo_id, (*safe, filename)


def _cached_open_clip_file(config: dict, cache_dir: str | None) -> str | None:
    location = _hf_location(config)
    if location is not None:
        from huggingface_hub import try_to_load_from_cache

        repo_id, filenames = location
        for filename in filenames:
            found = try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir)
            if isinstance(found, str) and os.path.isfile(found):
                return found
    if config.get("url"):  # open_clip's own URL cache (~/.cache/clip unless cache_dir)
        target = Path(cache_dir or "~/.cache/clip").expanduser() / os.path.basename(config["url"])
        if target.is_file():
            return str(target)
    return None


def _missing_weights_message(
    backbone: str,
    model_name: str,
    tag: str,
    config: dict,
    cache_dir: str | None,
    reason: str = "HF_HUB_OFFLINE=1 forbids downloading them",
) -> str:
    location = _hf_location(config)
    if location is None:
        source = f"URL {config.get('url')}"
        fetch = f"download {config.get('url')} into {Path(cache_dir or '~/.cache/clip').expanduser()}"
        example = os.path.basename(config.get("url", "checkpoint.pt"))
    else:
        repo_id, filenames = location
        source = f"Hugging Face repo {repo_id!r}, file {' or '.join(filenames)}"
        fetch = f"`HF_HUB_OFFLINE=0 hf download {repo_id} {filenames[0]}` on a machine with network"
        example = filenames[0]
    return (
        f"{backbone}: the open_clip weights {model_name} / {tag} ({source}) are not in the Hugging Face cache "
        f"{hub_cache_dir(cache_dir)} and {reason}. Fix: {fetch} and copy the cache here (or point "
        f"HF_HUB_CACHE / HF_HOME or backbone.options.hf_cache_dir at one that holds them), or allow the "
        f"download (`make ... ONLINE=1`, or HF_HUB_OFFLINE=0 outside make), or set "
        f"backbone.options.pretrained=/path/to/{example}"
    )


def require_hf_tokenizer(backbone: str, source: str, cache_dir: str | None = None) -> None:
    """A Hugging Face tokenizer (repo id or local directory) usable now: transformers installed and,
    offline, its files in the cache."""
    import importlib.util

    if importlib.util.find_spec("transformers") is None:
        raise InputError(
            f"{backbone}: its text tower needs a Hugging Face tokenizer ({source}); "
            f"install it with `pip install transformers`"
        )
    if Path(source).expanduser().is_dir() or not hub_offline():
        return
    from huggingface_hub import try_to_load_from_cache

    missing = [
        name
        for name in ("tokenizer_config.json", "tokenizer.json")
        if not isinstance(try_to_load_from_cache(source, name, cache_dir=cache_dir), str)
    ]
    if missing:
        raise InputError(
            f"{backbone}: the tokenizer files {', '.join(missing)} of Hugging Face repo {source!r} are "
            f"not in the Hugging Face cache {hub_cache_dir(cache_dir)} and HF_HUB_OFFLINE=1 forbids "
            f"downloading them. Fix: `HF_HUB_OFFLINE=0 hf download {source}` on a machine with network "
            f"and copy the cache here, or set backbone.options.tokenizer=/path/to/tokenizer_dir"
        )


def checkpoint_hash_suffix(path: Path) -> str | None:
    """The 8-hex-digit hash Meta's file names end with (``...-8aa4cbdd.pth``), or None."""
    match = re.search(r"-([0-9a-f]{8})\.pth$", path.name)
    return match.group(1) if match else None
