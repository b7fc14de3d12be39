"""Every configs/backbone/*.yaml names a registered backbone with options its constructor takes,
and extraction settings the feature settings reader accepts, at the protocol's short side and
windows (protocol §3: OpenCLIP 448, test 448/224, support 448/112 + 224/112; DINOv3.txt 384,
test 384/192, support 384/112 at the original resolution)."""

import inspect
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rns_bench.backbones import BACKBONES
from rns_bench.features.settings import settings_from_config

CONFIG_DIR = Path(__file__).parents[2] / "configs" / "backbone"
EXPECTED = {  # name → (test setting, support setting) as ExtractionSettings.label()
    "clip_b16": ("S448 448/224", "S448 448/112+224/112"),
    "clip_tiny": ("S448 448/224", "S448 448/112+224/112"),
    "dinov3_txt": ("S384 384/192", "orig 384/112"),
    "siglip2_l16": ("S512 512/256", "S512 512/128"),
    "siglip2_tiny": ("S512 512/256", "S512 512/128"),
}


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_backbone_config_matches_its_constructor(path: Path) -> None:
    config = OmegaConf.to_container(OmegaConf.load(path))
    assert {"name", "options", "short_side"} <= set(config) <= {"name", "options", "short_side", "test", "support"}
    parameters = inspect.signature(BACKBONES.get(config["name"]).__init__).parameters
    assert set(config["options"] or {}) <= set(parameters) - {"self"}
    labels = tuple(settings_from_config(config, split).label() for split in ("test", "support"))
    if config["name"] in EXPECTED:
        assert path.stem == config["name"] and labels == EXPECTED[config["name"]]


def test_importing_the_registry_does_not_import_open_clip() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from rns_bench.backbones import dinov3_txt, open_clip_maskclip, siglip2; "
        "print(sorted(m for m in ('open_clip', 'timm', 'transformers') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
