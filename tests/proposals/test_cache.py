import os
import threading

import cv2
import numpy as np
import pytest
import torch

from rns_bench.features.dense import extract_dense
from rns_bench.proposals import Proposer, is_complete_region_map
from rns_bench.proposals.cache import ENTRY_FORMAT, RegionCache
from rns_bench.proposals.store import RegionStore, region_map_for_test_image, resized_image_loader


class _Stripes(Proposer):
    """Vertical stripes of ``width`` pixels; counts its calls."""

    name = "stripes"

    def __init__(self, width: int = 3):
        self.width, self.calls = width, 0

    def _propose(self, image):
        self.calls += 1
        return np.broadcast_to(np.arange(image.shape[1]) // self.width, image.shape[:2]).copy()

    def settings(self):
        return {"width": self.width}


def _random_map(seed=0, shape=(37, 53), regions=300):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, regions, shape, generator=generator, dtype=torch.int32)
    ids.view(-1)[:regions] = torch.arange(regions, dtype=torch.int32)
    return ids


def test_round_trip_is_bit_exact(tmp_path):
    cache = RegionCache(tmp_path, "toy", _Stripes(), short_side=448, data_version="v1")
    regions = _random_map()
    assert cache.load("2008_000123") is None
    cache.save("2008_000123", regions)
    loaded = cache.load("2008_000123")
    assert loaded.dtype == torch.int32 and torch.equal(loaded, regions)
    cache.save("sub/dir/img", regions)  # ids with slashes stay inside the cache folder
    assert torch.equal(cache.load("sub/dir/img"), regions) and cache.path("sub/dir/img").parent == cache.dir


