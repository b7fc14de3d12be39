"""Follow the sweep's config from ``python -m rns_bench.bench`` to a written record (issue 28's walk).

A *stop* is a function of the suite that receives the composed ``DictConfig`` (its root) or the typed
``RunConfig`` built from it, counted once; its *parent* is the nearest such function up the call stack.
*Entering* ``runs/`` is a call edge into a ``runs/`` file from another file; a *climb* is an edge from a
lower layer to a higher one. ``python tests/architecture/cfg_walk.py`` prints the walk."""

from __future__ import annotations

import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig

REPO = Path(__file__).resolve().parents[2]
# Top to bottom, as pyproject.toml's import-linter layers list them (baselines are methods).
LAYERS = ["cli", "demo", "perf", "bench", "report", "tuning", "runs", "segment", "methods", "baselines"]


@dataclass
class Walk:
    stops: list[tuple[str, str]] = field(default_factory=list)  # (file, function), in first-call order
    edges: list[tuple[tuple[str, str] | None, tuple[str, str]]] = field(default_factory=list)

    @property
    def files(self) -> set[str]:
        return {path for path, _ in self.stops}

    @property
    def runs_entered(self) -> int:
        return sum(1 for a, b in self.edges if b[0].startswith("rns_bench/runs/") and (a is None or a[0] != b[0]))

    @property
    def climbs(self) -> list[tuple[tuple[str, str], tuple[str, str]]]:
        return [(a, b) for a, b in self.edges if a and _rank(b[0]) < _rank(a[0])]


def _rank(path: str) -> int:
    parts = Path(path).parts
    name = "baselines" if parts[0] == "baselines" else parts[1].removesuffix(".py")
    return LAYERS.index(name) if name in LAYERS else len(LAYERS)


def _carries_the_config(value: object) -> bool:
    return (isinstance(value, DictConfig) and "rows" in value) or type(value).__name__ == "RunConfig"


def walk_sweep(overrides: list[str]) -> Walk:
    """Run ``python -m rns_bench.bench`` in this process with ``overrides`` and record the walk."""
    from rns_bench.cli.bench import main

    walk, parents = Walk(), {}

    def profile(frame, event, _arg):
        path = frame.f_code.co_filename or ""
        if event != "call" or not path.startswith((str(REPO / "rns_bench"), str(REPO / "baselines"))):
            return
        code = frame.f_code
        names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        if not any(_carries_the_config(frame.f_locals.get(name)) for name in names):
            return
        stop, caller = (str(Path(path).relative_to(REPO)), code.co_name), frame.f_back
        while caller is not None and caller not in parents:
            caller = caller.f_back
        parents[frame] = stop
        if stop not in walk.stops:
            walk.stops.append(stop)
            walk.edges.append((parents.get(caller) if caller is not None else None, stop))

    argv = sys.argv
    sys.argv = ["rns_bench.bench", *overrides]
    sys.setprofile(profile)
    threading.setprofile(profile)
    try:
        main()
    except SystemExit as exit_status:
        if exit_status.code not in (0, None):
            raise
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
        sys.argv = argv
    return walk


def toy_overrides(folder: Path) -> list[str]:
    return [
        f"results_dir={folder / 'results'}",
        f"cache_dir={folder / 'cache'}",
        f"data_root={folder / 'data'}",
        f"presence_cache_dir={folder / 'presence'}",
        f"hydra.run.dir={folder / 'hydra'}",
        "dataset=toy",
        "methods=[zero_shot,rns]",
        "shots=[1]",
        "seeds=[100]",
        "test_limit=4",
        "rows.rns.options.steps=5",
        "extraction.support_prefetch=drawn",
    ]


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        found = walk_sweep(toy_overrides(Path(folder)))
    print(f"{len(found.stops)} stops in {len(found.files)} files; runs/ entered {found.runs_entered} times")
    print(f"climbs up a layer: {found.climbs or 'none'}")
    for parent, stop in found.edges:
        print(f"  {stop[0]}:{stop[1]}  <- {parent[1] if parent else '-'}")
