"""A run's fingerprint: a hash of everything that changes its number.

A record stores its ``identity`` (the mapping below), ``fingerprint`` (its hash) and
``config_fingerprint`` (the hash without shots and seed: the same for every cell of one config). A sweep skips
a run only when a record of the same key *and* fingerprint exists; any change (a method option,
tuned parameters, backbone options or windows, the test images, the protocol, the class list or
dataset files, the cache dtype, the pixel path, the trainer's precision) makes a new fingerprint,
so the run is re-done and its record written beside the old one.

What only says where or how fast to compute (device, cache folders, image / window batches,
devices and nodes) is left out: it does not change the number. The test batch size is in: RNS
trains a batch's classifiers together and the summation order moves the last digits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from omegaconf import OmegaConf

from rns_bench.data.sampling import PROTOCOL_VERSION
from rns_bench.features.cache import RUNTIME_OPTIONS
from rns_bench.ops.resize import PIXEL_PIPELINE
from rns_bench.runs.config import RunConfig
from rns_bench.runs.key import RunKey

FINGERPRINT_LENGTH = 12  # hex characters in record file names; the record holds the full hash


def plain(node: Any) -> Any:
    """A config node as plain Python containers (resolved); anything else unchanged."""
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def _without_runtime(options: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (options or {}).items() if k not in RUNTIME_OPTIONS}


def test_images_sha256(image_ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(image_ids).encode()).hexdigest()


def run_identity(
    run: RunConfig,
    key: RunKey,
    *,
    method: str,
    options: Mapping[str, Any],
    tuned_params: Mapping[str, Any] | None,
    data: Mapping[str, Any],
    backbone_provenance: Mapping[str, Any],
    row_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The mapping a run's fingerprint hashes.

    ``options``: the method's resolved options (the row's, with tuned parameters on top);
    ``data``: dataset key, data version, class-list and test-image hashes (:func:`data_identity`).
    """
    backbone, proposer = run.backbone, run.proposer
    return {
        "run": {
            "dataset": key.dataset,
            "backbone": key.backbone,
            "protocol": key.protocol,
            "row": key.row,
            "shots": key.shots,
            "seed": key.seed,
        },
        "method": {
            "name": method,
            "options": dict(options),
            "tuned_params": dict(tuned_params or {}),
            "row_options": dict(row_options if row_options is not None else options),
        },
        "backbone": {
            **{k: v for k, v in backbone.items() if k != "options"},
            "options": _without_runtime(backbone.get("options")),
            "provenance": dict(backbone_provenance),
        },
        "extraction": {
            "cache_dtype": run.extraction.cache_dtype,
            "pixel_pipeline": PIXEL_PIPELINE,
            "autocast": run.autocast,
        },
        "protocol": {
            "visual_drop_fraction": float(run.protocol.visual_drop_fraction),
            "text_drop_fraction": float(run.protocol.text_drop_fraction),
            "query_mode": run.query_mode,
            "sampler": PROTOCOL_VERSION,
            "proposer": (
                {"name": proposer.get("name"), "options": _without_runtime(proposer.get("options"))}
                if run.query_mode == "region"
                else None
            ),
        },
        # batch_size: RNS trains a batch's classifiers together; float summation order moves the 5th digit.
        "evaluation": {"batch_size": int(run.batch_size), "precision": run.precision},
        "data": dict(data),
    }


# n_trials is left out on purpose: more trials extend the same study (``python -m rns_bench.tuning
# tuning.n_trials=40`` first, then ``make bench`` uses those parameters); the record holds the values used.
TUNING_SETTINGS = (
    "enqueue_defaults",
    "val_fraction",
    "split_seed",
    "sampler_seed",
    "tpe_startup_trials",
    "report_every",
    "pruner",
)


def tuning_identity(
    run: RunConfig,
    key: RunKey,
    *,
    method: str,
    options: Mapping[str, Any],
    data: Mapping[str, Any],
    backbone_provenance: Mapping[str, Any],
) -> dict[str, Any]:
    """What a tuned-parameter file depends on: the support features (backbone, extraction, pixels,
    dataset files and classes), the protocol, the row's own options, its search space and the study
    settings. Not the test images: tuning never sees them."""
    identity = run_identity(
        run,
        key,
        method=method,
        options=options,
        tuned_params=None,
        data={k: v for k, v in data.items() if not k.startswith(("num_test", "test_"))},
        backbone_provenance=backbone_provenance,
    )
    identity.pop("evaluation")
    identity["tuning"] = {
        "search_space": (run.tuning.search_space or {}).get(key.row),
        **{name: run.tuning.setting(name) for name in TUNING_SETTINGS},
    }
    return identity


def data_identity(
    spec_key: str, data_version: str, class_list_sha256: str, test_ids: Sequence[str], test_contents_sha256: str
) -> dict[str, Any]:
    """The test split by name and by content (``reader.contents_sha256``: every image and label file's bytes)."""
    return {
        "dataset": spec_key,
        "data_version": data_version,
        "class_list_sha256": class_list_sha256,
        "num_test_images": len(test_ids),
        "test_images_sha256": test_images_sha256(test_ids),
        "test_contents_sha256": test_contents_sha256,
    }


def fingerprint(identity: Mapping[str, Any]) -> str:
    """sha256 of the identity's canonical JSON (64 hex characters)."""
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def config_fingerprint(identity: Mapping[str, Any]) -> str:
    """The fingerprint of the identity without its cell (shots, seed, its support split) and without what is tuned per
    cell (tuned parameters, and the options they override): shared by every run of one config of a
    row, so reports group a row's records by it."""
    run = {k: v for k, v in identity.get("run", {}).items() if k not in ("shots", "seed")}
    method = identity.get("method", {})
    method = {"name": method.get("name"), "row_options": method.get("row_options", method.get("options"))}
    data = {k: v for k, v in identity.get("data", {}).items() if k != "support"}  # the cell's support split
    return fingerprint({**identity, "run": run, "method": method, "data": data})


def evaluation_fingerprint(identity: Mapping[str, Any]) -> str:
    """The run identity without what a support-free method's prediction does not depend on: the shot
    count and the support split, and the seed unless names are dropped (partial text, rns spec §5)."""
    run = {k: v for k, v in identity["run"].items() if k != "shots"}
    if not identity["protocol"]["text_drop_fraction"]:
        run.pop("seed")
    data = {k: v for k, v in identity["data"].items() if k != "support"}
    return fingerprint({**identity, "run": run, "data": data, "evaluated_once": True})


def identity_differences(identities: Sequence[Mapping[str, Any]]) -> list[str]:
    """Dotted paths (``method.options.k``) whose values differ between ``identities``, sorted."""
    flat = [_flatten(identity) for identity in identities]
    paths = set().union(*flat) if flat else set()
    return sorted(p for p in paths if len({json.dumps(f.get(p), sort_keys=True, default=str) for f in flat}) > 1)


def _flatten(node: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in node.items():
        path = f"{prefix}{name}"
        if isinstance(value, Mapping) and value:
            out.update(_flatten(value, path + "."))
        else:
            out[path] = value
    return out