def test_entries_are_written_atomically(tmp_path, monkeypatch):
    cache = RegionCache(tmp_path, "toy", _Stripes(), short_side=None)
    cache.save("b", _random_map(seed=1))

    def crash(*args, **kwargs):
        raise OSError("simulated crash between write and rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        cache.save("a", _random_map())
    monkeypatch.undo()
    assert cache.load("a") is None and not cache.path("a").exists()
    assert sorted(p.name for p in cache.dir.iterdir()) == ["b.png", "key.json"]  # no temp file left
    assert torch.equal(cache.load("b"), _random_map(seed=1))


def test_unreadable_or_wrong_entries_are_recomputed(tmp_path):
    cache = RegionCache(tmp_path, "toy", _Stripes(), short_side=None)
    cache.dir.mkdir(parents=True)
    cache.path("a").write_bytes(b"not a PNG file")
    assert cache.load("a") is None
    cache.path("e").write_bytes(b"")
    assert cache.load("e") is None
    colour = cv2.imencode(".png", np.zeros((4, 5, 3), dtype=np.uint8))[1].tobytes()  # a PNG, not a region map
    cache.path("c").write_bytes(colour)
    assert cache.load("c") is None
    with pytest.raises(ValueError, match="int32"):
        cache.save("b", _random_map().long())


def _stored_image(cache, image_id):
    return cv2.imdecode(np.fromfile(cache.path(image_id), dtype=np.uint8), cv2.IMREAD_UNCHANGED)


def _blocky_map(seed=0, shape=(448, 598), regions=600, block=14):
    """Superpixel-like: ``regions`` ids spread over blocks of ``block`` pixels."""
    generator = torch.Generator().manual_seed(seed)
    grid = torch.randint(0, regions, (-(-shape[0] // block), -(-shape[1] // block)), generator=generator)
    return grid.repeat_interleave(block, 0).repeat_interleave(block, 1)[: shape[0], : shape[1]].to(torch.int32)


@pytest.mark.parametrize(
    ("high", "low", "stored"),
    [
        (255, 0, (np.uint8, 2)),
        (256, 0, (np.uint16, 2)),
        (65_535, 0, (np.uint16, 2)),
        (65_536, 0, (np.uint8, 3)),
        (2**31 - 1, 0, (np.uint8, 3)),
        (10, -(2**31), (np.uint8, 3)),
    ],
)
def test_round_trip_in_the_smallest_type(tmp_path, high, low, stored):
    cache = RegionCache(tmp_path, "toy", _Stripes(), short_side=None)
    regions = _random_map(shape=(37, 53), regions=min(high - low + 1, 37 * 53)) + low
    regions[0, 0], regions[-1, -1] = high, low
    cache.save("a", regions)
    loaded = cache.load("a")
    assert loaded.dtype == torch.int32 and torch.equal(loaded, regions)
    image = _stored_image(cache, "a")
    assert (image.dtype, image.ndim) == stored  # ndim 3: an int32's four bytes per pixel


def test_entries_are_much_smaller_than_raw_int32(tmp_path):
    cache = RegionCache(tmp_path, "toy", _Stripes(), short_side=None)
    regions = _blocky_map()  # 600 ids: needs 16 bits, so uncompressed it would be 1/2 of int32
    cache.save("a", regions)
    raw_bytes = regions.numel() * 4
    assert cache.path("a").stat().st_size <= raw_bytes / 20
    stripes = _Stripes().propose(np.zeros((448, 598, 3), dtype=np.uint8))  # 200 ids: 8 bits
    cache.save("s", stripes)
    assert cache.path("s").stat().st_size <= raw_bytes / 20


def test_a_truncated_entry_is_recomputed(tmp_path):
    cache = RegionCache(tmp_path, "toy", _Stripes(), short_side=None)
    cache.save("a", _blocky_map(shape=(120, 90)))
    data = cache.path("a").read_bytes()
    for length in (0, 8, 40, len(data) // 2, len(data) - 13, len(data) - 1):
        cache.path("a").write_bytes(data[:length])
        assert cache.load("a") is None, length


def test_entries_of_the_former_safetensors_format_are_not_read(tmp_path):
    cache = RegionCache(tmp_path, "toy", _Stripes(), short_side=None)
    assert cache.settings["format"] == ENTRY_FORMAT and cache.path("a").suffix == ".png"
    cache.dir.mkdir(parents=True)
    (cache.dir / "a.safetensors").write_bytes(b"an old entry")
    assert cache.load("a") is None


def test_keyed_by_proposer_settings_resolution_and_dataset(tmp_path):
    base = RegionCache(tmp_path, "toy", _Stripes(3), short_side=448, data_version="v1")
    others = [
        RegionCache(tmp_path, "toy", _Stripes(4), short_side=448, data_version="v1"),
        RegionCache(tmp_path, "toy", _Stripes(3), short_side=336, data_version="v1"),
        RegionCache(tmp_path, "toy", _Stripes(3), short_side=448, data_version="v2"),
        RegionCache(tmp_path, "voc", _Stripes(3), short_side=448, data_version="v1"),
    ]
    assert len({base.dir, *(o.dir for o in others)}) == 5
    assert RegionCache(tmp_path, "toy", _Stripes(3), short_side=448, data_version="v1").dir == base.dir
    base.save("a", _random_map())
    assert all(o.load("a") is None for o in others)


def test_concurrent_writers_and_readers_never_see_a_partial_entry(tmp_path):
    cache = RegionCache(tmp_path, "toy", _Stripes(), short_side=None)
    regions = _random_map(shape=(200, 300))
    seen, errors = [], []

    def write():
        for _ in range(10):
            cache.save("a", regions)

    def read():
        for _ in range(50):
            loaded = cache.load("a")
            if loaded is not None:
                seen.append(torch.equal(loaded, regions))

    def guarded(work):
        try:
            work()
        except Exception as error:  # a thread's exception would otherwise vanish
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(f,)) for f in (write, write, read, read)]
    try:
        for thread in threads:
            thread.start()
    finally:
        for thread in threads:
            thread.join()
    assert not errors and all(seen)
    assert sorted(p.name for p in cache.dir.iterdir()) == ["a.png", "key.json"]


def test_store_goes_memory_then_disk_then_proposer(tmp_path):
    images = {f"img{i}": np.full((20 + i, 30, 3), i, dtype=np.uint8) for i in range(3)}
    proposer = _Stripes()
    cache = RegionCache(tmp_path, "toy", proposer, short_side=None)
    store = RegionStore(proposer, cache)
    maps = store.get(["img0", "img1", "img2", "img0"], images.__getitem__)
    assert proposer.calls == 3 and len(maps) == 4 and maps[0] is maps[3]
    assert all(
        is_complete_region_map(m) and m.shape == images[i].shape[:2]
        for m, i in zip(maps, ["img0", "img1", "img2"], strict=False)
    )
    store.get(["img1"], images.__getitem__)
    assert proposer.calls == 3  # memory
    fresh = RegionStore(proposer, cache)
    again = fresh.get(["img2", "img1"], lambda image_id: pytest.fail("must come from the disk cache"))
    assert proposer.calls == 3 and torch.equal(again[0], maps[2])


class _ConstantBackbone(torch.nn.Module):
    patch_size, dim = 16, 4

    def encode_image(self, images):
        b, _, h, w = images.shape
        return torch.nn.functional.normalize(torch.ones(b, self.dim, h // 16, w // 16), dim=1)


def test_region_maps_match_the_resized_test_features():
    # same keep-ratio resize as extract_dense: the region map's shape is the features' resized_hw
    image = np.random.default_rng(0).integers(0, 256, (375, 500, 3), dtype=np.uint8)
    for short_side in (None, 224, 448):
        dense = extract_dense(_ConstantBackbone(), [image], short_side)[0]
        regions = region_map_for_test_image(_Stripes(), image, short_side)
        assert tuple(regions.shape) == tuple(dense.resized_hw)
        loader = resized_image_loader(lambda image_id: image, short_side)
        assert loader("x").shape[:2] == tuple(dense.resized_hw)
