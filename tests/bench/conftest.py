"""Fixtures of the sweep tests."""

from __future__ import annotations

import pytest

import rns_bench.features.store as store_module


@pytest.fixture
def extracted(monkeypatch) -> list[int]:
    """Images run through a backbone (every extraction path goes through ``extract_prepared``)."""
    counts: list[int] = []
    real = store_module.extract_prepared

    def counting(backbone, prepared, *args, **kwargs):
        counts.append(len(prepared))
        return real(backbone, prepared, *args, **kwargs)

    monkeypatch.setattr(store_module, "extract_prepared", counting)
    return counts
