"""The backbone card and its stand-in: what a sweep over cached features asks of a backbone, with no weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rns_bench.backbones import build_backbone
from rns_bench.core.errors import ConfigError, InputError
from rns_bench.features.backbone_card import (
    BackboneCard,
    CachedBackbone,
    cached_backbone,
    card_path,
    load_card,
    save_card,
)
from rns_bench.features.dense import device_of


def _card(names: tuple[str, ...], rows: list[list[float]], provenance: dict | None = None) -> BackboneCard:
    return BackboneCard("tiny", {"seed": 1}, provenance or {}, 16, 2, names, torch.tensor(rows))


def test_a_card_of_a_built_backbone_round_trips_and_serves_its_text(tmp_path: Path) -> None:
    backbone = build_backbone("random_vlm")
    names = ["cat", "dog", "sky"]
    card = BackboneCard.of(backbone, "random_vlm", {"device": "cpu"}, names, backbone.encode_text(names))
    assert card.options == {}  # device is a runtime option: not part of what the card is found by
    path = card_path(tmp_path, "random_vlm", {"device": "cpu"})
    assert path == card_path(tmp_path, "random_vlm", {}) != card_path(tmp_path, "random_vlm", {"dim": 8})
    save_card(path, card)
    stand_in = cached_backbone(tmp_path, "random_vlm", {"device": "cuda"})
    assert (stand_in.patch_size, stand_in.dim) == (backbone.patch_size, backbone.dim)
    assert stand_in.provenance() == backbone.provenance()
    assert torch.equal(stand_in.encode_text(["sky", "cat"]), backbone.encode_text(["sky", "cat"]).float())
    assert device_of(stand_in).type == "cpu" and not list(stand_in.parameters())  # no weights, no GPU


def test_the_stand_in_refuses_images_and_unknown_names_in_one_line(tmp_path: Path) -> None:
    stand_in = CachedBackbone(_card(("cat",), [[1.0, 0.0]]), tmp_path / "card.safetensors")
    with pytest.raises(InputError, match="extraction.backbone=cached.*set extraction.backbone=build"):
        stand_in.encode_image(torch.zeros(1, 3, 16, 16))
    with pytest.raises(InputError, match="no text features of class 'dog' in .*card.safetensors"):
        stand_in.encode_text(["cat", "dog"])


def test_merging_cards_adds_names_and_the_newer_rows_win() -> None:
    old = _card(("cat", "dog"), [[1.0, 0.0], [0.0, 1.0]])
    new = _card(("dog", "sky"), [[0.6, 0.8], [-1.0, 0.0]])
    merged = old.merged(new)
    assert merged.names == ("cat", "dog", "sky")
    assert torch.equal(merged.text, torch.tensor([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.0]]))
    other_code = _card(("sky",), [[0.0, -1.0]], provenance={"commit": "b"})
    assert old.merged(other_code).names == ("sky",)  # another provenance: the old rows are not its text


def test_a_missing_or_damaged_card_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no card of backbone tiny .*import a reproduction pack first"):
        cached_backbone(tmp_path, "tiny", {})
    with pytest.raises(ConfigError, match="set cache_dir"):
        cached_backbone(None, "tiny", {})
    path = card_path(tmp_path, "tiny", {})
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not safetensors")
    with pytest.raises(InputError, match="is not a readable backbone card"):
        load_card(path)


def test_extraction_backbone_is_build_or_cached() -> None:
    from rns_bench.runs.config import extraction_options

    assert extraction_options({})["backbone"] == "build"
    assert extraction_options({"backbone": "cached"})["backbone"] == "cached"
    with pytest.raises(ConfigError, match=r"extraction.backbone='weights' unknown; choose one of \('build'"):
        extraction_options({"backbone": "weights"})
