"""NaN / inf features stop at the feature store, naming the image and the cache file they came from."""

from __future__ import annotations

import pytest
import torch
from features.extract_worker import IMAGE_IDS, make_store
from features.fake_backbones import noise_image

from rns_bench.core.errors import InputError
from rns_bench.features.dense import DenseFeatures


def test_a_nan_cache_entry_is_named_with_its_file(tmp_path):
    store = make_store(tmp_path / "cache")
    (good,) = store.get(IMAGE_IDS[:1], noise_image)
    poisoned = good.features.clone()
    poisoned[0, 0, 0] = float("inf")
    store.cache.save(IMAGE_IDS[1], DenseFeatures(poisoned, good.resized_hw))
    fresh = make_store(tmp_path / "cache")  # a later run reads the cache
    with pytest.raises(InputError) as raised:
        fresh.get(IMAGE_IDS[:2], noise_image)
    message = str(raised.value)
    assert f"features of image {IMAGE_IDS[1]!r} contain NaN or inf" in message
    assert str(fresh.cache.path(IMAGE_IDS[1])) in message and "delete it to re-extract" in message
    assert torch.isfinite(fresh.get(IMAGE_IDS[:1], noise_image)[0].features).all()  # the good one still loads
