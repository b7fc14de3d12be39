"""The toy vision-language backbone: interface, determinism, and the world's claimed properties,
each measured on features of rendered scenes (not read off the generator's parameters)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rns_bench.backbones import BACKBONES, build_backbone
from rns_bench.core.errors import InputError, UnknownNameError
from rns_bench.toy.backbone import ToyVLM

DOMINANT = 0.75  # a patch counts for a class when this share of its pixels has the label


def _encode(vlm: ToyVLM, image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 → (h, w, D) features of the zero-padded image, as the feature store does."""
    batch = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    batch = F.pad(batch, (0, -image.shape[1] % 16, 0, -image.shape[0] % 16))
    return vlm.encode_image(batch)[0].permute(1, 2, 0)


def _patch_labels(label: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """(H, W) label → (h, w) dominant class per patch, −1 where no class dominates."""
    padded = np.full((grid[0] * 16, grid[1] * 16), 255, np.int64)
    padded[: label.shape[0], : label.shape[1]] = label
    blocks = padded.reshape(grid[0], 16, grid[1], 16).transpose(0, 2, 1, 3).reshape(*grid, 256)
    counts = np.stack([(blocks == c).sum(-1) for c in range(16)], axis=-1)
    return np.where(counts.max(-1) >= DOMINANT * 256, counts.argmax(-1), -1)


def _scene_patches(vlm: ToyVLM, split: str, per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (N, D) and classes (N,) of dominated patches of scenes, ``per_class`` scenes whose
    main object is each foreground class."""
    features, classes = [], []
    for cls in range(1, vlm.world.num_classes):
        for k in range(per_class):
            image, label = vlm.world.render(np.random.default_rng([seed, cls, k]), split, required_class=cls)
            dense = _encode(vlm, image)
            patch_labels = torch.from_numpy(_patch_labels(label, dense.shape[:2]))
            keep = patch_labels >= 0
            features.append(dense[keep])
            classes.append(patch_labels[keep])
    return torch.cat(features), torch.cat(classes)


def _class_means(features: torch.Tensor, classes: torch.Tensor, k: int) -> torch.Tensor:
    return F.normalize(torch.stack([features[classes == c].mean(0) for c in range(k)]), dim=-1)


def _balanced_accuracy(predicted: torch.Tensor, classes: torch.Tensor, k: int) -> float:
    return float(np.mean([(predicted[classes == c] == c).float().mean() for c in range(k)]))


@pytest.fixture(scope="module")
def vlm() -> ToyVLM:
    return build_backbone("toy_vlm")


@pytest.fixture(scope="module")
def val_patches(vlm: ToyVLM) -> tuple[torch.Tensor, torch.Tensor]:
    return _scene_patches(vlm, "val", per_class=2, seed=11)


def _cos(features: torch.Tensor, names: list[str], a: str, b: str) -> float:
    return float(features[names.index(a)] @ features[names.index(b)])


# ---- interface ------------------------------------------------------------------------------
def test_registry_name_builds_the_backbone(vlm: ToyVLM) -> None:
    assert BACKBONES.get("toy_vlm") is ToyVLM and isinstance(vlm, ToyVLM)
    assert (vlm.name, vlm.patch_size, vlm.dim) == ("toy_vlm", 16, 64)


def test_image_features_have_the_patch_grid_shape_and_unit_norm(vlm: ToyVLM) -> None:
    images = torch.rand(2, 3, 48, 80, generator=torch.Generator().manual_seed(0))
    features = vlm.encode_image(images)
    assert features.shape == (2, 64, 3, 5) and features.dtype == torch.float32
    torch.testing.assert_close(features.norm(dim=1), torch.ones(2, 3, 5))


def test_images_off_the_patch_grid_are_rejected(vlm: ToyVLM) -> None:
    with pytest.raises(InputError, match="multiples of 16"):
        vlm.encode_image(torch.rand(1, 3, 40, 48))


def test_text_features_are_unit_norm_rows_in_the_given_order(vlm: ToyVLM) -> None:
    names = vlm.world.class_names
    text = vlm.encode_text(names)
    assert text.shape == (len(names), 64)
    torch.testing.assert_close(text.norm(dim=1), torch.ones(len(names)))
    torch.testing.assert_close(vlm.encode_text(["couch", "zebra"]), text[[names.index("couch"), 1]])


def test_unknown_class_name_lists_the_valid_ones(vlm: ToyVLM) -> None:
    with pytest.raises(UnknownNameError, match="'dinosaur'.*background.*sofa.*BACKBONE=clip_b16"):
        vlm.encode_text(["sofa", "dinosaur"])


def test_features_are_deterministic_in_the_seed(vlm: ToyVLM) -> None:
    image, _ = vlm.world.render(np.random.default_rng(5), "val")
    names = vlm.world.class_names
    again = ToyVLM(world_seed=0)
    assert torch.equal(_encode(again, image), _encode(vlm, image))
    assert torch.equal(again.encode_text(names), vlm.encode_text(names))
    other = ToyVLM(world_seed=1)
    assert not torch.allclose(other.encode_text(names), vlm.encode_text(names))
    small = ToyVLM(world_seed=0, dim=16)
    assert small.encode_text(names).shape == (len(names), 16) and _encode(small, image).shape[2] == 16


# ---- properties of the world, measured on features --------------------------------------------
def test_modality_gap_text_image_cosines_are_low_and_compressed(vlm, val_patches) -> None:
    features, classes = val_patches
    text = vlm.encode_text(vlm.world.class_names)
    k = len(text)
    same_class_image = [(features[classes == c] @ features[classes == c].T).mean() for c in range(k)]
    matching_text = [(features[classes == c] @ text[c]).mean() for c in range(k)]
    assert float(np.mean(same_class_image)) > 0.6
    assert float(np.mean(matching_text)) < 0.3
    assert float(np.mean(same_class_image)) - float(np.mean(matching_text)) > 0.4
    assert float((features @ text.T).std()) < 0.15  # compressed


def test_zero_shot_is_informative_but_far_from_solved(vlm, val_patches) -> None:
    features, classes = val_patches
    text = vlm.encode_text(vlm.world.class_names)
    accuracy = _balanced_accuracy((features @ text.T).argmax(-1), classes, len(text))
    assert 3 / len(text) < accuracy < 0.7


def test_visual_support_beats_text_but_does_not_solve_the_task(vlm, val_patches) -> None:
    # One-shot-ish prototypes from train scenes, tested on val scenes (appearance shift in between).
    support, support_classes = _scene_patches(vlm, "train", per_class=1, seed=3)
    prototypes = _class_means(support, support_classes, vlm.world.num_classes)
    features, classes = val_patches
    text = vlm.encode_text(vlm.world.class_names)
    zero_shot = _balanced_accuracy((features @ text.T).argmax(-1), classes, len(text))
    few_shot = _balanced_accuracy((features @ prototypes.T).argmax(-1), classes, len(text))
    assert few_shot > zero_shot + 0.1
    assert few_shot < 0.9


def test_sofa_and_couch_text_cannot_separate_but_appearance_can(vlm, val_patches) -> None:
    names = vlm.world.class_names
    text = vlm.encode_text(names)
    image = _class_means(*val_patches, len(names))
    assert _cos(text, names, "sofa", "couch") > 0.95
    assert _cos(image, names, "sofa", "couch") < 0.85
    assert _cos(image, names, "sofa", "couch") < _cos(text, names, "sofa", "couch") - 0.15


def test_zebra_and_crosswalk_appearance_cannot_separate_but_text_can(vlm, val_patches) -> None:
    names = vlm.world.class_names
    text = vlm.encode_text(names)
    image = _class_means(*val_patches, len(names))
    assert _cos(image, names, "zebra", "crosswalk") > 0.95
    assert _cos(text, names, "zebra", "crosswalk") < 0.8
    others = [_cos(text, names, "zebra", n) for n in names if n not in ("zebra", "crosswalk")]
    assert _cos(text, names, "zebra", "crosswalk") < max(others)  # no closer than ordinary pairs
