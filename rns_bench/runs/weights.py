"""Loading a component's weights (backbone, region proposer) with a one-line error naming the option."""

from __future__ import annotations

import contextlib
import pickle
import zipfile
from collections.abc import Iterator
from pathlib import Path

from rns_bench.backbones import build_backbone
from rns_bench.backbones.base import Backbone
from rns_bench.core.errors import ConfigError, InputError, RNSBenchError
from rns_bench.features.backbone_card import cached_backbone
from rns_bench.runs.config import RunConfig


def run_backbone(run: RunConfig) -> Backbone:
    """``run``'s backbone: built from its weights, or with ``extraction.backbone=cached`` the stand-in whose
    features and text come from ``cache_dir`` only (an imported reproduction pack)."""
    options = dict(run.backbone.get("options") or {})
    if run.extraction.backbone == "cached":
        return cached_backbone(run.cache_dir, run.backbone_name, options)
    with weights_loading(f"backbone {run.backbone_name}", options, "backbone.options"):
        return build_backbone(run.backbone_name, **options)


@contextlib.contextmanager
def weights_loading(what: str, options: dict, prefix: str) -> Iterator[None]:
    """A weight file that exists but cannot be read (truncated, not a checkpoint) becomes one line naming
    the option that points at it, instead of the loader's traceback."""
    try:
        yield
    except RNSBenchError:
        raise
    except (
        pickle.UnpicklingError,
        EOFError,
        zipfile.BadZipFile,
        RuntimeError,
        ValueError,
        OSError,
        TypeError,
    ) as error:
        files = {k: v for k, v in options.items() if isinstance(v, str) and Path(v).expanduser().is_file()}
        first = (str(error).strip().splitlines() or [""])[0][:200]
        if not files and isinstance(error, ValueError | TypeError):  # a bad option value, not a bad file
            given = ", ".join(f"{prefix}.{k}={v!r}" for k, v in options.items())
            raise ConfigError(
                f"{what} cannot be built from {given} ({type(error).__name__}: {first}); check each "
                f"value's type and range against its configs/ file"
            ) from None
        named = ", ".join(f"{prefix}.{k}={v}" for k, v in files.items()) or f"the weights {what} loads"
        raise InputError(
            f"{what} could not load {named} ({type(error).__name__}: {first}); the file is not a "
            "complete checkpoint of this model: download it again or point the option at the right "
            "file"
        ) from None
