import importlib.util
import inspect
import time

import numpy as np
import pytest
import torch

from rns_bench.core.errors import ConfigError, InputError
from rns_bench.proposals import build_proposer, is_complete_region_map
from rns_bench.proposals.sam2_proposer import SAM2Proposer

needs_sam2 = pytest.mark.skipif(
    importlib.util.find_spec("sam2") is None,
    reason="sam2 not installed: SAM2_BUILD_CUDA=0 .venv/bin/pip install --no-build-isolation sam2 "
    '"torch==2.14.1" "torchvision==0.29.1"',
)

# The tiny SAM 2.1 with random weights at 256 px; thresholds 0 so random weights emit masks.
TINY = {
    "config": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "random_weights": True,
    "image_size": 256,
    "device": "cpu",
    "pred_iou_thresh": 0.0,
    "stability_score_thresh": 0.0,
}


@pytest.mark.parametrize("checkpoint", [None, "/nonexistent/sam2.1_hiera_large.pt"])
def test_missing_checkpoint_fails_fast_with_the_fix(checkpoint):
    started = time.perf_counter()
    with pytest.raises(InputError) as error:
        build_proposer("sam2", checkpoint=checkpoint)
    assert time.perf_counter() - started < 1.0
    message = str(error.value)
    assert "'checkpoint'" in message  # the option
    assert "https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_large.pt" in message
    assert "proposer.options.checkpoint=" in message
    if checkpoint is not None:
        assert checkpoint in message  # the path


def test_checkpoint_and_random_weights_are_exclusive(tmp_path):
    with pytest.raises(ConfigError, match="not both"):
        build_proposer("sam2", checkpoint=str(tmp_path / "x.pt"), random_weights=True)


def test_named_settings_cannot_hide_in_generator_options():
    with pytest.raises(ConfigError, match="points_per_side as option"):
        build_proposer("sam2", random_weights=True, generator_options={"points_per_side": 16})


class _FakeGenerator:
    """Stands in for SAM2AutomaticMaskGenerator: returns fixed records (binary_mask mode)."""

    def __init__(self, masks):
        self.masks = masks

    def generate(self, image):
        return [{"segmentation": m, "area": int(m.sum())} for m in self.masks]


def _proposer_with(generator) -> SAM2Proposer:
    proposer = object.__new__(SAM2Proposer)  # skip building the model: only the painting is tested
    proposer.generator, proposer.device, proposer.cuda_bfloat16 = generator, torch.device("cpu"), False
    return proposer


def test_generator_records_are_painted_larger_over_smaller():
    small = np.zeros((8, 8), dtype=bool)
    small[2:4, 2:4] = True
    large = np.zeros((8, 8), dtype=bool)
    large[0:6, 0:6] = True
    side = np.zeros((8, 8), dtype=bool)
    side[6:8, 6:8] = True
    region = _proposer_with(_FakeGenerator([small, large, side])).propose(np.zeros((8, 8, 3), np.uint8))
    assert is_complete_region_map(region) and int(region.max()) == 2  # large, side, uncovered
    assert (region[0:6, 0:6] == region[3, 3]).all()  # small overwritten by large (spec §6)
    assert region[7, 7] != region[0, 0] and region[0, 7] not in (region[0, 0], region[7, 7])
    no_masks = _proposer_with(_FakeGenerator([])).propose(np.zeros((5, 7, 3), np.uint8))
    assert no_masks.shape == (5, 7) and int(no_masks.max()) == 0


@pytest.fixture(scope="module")
def tiny_sam2():
    return build_proposer("sam2", points_per_side=4, **TINY)


@needs_sam2
def test_tiny_random_sam2_runs_the_real_generator(tiny_sam2):
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    region = tiny_sam2.propose(image)
    assert region.shape == (48, 64) and is_complete_region_map(region)
    settings = tiny_sam2.settings()
    assert settings["weights"] == "random-seed0" and settings["multimask_output"] is False
    assert settings["points_per_batch"] == 512 and settings["box_nms_thresh"] == 0.7


@needs_sam2
def test_importing_sam2_leaves_hydra_usable(tiny_sam2, tmp_path):
    # `import sam2` initialises Hydra's global state; the proposer must clear it again so
    # the bench's own hydra.initialize / @hydra.main still work in the same process.
    from hydra import compose, initialize_config_dir

    (tmp_path / "c.yaml").write_text("a: 1\n")
    with initialize_config_dir(config_dir=str(tmp_path), version_base="1.3"):
        assert compose("c").a == 1


def test_defaults_are_the_papers_settings():
    # features.md: 32×32 grid, batches of 512, IoU / stability thresholds 0.4, one mask per point, NMS 0.7
    defaults = {name: p.default for name, p in inspect.signature(SAM2Proposer).parameters.items()}
    assert defaults["config"] == "configs/sam2.1/sam2.1_hiera_l.yaml"
    assert (defaults["points_per_side"], defaults["points_per_batch"]) == (32, 512)
    thresholds = (defaults["pred_iou_thresh"], defaults["stability_score_thresh"], defaults["box_nms_thresh"])
    assert thresholds == (0.4, 0.4, 0.7)
    assert defaults["multimask_output"] is False
    # The release runs SAM 2.1 in fp32 (no autocast); bf16 is an opt-in speed option, in the yaml too.
    assert defaults["cuda_bfloat16"] is False
    from omegaconf import OmegaConf

    from rns_bench.core.paths import CONFIG_DIR

    assert OmegaConf.load(CONFIG_DIR / "proposer" / "sam2.yaml").options.cuda_bfloat16 is False


@needs_sam2
def test_generator_option_typos_are_config_errors():
    with pytest.raises(ConfigError, match="unknown generator option.*crop_layers"):
        build_proposer("sam2", generator_options={"crop_layers": 1}, **TINY)


@needs_sam2
@pytest.mark.slow
def test_tiny_random_sam2_full_32x32_grid():
    proposer = build_proposer("sam2", **TINY)  # the paper's grid: 32×32 points in batches of 512
    region = proposer.propose(np.random.default_rng(1).integers(0, 256, (96, 128, 3), dtype=np.uint8))
    assert region.shape == (96, 128) and is_complete_region_map(region)
