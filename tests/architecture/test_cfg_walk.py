"""The sweep's config walk stays short (shared/design.md; issue 28): from the ``bench`` entry point to a
written record at most 50 stops, ``runs/`` files entered at most 15 times, never a climb back up a layer."""

from __future__ import annotations

import pytest
from architecture.cfg_walk import toy_overrides, walk_sweep  # also a script: it prints the walk


@pytest.mark.slow
def test_the_sweeps_config_walk_is_short_and_only_goes_down(tmp_path):
    walk = walk_sweep(toy_overrides(tmp_path))
    assert ("rns_bench/runs/evaluate.py", "run_record") in walk.stops  # it reached the record
    assert len(walk.stops) <= 50, walk.stops
    assert walk.runs_entered <= 15, walk.edges
    assert walk.climbs == []
