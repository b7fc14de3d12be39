"""Cheap CPU proposers: scikit-image superpixels (features.md "Region proposals").

FREEDA pools its local scores over Felzenszwalb superpixels (competitors.md); the defaults
and presets below are the values of FREEDA's released configs (aimagelab/freeda,
``src/configs/*/freeda_*.yml``, ``superpixel:`` block; SLIC from
``mask_proposer/superpixel_configs.py``). Superpixels tile the image, so every pixel is
covered by construction.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rns_bench.core.errors import ConfigError, InputError
from rns_bench.proposals.base import Proposer
from rns_bench.proposals.registry import PROPOSERS

# FREEDA's Felzenszwalb settings per benchmark (scale, sigma, min_size in pixels).
FREEDA_FELZENSZWALB_PRESETS: dict[str, dict[str, float]] = {
    "voc20": {"scale": 100.0, "sigma": 0.7, "min_size": 20},
    "context59": {"scale": 100.0, "sigma": 1.0, "min_size": 20},
    "coco_stuff": {"scale": 100.0, "sigma": 1.0, "min_size": 100},
    "cityscapes": {"scale": 20.0, "sigma": 0.5, "min_size": 50},
}


def _import_skimage_segmentation():
    try:
        from skimage import segmentation
    except ImportError as error:
        raise InputError(
            "superpixel proposers need scikit-image, which is not installed; install it with "
            '`.venv/bin/pip install scikit-image "torch==2.14.1" "torchvision==0.29.1"` '
            "(the torch pins keep pip from upgrading torch)"
        ) from error
    return segmentation


@PROPOSERS.register("felzenszwalb")
class FelzenszwalbProposer(Proposer):
    """Felzenszwalb-Huttenlocher graph segmentation (``skimage.segmentation.felzenszwalb``).

    scale: larger → fewer, larger segments. sigma: Gaussian pre-smoothing. min_size: smallest
    segment in pixels (post-merge). Defaults: FREEDA's VOC20 config. ``preset`` picks another
    FREEDA config by benchmark key (``FREEDA_FELZENSZWALB_PRESETS``) instead of the three values.
    The values are in pixels of the image proposed on (the resized test image).
    """

    name = "felzenszwalb"

    def __init__(self, scale: float = 100.0, sigma: float = 0.7, min_size: int = 20, preset: str | None = None):
        if preset is not None:
            if preset not in FREEDA_FELZENSZWALB_PRESETS:
                raise ConfigError(
                    f"unknown felzenszwalb preset {preset!r}; valid presets: "
                    f"{', '.join(sorted(FREEDA_FELZENSZWALB_PRESETS))}"
                )
            chosen = FREEDA_FELZENSZWALB_PRESETS[preset]
            scale, sigma, min_size = chosen["scale"], chosen["sigma"], chosen["min_size"]
        if scale <= 0 or sigma < 0 or min_size < 0:
            raise ConfigError(
                f"felzenszwalb needs scale > 0, sigma >= 0, min_size >= 0; "
                f"got scale={scale}, sigma={sigma}, min_size={min_size}"
            )
        self.scale, self.sigma, self.min_size = float(scale), float(sigma), int(min_size)
        self._segmentation = _import_skimage_segmentation()

    def _propose(self, image: np.ndarray) -> np.ndarray:
        # uint8 input is scaled to [0, 1] inside skimage, as FREEDA's `image / 255`.
        return self._segmentation.felzenszwalb(
            image, scale=self.scale, sigma=self.sigma, min_size=self.min_size, channel_axis=-1
        )

    def settings(self) -> dict[str, Any]:
        return {"algorithm": "felzenszwalb", "scale": self.scale, "sigma": self.sigma, "min_size": self.min_size}


@PROPOSERS.register("slic")
class SlicProposer(Proposer):
    """SLIC k-means superpixels (``skimage.segmentation.slic``), FREEDA's SLIC defaults."""

    name = "slic"

    def __init__(
        self,
        n_segments: int = 200,
        compactness: float = 10.0,
        sigma: float = 1.0,
        min_size_factor: float = 0.5,
        max_num_iter: int = 10,
    ):
        if n_segments < 1 or compactness <= 0:
            raise ConfigError(
                f"slic needs n_segments >= 1 and compactness > 0; "
                f"got n_segments={n_segments}, compactness={compactness}"
            )
        self.n_segments, self.compactness, self.sigma = int(n_segments), float(compactness), float(sigma)
        self.min_size_factor, self.max_num_iter = float(min_size_factor), int(max_num_iter)
        self._segmentation = _import_skimage_segmentation()

    def _propose(self, image: np.ndarray) -> np.ndarray:
        return self._segmentation.slic(
            image,
            n_segments=self.n_segments,
            compactness=self.compactness,
            sigma=self.sigma,
            min_size_factor=self.min_size_factor,
            max_num_iter=self.max_num_iter,
            enforce_connectivity=True,
            start_label=0,
            channel_axis=-1,
        )

    def settings(self) -> dict[str, Any]:
        return {
            "algorithm": "slic",
            "n_segments": self.n_segments,
            "compactness": self.compactness,
            "sigma": self.sigma,
            "min_size_factor": self.min_size_factor,
            "max_num_iter": self.max_num_iter,
        }
