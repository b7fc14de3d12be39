"""SAM 2.1 automatic mask generator as a region proposer (features.md "Region proposals").

Settings of the paper (rns paper §4 and supplementary; features.md): Hiera-L, a 32×32 point
grid, points_per_batch 512, pred_iou_thresh 0.4, stability_score_thresh 0.4, one mask per
point (``multimask_output=False``), box NMS 0.7, on the resized test image. Masks are painted
by ascending area (larger overwrite smaller) and uncovered pixels form one extra region (rns
spec §6). The checkpoint is a config value; ``sam2`` is imported only when this proposer is
built, after the checkpoint has been checked, so a missing file fails in well under a second.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rns_bench.core.errors import ConfigError, InputError
from rns_bench.proposals.base import Proposer, masks_to_region_map
from rns_bench.proposals.registry import PROPOSERS

DEFAULT_CONFIG = "configs/sam2.1/sam2.1_hiera_l.yaml"
# facebookresearch/sam2, checkpoints/download_ckpts.sh (SAM 2.1 release, 2024-09-28).
CHECKPOINT_BASE_URL = "https://dl.fbaipublicfiles.com/segment_anything_2/092824"
CHECKPOINT_FILES = {
    "sam2.1_hiera_t": "sam2.1_hiera_tiny.pt",
    "sam2.1_hiera_s": "sam2.1_hiera_small.pt",
    "sam2.1_hiera_b+": "sam2.1_hiera_base_plus.pt",
    "sam2.1_hiera_l": "sam2.1_hiera_large.pt",
}
INSTALL_HINT = (
    'SAM2_BUILD_CUDA=0 .venv/bin/pip install --no-build-isolation sam2 "torch==2.14.1" '
    '"torchvision==0.29.1" (after `.venv/bin/pip install -U pip setuptools wheel`)'
)
# Generator arguments this proposer sets itself or that do not fit a region proposer.
_RESERVED_GENERATOR_ARGS = {"self", "model", "kwargs", "output_mode", "point_grids"}


def checkpoint_url(config: str) -> str:
    """Download URL of the official checkpoint matching a SAM 2.1 config name."""
    stem = Path(config).stem
    return f"{CHECKPOINT_BASE_URL}/{CHECKPOINT_FILES.get(stem, CHECKPOINT_FILES['sam2.1_hiera_l'])}"


def require_checkpoint(checkpoint: str | os.PathLike | None, config: str) -> Path:
    """The checkpoint path, or an InputError naming the option, the path and where to get it."""
    fix = (
        f"download it from {checkpoint_url(config)} (facebookresearch/sam2 checkpoints/download_ckpts.sh) "
        f"and set proposer.options.checkpoint=/path/to/{Path(checkpoint_url(config)).name}"
    )
    if checkpoint is None:
        raise InputError(f"the sam2 proposer needs a checkpoint but option 'checkpoint' is not set; {fix}")
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise InputError(
            f"SAM 2.1 checkpoint not found: option 'checkpoint' = {str(checkpoint)!r} "
            f"(resolved {path.resolve()}) is not a file; {fix}"
        )
    return path


@PROPOSERS.register("sam2")
class SAM2Proposer(Proposer):
    """SAM 2.1 automatic masks → a complete region map.

    checkpoint: path of the SAM 2.1 weights (required unless ``random_weights``).
    config: a config inside the sam2 package (``configs/sam2.1/...yaml``) or a YAML file path.
    device: ``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:1`` ...
    image_size: the model's input resolution (None = the config's, 1024); tests use 256.
    apply_postprocessing: sam2's dynamic multimask fallback of ``build_sam2`` (off, as in the
    official automatic-mask-generator example).
    cuda_bfloat16: on CUDA, run under bfloat16 autocast as sam2's examples do (no effect on CPU). Off by
    default: the release runs SAM 2.1 in fp32 (no autocast; features.md) — bf16 is a speed option.
    random_weights: build without a checkpoint (seeded random init) — for tests only.
    generator_options: any other ``SAM2AutomaticMaskGenerator`` argument (e.g. crop_n_layers,
    stability_score_offset, min_mask_region_area).
    """

    name = "sam2"

    def __init__(
        self,
        checkpoint: str | None = None,
        config: str = DEFAULT_CONFIG,
        device: str = "auto",
        points_per_side: int = 32,
        points_per_batch: int = 512,
        pred_iou_thresh: float = 0.4,
        stability_score_thresh: float = 0.4,
        box_nms_thresh: float = 0.7,
        multimask_output: bool = False,
        image_size: int | None = None,
        apply_postprocessing: bool = False,
        cuda_bfloat16: bool = False,
        random_weights: bool = False,
        generator_options: dict[str, Any] | None = None,
    ):
        # Fail fast, before importing sam2/building anything (features.md "Offline reality").
        if random_weights and checkpoint is not None:
            raise ConfigError("sam2 proposer: set either 'checkpoint' or 'random_weights', not both")
        self.checkpoint = None if random_weights else require_checkpoint(checkpoint, config)
        self.config, self.image_size = config, image_size
        self.apply_postprocessing, self.random_weights = apply_postprocessing, random_weights
        self.cuda_bfloat16 = cuda_bfloat16
        self.generator_settings = {
            "points_per_side": points_per_side,
            "points_per_batch": points_per_batch,
            "pred_iou_thresh": pred_iou_thresh,
            "stability_score_thresh": stability_score_thresh,
            "box_nms_thresh": box_nms_thresh,
            "multimask_output": multimask_output,
        }
        duplicated = sorted(set(generator_options or {}) & set(self.generator_settings))
        if duplicated:
            raise ConfigError(
                f"sam2 proposer: set {', '.join(duplicated)} as option(s) of their own, not inside generator_options"
            )
        self.generator_settings.update(generator_options or {})
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.generator = self._build_generator()

    def _build_generator(self):
        sam2 = _import_sam2()
        from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

        valid = set(inspect.signature(SAM2AutomaticMaskGenerator.__init__).parameters) - _RESERVED_GENERATOR_ARGS
        unknown = sorted(set(self.generator_settings) - valid)
        if unknown:
            raise ConfigError(
                f"sam2 proposer: unknown generator option(s) {', '.join(unknown)}; valid: {', '.join(sorted(valid))}"
            )
        model = _build_sam2_model(sam2, self.config, self.checkpoint, self.image_size, self.apply_postprocessing)
        generator = SAM2AutomaticMaskGenerator(
            model.to(self.device), output_mode="binary_mask", **self.generator_settings
        )
        # SAM2ImagePredictor hard-codes the feature sizes of a 1024 input; derive them from the
        # model's resolution (identical at 1024) so a smaller image_size works too.
        size = model.image_size
        generator.predictor._bb_feat_sizes = [(size // 4, size // 4), (size // 8, size // 8), (size // 16, size // 16)]
        return generator

    def _propose(self, image: np.ndarray) -> torch.Tensor:
        height, width = image.shape[:2]
        use_bfloat16 = self.cuda_bfloat16 and self.device.type == "cuda"
        with torch.autocast("cuda", dtype=torch.bfloat16) if use_bfloat16 else contextlib.nullcontext():
            records = self.generator.generate(image)
        masks = np.stack([r["segmentation"] for r in records]) if records else np.zeros((0, height, width), bool)
        return masks_to_region_map(masks, height, width)

    def settings(self) -> dict[str, Any]:
        # The checkpoint is identified by file name and size, not its path, so a cache is shared
        # across machines; the device is left out (same weights, same masks up to float noise).
        weights = (
            "random-seed0" if self.checkpoint is None else f"{self.checkpoint.name}:{self.checkpoint.stat().st_size}"
        )
        return {
            "config": self.config,
            "weights": weights,
            "image_size": self.image_size,
            "apply_postprocessing": self.apply_postprocessing,
            "cuda_bfloat16": self.cuda_bfloat16,
            **self.generator_settings,
        }


def _import_sam2():
    """Import sam2 without leaving Hydra's global state behind.

    ``import sam2`` initialises Hydra's GlobalHydra for its own configs when nobody has; left
    initialised, a later ``hydra.initialize*`` or ``@hydra.main`` in the same process fails.
    """
    from hydra.core.global_hydra import GlobalHydra

    hydra_was_initialized = GlobalHydra.instance().is_initialized()
    try:
        import sam2
    except ImportError as error:
        raise InputError(
            f"the sam2 proposer needs the `sam2` package (SAM 2.1), not installed; install it with {INSTALL_HINT}"
        ) from error
    finally:
        if not hydra_was_initialized:
            GlobalHydra.instance().clear()
    return sam2


def _build_sam2_model(
    sam2, config: str, checkpoint: Path | None, image_size: int | None, apply_postprocessing: bool
) -> torch.nn.Module:
    """The SAM 2.1 model of ``config`` with ``checkpoint`` weights, in eval mode on the CPU.

    Same result as ``sam2.build_sam.build_sam2``, but the YAML is read with OmegaConf instead of
    Hydra's ``compose``, which needs the global Hydra search path that a running
    ``@hydra.main`` (the bench) owns.
    """
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    config_path = Path(config) if Path(config).is_file() else Path(sam2.__file__).parent / config
    if not config_path.is_file():
        available = sorted(
            str(p.relative_to(Path(sam2.__file__).parent))
            for p in (Path(sam2.__file__).parent / "configs").rglob("*.yaml")
        )
        raise ConfigError(
            f"SAM 2 config {config!r} not found in the sam2 package or on disk; package configs: {', '.join(available)}"
        )
    cfg = OmegaConf.load(config_path)
    if image_size is not None:
        cfg.model.image_size = int(image_size)
    if apply_postprocessing:  # the overrides build_sam2(apply_postprocessing=True) adds
        for key, value in (
            ("dynamic_multimask_via_stability", True),
            ("dynamic_multimask_stability_delta", 0.05),
            ("dynamic_multimask_stability_thresh", 0.98),
        ):
            OmegaConf.update(cfg, f"model.sam_mask_decoder_extra_args.{key}", value, force_add=True)
    OmegaConf.resolve(cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # random_weights: the same random model in every process
        model = instantiate(cfg.model, _recursive_=True)
    if checkpoint is not None:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or "model" not in state:
            raise InputError(f"{checkpoint} is not a SAM 2 checkpoint (no 'model' state dict inside)")
        model.load_state_dict(state["model"], strict=True)
    return model.eval()
