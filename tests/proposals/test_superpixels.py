import numpy as np
import pytest

from rns_bench.core.errors import ConfigError
from rns_bench.proposals import build_proposer, is_complete_region_map

pytest.importorskip("skimage", reason="superpixel proposers need scikit-image (pip install scikit-image)")


def _scene(height=96, width=128, seed=0):
    """A few flat-coloured rectangles plus noise: superpixels must separate them."""
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 40, dtype=np.float64)
    image[10:50, 10:70] = (200, 30, 30)
    image[40:90, 60:120] = (30, 200, 30)
    image[5:30, 90:125] = (30, 30, 220)
    image += rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", ["felzenszwalb", "slic"])
def test_superpixels_give_a_complete_contiguous_map(name):
    image = _scene()
    region = build_proposer(name).propose(image)
    assert region.shape == image.shape[:2]
    assert is_complete_region_map(region)
    assert int(region.max()) + 1 >= 4  # background + three rectangles at least
    # no region straddles the red/green boundary of flat colours
    assert region[20, 20] != region[80, 100]


def test_felzenszwalb_is_deterministic_and_settings_change_the_result():
    image = _scene(seed=1)
    fine = build_proposer("felzenszwalb", scale=10.0, sigma=0.5, min_size=5)
    coarse = build_proposer("felzenszwalb", scale=2000.0, sigma=0.8, min_size=400)
    assert (fine.propose(image) == fine.propose(image)).all()
    assert int(fine.propose(image).max()) > int(coarse.propose(image).max())
    assert fine.settings() != coarse.settings()


def test_felzenszwalb_freeda_presets():
    assert build_proposer("felzenszwalb").settings() == {
        "algorithm": "felzenszwalb",
        "scale": 100.0,
        "sigma": 0.7,
        "min_size": 20,
    }
    cityscapes = build_proposer("felzenszwalb", preset="cityscapes").settings()
    assert (cityscapes["scale"], cityscapes["sigma"], cityscapes["min_size"]) == (20.0, 0.5, 50)
    with pytest.raises(ConfigError, match="valid presets: cityscapes, coco_stuff, context59, voc20"):
        build_proposer("felzenszwalb", preset="ade")
