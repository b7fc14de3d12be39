"""clip_b16's dense path, pinned on clip_tiny (the same code on a tiny random open_clip ViT):
the value path against a hand computation from the block's weights and against open_clip's own
block forward, positional resizing, the front of the tower against open_clip's forward, text
against a hand-built template ensemble, shapes and norms."""

import pytest
import torch
import torch.nn.functional as F

open_clip = pytest.importorskip("open_clip")

from rns_bench.backbones import BACKBONES, build_backbone  # noqa: E402
from rns_bench.backbones.open_clip_maskclip import (  # noqa: E402
    OPENAI_MEAN,
    OPENAI_STD,
    ClipB16,
    ClipTiny,
    last_block_value_path,
)
from rns_bench.core.errors import ConfigError, InputError  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/backbones/conftest.py


@pytest.fixture(scope="module")
def clip() -> ClipTiny:
    return build_backbone("clip_tiny", device="cpu")


@pytest.fixture(scope="module")
def maskclip() -> ClipTiny:
    return build_backbone("clip_tiny", value_path="maskclip", device="cpu")


def _pixels(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _tokens(clip: ClipTiny, height: int = 48, width: int = 80) -> torch.Tensor:
    """(2, 1 + h·w, C) tokens entering the last block."""
    with torch.no_grad():
        return clip.tokens_entering_last_block(_pixels(2, 3, height, width))


# ---- registry and interface ------------------------------------------------------------------
def test_registry_names_and_attributes(clip: ClipTiny) -> None:
    assert BACKBONES.get("clip_b16") is ClipB16 and BACKBONES.get("clip_tiny") is ClipTiny
    assert (clip.name, clip.patch_size, clip.dim, clip.value_path) == ("clip_tiny", 16, 24, "rns")
    assert not clip.model.training and not any(p.requires_grad for p in clip.parameters())


def test_pixel_normalisation_is_openais() -> None:
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    assert (OPENAI_MEAN, OPENAI_STD) == (OPENAI_DATASET_MEAN, OPENAI_DATASET_STD)


@pytest.mark.parametrize("shape", [(2, 3, 48, 80), (1, 3, 448, 448), (1, 3, 16, 16)])
def test_image_features_have_the_patch_grid_shape_and_unit_norm(clip: ClipTiny, shape: tuple) -> None:
    features = clip.encode_image(torch.rand(*shape, generator=torch.Generator().manual_seed(1)))
    grid = (shape[2] // 16, shape[3] // 16)
    assert features.shape == (shape[0], 24, *grid) and features.dtype == torch.float32
    torch.testing.assert_close(features.norm(dim=1), torch.ones(shape[0], *grid))


@pytest.mark.parametrize("shape", [(2, 3, 40, 80), (3, 48, 80), (2, 1, 48, 80)])
def test_bad_image_batches_are_input_errors(clip: ClipTiny, shape: tuple) -> None:
    with pytest.raises(InputError, match="multiples of 16"):
        clip.encode_image(torch.rand(*shape))


def test_unknown_value_path_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="rns, maskclip"):
        build_backbone("clip_tiny", value_path="attention")


def test_same_seed_same_model_and_the_global_rng_is_left_alone(clip: ClipTiny) -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    again = ClipTiny(device="cpu")
    assert torch.equal(torch.rand(1), expected_next)
    for (name, a), (_, b) in zip(clip.state_dict().items(), again.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


# ---- the front of the tower ------------------------------------------------------------------
def test_at_the_native_grid_the_tokens_entering_the_last_block_are_open_clips(clip: ClipTiny) -> None:
    visual = clip.model.visual
    pixels = _pixels(2, 3, 64, 64)  # the tiny model's native 4×4 grid
    with torch.no_grad():
        expected = visual._embeds(pixels)
        for block in visual.transformer.resblocks[:-1]:
            expected = block(expected)
        torch.testing.assert_close(clip.tokens_entering_last_block(pixels), expected)


def test_off_native_grids_use_bicubic_resized_positions_and_the_cls_position_untouched(clip: ClipTiny) -> None:
    visual = clip.model.visual
    pixels = _pixels(2, 3, 48, 80)  # grid 3×5, native 4×4
    positions = visual.positional_embedding.detach()
    grid = positions[1:].T.reshape(1, -1, 4, 4)
    resized = F.interpolate(grid, size=(3, 5), mode="bicubic", align_corners=False).reshape(-1, 15).T
    with torch.no_grad():
        patches = visual.conv1(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([visual.class_embedding.expand(2, 1, -1), patches], dim=1)
        x = visual.ln_pre(x + torch.cat([positions[:1], resized]))
        for block in visual.transformer.resblocks[:-1]:
            x = block(x)
        torch.testing.assert_close(clip.tokens_entering_last_block(pixels), x)


# ---- the value path ----------------------------------------------------------------------------
def test_rns_value_path_by_hand_from_the_block_weights(clip: ClipTiny) -> None:
    block = clip.model.visual.transformer.resblocks[-1]
    x = _tokens(clip)
    width = x.shape[-1]
    state = {name: tensor.detach() for name, tensor in block.state_dict().items()}

    def layer_norm(t: torch.Tensor, prefix: str) -> torch.Tensor:
        return F.layer_norm(t, (width,), state[f"{prefix}.weight"], state[f"{prefix}.bias"], eps=1e-5)

    y = layer_norm(x, "ln_1")
    values = y @ state["attn.in_proj_weight"][2 * width :].T + state["attn.in_proj_bias"][2 * width :]
    v = x + values @ state["attn.out_proj.weight"].T + state["attn.out_proj.bias"]
    hidden = F.gelu(layer_norm(v, "ln_2") @ state["mlp.c_fc.weight"].T + state["mlp.c_fc.bias"])
    expected = v + hidden @ state["mlp.c_proj.weight"].T + state["mlp.c_proj.bias"]
    with torch.no_grad():
        torch.testing.assert_close(last_block_value_path(block, x, "rns"), expected)


def test_rns_value_path_is_the_block_run_on_each_token_alone(clip: ClipTiny) -> None:
    # With one token, attention weights are 1: open_clip's own block forward is the value path.
    block = clip.model.visual.transformer.resblocks[-1]
    x = _tokens(clip)
    with torch.no_grad():
        ours = last_block_value_path(block, x, "rns")
        for t in (0, 1, 7, x.shape[1] - 1):
            torch.testing.assert_close(ours[:, t : t + 1], block(x[:, t : t + 1]))


def test_maskclip_and_rns_differ_exactly_by_the_residual_and_the_mlp(clip: ClipTiny) -> None:
    block = clip.model.visual.transformer.resblocks[-1]
    x = _tokens(clip)
    with torch.no_grad():
        original = last_block_value_path(block, x, "maskclip")
        with_residual = x + original
        torch.testing.assert_close(
            last_block_value_path(block, x, "rns"), with_residual + block.mlp(block.ln_2(with_residual))
        )


@pytest.mark.parametrize("backbone_fixture", ["clip", "maskclip"])
def test_dense_features_are_ln_post_then_proj_of_the_patch_tokens(backbone_fixture: str, request) -> None:
    backbone: ClipTiny = request.getfixturevalue(backbone_fixture)
    visual = backbone.model.visual
    images = torch.rand(2, 3, 48, 80, generator=torch.Generator().manual_seed(3))
    mean, std = torch.tensor(OPENAI_MEAN).view(1, 3, 1, 1), torch.tensor(OPENAI_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        x = backbone.tokens_entering_last_block((images - mean) / std)
        x = last_block_value_path(visual.transformer.resblocks[-1], x, backbone.value_path)
        expected = F.normalize(visual.ln_post(x)[:, 1:] @ visual.proj, dim=-1).reshape(2, 3, 5, -1)
    torch.testing.assert_close(backbone.encode_image(images), expected.permute(0, 3, 1, 2))


def test_the_two_value_paths_give_different_features(clip: ClipTiny, maskclip: ClipTiny) -> None:
    images = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    assert not torch.allclose(clip.encode_image(images), maskclip.encode_image(images))


# ---- text --------------------------------------------------------------------------------------
def test_text_features_are_the_template_ensemble_of_open_clips_text_tower(clip: ClipTiny) -> None:
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

    names = ["cat", "traffic light"]
    features = clip.encode_text(names)
    assert features.shape == (2, 24)
    torch.testing.assert_close(features.norm(dim=-1), torch.ones(2))
    tokenizer = open_clip.SimpleTokenizer(context_length=32)
    with torch.no_grad():
        for k, name in enumerate(names):
            prompts = clip.model.encode_text(tokenizer([t(name) for t in OPENAI_IMAGENET_TEMPLATES]))
            expected = F.normalize(F.normalize(prompts, dim=-1).mean(0), dim=0)
            torch.testing.assert_close(features[k], expected)


def test_two_templates_by_hand(clip: ClipTiny) -> None:
    from rns_bench.backbones.prompts import ensemble_text_features

    templates = (lambda c: f"a photo of a {c}.", lambda c: f"a sketch of the {c}.")
    features = ensemble_text_features(clip.encode_prompts, ["dog"], templates)
    with torch.no_grad():
        first, second = clip.model.encode_text(clip.tokenizer(["a photo of a dog.", "a sketch of the dog."]))
    torch.testing.assert_close(features[0], F.normalize(F.normalize(first, dim=0) + F.normalize(second, dim=0), dim=0))


# ---- devices -------------------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_features_match_cpu_features(clip: ClipTiny) -> None:
    on_gpu = build_backbone("clip_tiny", device="cuda")
    images = torch.rand(2, 3, 48, 80, generator=torch.Generator().manual_seed(5))
    features = on_gpu.encode_image(images)  # CPU input, moved to the model
    assert features.device.type == "cuda"
    torch.testing.assert_close(features.cpu(), clip.encode_image(images), atol=2e-3, rtol=0)
    torch.testing.assert_close(on_gpu.encode_text(["cat"]).cpu(), clip.encode_text(["cat"]), atol=2e-3, rtol=0)
