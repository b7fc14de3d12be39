"""Extraction settings from configs/backbone/*.yaml: the test/support schema and the short form."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rns_bench.core.errors import ConfigError
from rns_bench.features.settings import ExtractionSettings, WindowSpec, settings_from_config

BACKBONE_CONFIGS = Path(__file__).parents[2] / "configs" / "backbone"
CLIP = {
    "name": "clip_b16",
    "options": {},
    "short_side": 448,
    "test": {"windows": [{"crop": 448, "stride": 224}]},
    "support": {"windows": [{"crop": 448, "stride": 112}, {"crop": 224, "stride": 112}]},
}


def test_test_and_support_blocks() -> None:
    assert settings_from_config(CLIP, "test") == ExtractionSettings(448, (WindowSpec(448, 224),))
    assert settings_from_config(CLIP, "support") == ExtractionSettings(
        448, (WindowSpec(448, 112), WindowSpec(224, 112))
    )
    assert settings_from_config(CLIP, "support").label() == "S448 448/112+224/112"


def test_a_block_may_set_its_own_short_side() -> None:
    dinov3 = {
        "name": "dinov3_txt",
        "short_side": 384,
        "test": {"windows": [{"crop": 384, "stride": 192}]},
        "support": {"short_side": None, "windows": [{"crop": 384, "stride": 112}]},
    }
    assert settings_from_config(dinov3, "test").short_side == 384
    assert settings_from_config(dinov3, "support") == ExtractionSettings(None, (WindowSpec(384, 112),))


def test_the_short_form_is_a_whole_image_forward_for_both() -> None:
    legacy = {"name": "toy_vlm", "options": {}, "short_side": None}
    assert settings_from_config(legacy, "test") == settings_from_config(legacy, "support") == ExtractionSettings()
    assert settings_from_config({"name": "x", "short_side": 448}, "support") == ExtractionSettings(448, None)


@pytest.mark.parametrize(
    "config, message",
    [
        ({"name": "x", "test": {"windows": None}}, "configs/backbone/x.yaml: no short_side for the test features"),
        ({"name": "x", "short_side": 448, "test": {"crop": 448}}, r"unknown key\(s\) \['crop'\] under `test:`"),
        ({"name": "x", "short_side": 448, "test": {"windows": {"crop": 448, "stride": 224}}}, "must be null or a list"),
        ({"name": "x", "short_side": 448, "test": {"windows": [{"crop": 448}]}}, "needs exactly crop and stride"),
        ({"name": "x", "short_side": 448, "test": {"windows": [{"crop": 224, "stride": 448}]}}, "exceeds the crop"),
        ({"name": "x", "short_side": 448, "test": {"windows": []}}, "non-empty list"),
        ({"name": "x", "short_side": 0}, "positive integer or null"),
    ],
)
def test_bad_configs_name_the_file_and_the_fix(config: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_from_config(config, "test")


@pytest.mark.parametrize("path", sorted(BACKBONE_CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_backbone_config_gives_test_and_support_settings(path: Path) -> None:
    config = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    for split in ("test", "support"):
        assert isinstance(settings_from_config(config, split), ExtractionSettings)


def test_toy_backbones_stay_whole_image_at_their_own_size() -> None:
    for name in ("toy_vlm", "random_vlm"):
        config = OmegaConf.to_container(OmegaConf.load(BACKBONE_CONFIGS / f"{name}.yaml"))
        assert settings_from_config(config, "test") == settings_from_config(config, "support") == ExtractionSettings()
