"""siglip2_l16's dense path, pinned on siglip2_tiny (the same code on timm's tiny MAP-head ViT):
the trunk against timm's own forward, positional resizing, the MAP head's value path against a
hand computation and against timm's attention pool run on one token, shapes and norms."""

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("open_clip")
pytest.importorskip("timm")

from rns_bench.backbones import BACKBONES, build_backbone  # noqa: E402
from rns_bench.backbones.siglip2 import SIGLIP_MEAN, SigLIP2L16, SigLIP2Tiny, map_head_value_path  # noqa: E402
from rns_bench.core.errors import ConfigError  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/backbones/conftest.py


@pytest.fixture(scope="module")
def siglip() -> SigLIP2Tiny:
    return build_backbone("siglip2_tiny", device="cpu")


def _pixels(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_registry_names_and_attributes(siglip: SigLIP2Tiny) -> None:
    assert BACKBONES.get("siglip2_l16") is SigLIP2L16 and BACKBONES.get("siglip2_tiny") is SigLIP2Tiny
    assert (siglip.name, siglip.patch_size, siglip.dim, siglip.dense_head) == ("siglip2_tiny", 16, 96, "map_value")
    assert siglip.trunk.num_prefix_tokens == 1  # test_vit3's register token exercises the prefix handling


def test_pixel_normalisation_is_siglips() -> None:
    from open_clip.constants import INCEPTION_MEAN, INCEPTION_STD

    assert SIGLIP_MEAN == INCEPTION_MEAN and INCEPTION_STD == (0.5, 0.5, 0.5)


def test_at_the_native_grid_the_trunk_tokens_are_timms_forward_features(siglip: SigLIP2Tiny) -> None:
    pixels = _pixels(2, 3, 160, 160)  # test_vit3's native 10×10 grid
    with torch.no_grad():
        torch.testing.assert_close(siglip.trunk_tokens(pixels), siglip.trunk.forward_features(pixels))


def test_off_native_grids_use_bicubic_resized_positions_and_the_prefix_position_untouched(siglip: SigLIP2Tiny) -> None:
    trunk = siglip.trunk
    pixels = _pixels(1, 3, 48, 80)
    positions = trunk.pos_embed[0].detach()  # register position first (no_embed_class=False), then 10×10
    grid = positions[1:].T.reshape(1, -1, 10, 10)
    resized = F.interpolate(grid, size=(3, 5), mode="bicubic", align_corners=False).reshape(-1, 15).T
    with torch.no_grad():
        patches = trunk.patch_embed.proj(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([trunk.reg_token, patches], dim=1) + torch.cat([positions[:1], resized])
        for block in trunk.blocks:
            x = block(x)
        torch.testing.assert_close(siglip.trunk_tokens(pixels), trunk.norm(x))


def test_map_value_path_by_hand_from_the_pool_weights(siglip: SigLIP2Tiny) -> None:
    pool = siglip.trunk.attn_pool
    tokens = _pixels(2, 7, 96, seed=1)
    state = {name: tensor.detach() for name, tensor in pool.state_dict().items()}
    values = tokens @ state["kv.weight"][96:].T + state["kv.bias"][96:]
    out = values @ state["proj.weight"].T + state["proj.bias"]
    normed = F.layer_norm(out, (96,), state["norm.weight"], state["norm.bias"], eps=1e-6)
    hidden = F.gelu(normed @ state["mlp.fc1.weight"].T + state["mlp.fc1.bias"])
    expected = out + hidden @ state["mlp.fc2.weight"].T + state["mlp.fc2.bias"]
    with torch.no_grad():
        torch.testing.assert_close(map_head_value_path(pool, tokens), expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(map_head_value_path(pool, tokens, with_mlp=False), out, atol=1e-5, rtol=1e-5)


def test_map_value_path_is_timms_attention_pool_over_one_token(siglip: SigLIP2Tiny) -> None:
    # One key: the latent query's attention weight is 1, so the pooled output is the value path.
    pool = siglip.trunk.attn_pool
    tokens = _pixels(2, 5, 96, seed=2)
    with torch.no_grad():
        ours = map_head_value_path(pool, tokens)
        for t in range(5):
            torch.testing.assert_close(ours[:, t], pool(tokens[:, t : t + 1]), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("dense_head", ["map_value", "map_value_no_mlp", "tokens"])
def test_dense_features_are_the_head_read_of_the_patch_tokens(dense_head: str) -> None:
    backbone = build_backbone("siglip2_tiny", dense_head=dense_head, device="cpu")
    images = torch.rand(2, 3, 48, 80, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        tokens = backbone.trunk_tokens((images - 0.5) / 0.5)[:, 1:]
        if dense_head != "tokens":
            tokens = map_head_value_path(backbone.trunk.attn_pool, tokens, with_mlp=dense_head == "map_value")
    expected = F.normalize(tokens, dim=-1).reshape(2, 3, 5, -1).permute(0, 3, 1, 2)
    features = backbone.encode_image(images)
    assert features.shape == (2, backbone.dim, 3, 5)
    torch.testing.assert_close(features, expected)
    torch.testing.assert_close(features.norm(dim=1), torch.ones(2, 3, 5))


def test_unknown_dense_head_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="map_value, map_value_no_mlp, tokens"):
        build_backbone("siglip2_tiny", dense_head="cls")


def test_text_features_are_unit_norm_in_the_image_dimension(siglip: SigLIP2Tiny) -> None:
    features = siglip.encode_text(["cat", "dog"])
    assert features.shape == (2, 96)
    torch.testing.assert_close(features.norm(dim=-1), torch.ones(2))
