import importlib.util
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rns_bench.core.errors import InputError
from rns_bench.proposals import build_proposer

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "proposer"


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_proposer_config_builds(path):
    config = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    assert set(config) == {"name", "options"}
    if config["name"] is None:  # none.yaml: patch queries only
        assert path.stem == "none"
        return
    assert config["name"] == path.stem
    if config["name"] == "sam2":  # checkpoint null by default: the error says how to get it
        with pytest.raises(InputError, match="sam2.1_hiera_large.pt"):
            build_proposer(config["name"], **config["options"])
        return
    if importlib.util.find_spec("skimage") is None:
        pytest.skip("superpixel proposers need scikit-image")
    assert build_proposer(config["name"], **config["options"]).name == config["name"]
