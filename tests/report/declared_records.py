"""Hand-written run records whose identity is the one an experiment declares (as a sweep would write
them), or deliberately another: reports can be tested on exact numbers without running sweeps."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from rns_bench.report.declared import Declarations


@cache
def _declarations(experiment: str, backbone: str, overrides: tuple[str, ...]) -> Declarations:
    return Declarations(experiment, backbone, overrides)


def write_record(
    results: Path,
    experiment: str,
    dataset: str,
    row: str,
    shots: int,
    seed: int,
    miou: Any,
    *,
    backbone: str = "clip_b16",
    folder: str = "full",
    overrides: Sequence[str] = (),
    test_limit: int | None = None,
    num_test_images: int = 10,
    created: str = "2026-12-01T00:00:00Z",
    data_copy: str = "a",
    change: Callable[[dict[str, Any]], None] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """A record of ``row`` on ``dataset`` in ``folder`` of the config ``experiment`` declares with
    ``overrides`` (``change`` edits its identity; ``data_copy`` names the data's content, which no config
    declares); returns its path."""
    identity = copy.deepcopy(_declarations(experiment, backbone, tuple(overrides)).cell(dataset, folder, row).identity)
    identity["run"].update(shots=shots, seed=seed)
    identity["method"]["options"] = identity["method"]["row_options"]
    identity["backbone"]["provenance"] = {}
    identity["data"] = {"dataset": dataset, "num_test_images": num_test_images, "test_contents_sha256": data_copy}
    if change:
        change(identity)
    fingerprint = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    config = dict(identity, run={k: v for k, v in identity["run"].items() if k not in ("shots", "seed")})
    config_fingerprint = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
    record = {
        "row": row,
        "dataset": dataset,
        "shots": shots,
        "seed": seed,
        "fingerprint": fingerprint,
        "config_fingerprint": config_fingerprint,
        "identity": identity,
        "num_test_images": num_test_images,
        "config": {"test_limit": test_limit},
        "created": created,
        "metrics": metrics or {"mIoU": miou},
    }
    path = results / dataset / backbone / folder / row / f"B{shots}_seed{seed}-{fingerprint[:12]}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path
