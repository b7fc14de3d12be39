"""``siglip2_l16``: SigLIP2 ViT-L/16 at 512 px through open_clip (``ViT-L-16-SigLIP2-512``,
pretrained ``webli``); ``siglip2_tiny``: the same code on a tiny random-initialised timm tower.

How the tower reaches the joint space (our reading of open_clip 3.3 / timm 1.0): open_clip wraps
timm's ``vit_large_patch16_siglip_512`` (``TimmModel``, ``timm_pool="map"``, ``timm_proj="none"``),
so there is no projection after the trunk. The trunk ends with ``norm`` (final LayerNorm on all
tokens), then the MAP head ``attn_pool`` (timm ``AttentionPoolLatent``): one learned latent
query attends over the tokens (``kv`` linear), the attended value goes through ``proj``, then
``x + mlp(norm(x))``; ``fc_norm`` and ``head`` are identities. The pooled vector *is* the image
embedding compared with text — the MAP head is the only map from tokens into the text space.

Dense features are therefore the MAP head read per token through its value path, the MaskCLIP
recipe for attention-pooled towers (MaskCLIP reads CLIP-ResNet's attention pool the same way):
a token attending only to itself gives ``o = proj(W_v·t + b_v)``. ``dense_head`` (a guess, named):

* ``"map_value"`` (default): ``o + mlp(norm(o))`` — the whole head, as the pooled path runs it;
* ``"map_value_no_mlp"``: ``o`` only (MaskCLIP drops what follows the value projection);
* ``"tokens"``: the final-normed trunk tokens, no head (same width here, not trained to match text).

The trunk itself runs unchanged (no last-block value path), with its absolute positional
embedding grid bicubic-resized to the input's patch grid (positional.py). Pixels are normalised
with mean = std = 0.5 (open_clip's SigLIP preprocessing). Text: open_clip's SigLIP2 text tower
and Gemma tokenizer (needs ``transformers``), 80 templates as for every backbone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rns_bench.backbones.dense_vlm import DenseVLM
from rns_bench.backbones.open_clip_loading import build_pretrained_open_clip, build_tiny_open_clip
from rns_bench.backbones.positional import resize_grid_embedding
from rns_bench.backbones.registry import BACKBONES
from rns_bench.core.errors import ConfigError

DENSE_HEADS = ("map_value", "map_value_no_mlp", "tokens")
SIGLIP_MEAN = SIGLIP_STD = (0.5, 0.5, 0.5)  # = open_clip.constants.INCEPTION_MEAN / _STD


class SigLIPDense(DenseVLM):
    """An open_clip ``TimmModel`` tower (timm ViT + MAP head) read densely, see the module doc."""

    def __init__(self, model: torch.nn.Module, tokenizer, dense_head: str, device: str | torch.device):
        check_dense_head(dense_head)
        trunk = _check_supported_tower(self.name, model.visual)
        patch = trunk.patch_embed.patch_size
        dim = trunk.attn_pool.out_features if dense_head != "tokens" else trunk.num_features
        super().__init__(model, tokenizer, SIGLIP_MEAN, SIGLIP_STD, patch_size=patch[0], dim=dim, device=device)
        self.dense_head = dense_head

    @property
    def trunk(self) -> torch.nn.Module:
        return self.model.visual.trunk

    def dense_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised pixels → (B, H/16, W/16, D) patch features in the joint space."""
        batch, grid = pixels.shape[0], (pixels.shape[2] // self.patch_size, pixels.shape[3] // self.patch_size)
        tokens = self.trunk_tokens(pixels)[:, self.trunk.num_prefix_tokens :]
        return self.head_tokens(tokens).reshape(batch, *grid, -1)

    def trunk_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised pixels → (B, P + h·w, C): the trunk's final-normed tokens
        (P prefix tokens first), as timm's ``forward_features`` at any multiple-of-patch size."""
        trunk = self.trunk
        patches = trunk.patch_embed.proj(pixels.to(trunk.patch_embed.proj.weight.dtype))  # (B, C, h, w)
        grid = tuple(patches.shape[2:])
        x = trunk.patch_embed.norm(patches.flatten(2).transpose(1, 2))
        x = trunk.norm_pre(trunk.patch_drop(_add_positions(trunk, x, grid)))
        for block in trunk.blocks:
            x = block(x)
        return trunk.norm(x)

    def head_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, N, C) final-normed patch tokens → (B, N, D) through ``dense_head`` and whatever
        follows the pool (timm ``fc_norm`` / ``head``, open_clip's adapter ``head``; identities here)."""
        if self.dense_head != "tokens":
            tokens = map_head_value_path(self.trunk.attn_pool, tokens, with_mlp=self.dense_head == "map_value")
        return self.model.visual.head(self.trunk.head(self.trunk.fc_norm(tokens)))


def check_dense_head(dense_head: str) -> None:
    if dense_head not in DENSE_HEADS:
        raise ConfigError(f"unknown dense_head {dense_head!r}; valid: {', '.join(DENSE_HEADS)}")


def map_head_value_path(pool: torch.nn.Module, tokens: torch.Tensor, with_mlp: bool = True) -> torch.Tensor:
    """(B, N, C) tokens → (B, N, D): timm ``AttentionPoolLatent`` with each token its own only key
    (attention weight 1): ``o = proj(W_v·t + b_v)``, then ``o + mlp(norm(o))`` when ``with_mlp``."""
    width = pool.kv.out_features // 2  # kv rows: keys first, then values
    value_bias = pool.kv.bias[width:] if pool.kv.bias is not None else None
    out = pool.proj(F.linear(tokens, pool.kv.weight[width:], value_bias))
    return out + pool.mlp(pool.norm(out)) if with_mlp and pool.mlp is not None else out


def _add_positions(trunk: torch.nn.Module, patches: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, h·w, C) patch embeddings → (B, P + h·w, C) with prefix tokens and resized positions,
    following timm ``VisionTransformer._pos_embed`` (``no_embed_class``: positions cover the grid only)."""
    prefix = [
        token.expand(patches.shape[0], -1, -1) for token in (trunk.cls_token, trunk.reg_token) if token is not None
    ]
    positions = trunk.pos_embed[0]
    num_position_prefix = 0 if trunk.no_embed_class else trunk.num_prefix_tokens
    grid_positions = resize_grid_embedding(positions[num_position_prefix:], trunk.patch_embed.grid_size, grid)
    if trunk.no_embed_class:
        x = torch.cat([*prefix, patches + grid_positions.to(patches.dtype)], dim=1)
    else:
        all_positions = torch.cat([positions[:num_position_prefix], grid_positions])
        x = torch.cat([*prefix, patches], dim=1) + all_positions.to(patches.dtype)
    return trunk.pos_drop(x)


def _check_supported_tower(backbone: str, visual: torch.nn.Module) -> torch.nn.Module:
    """The open_clip TimmModel's timm VisionTransformer with a plain MAP head; returns the trunk."""
    from timm.layers import AttentionPoolLatent
    from timm.models.vision_transformer import VisionTransformer

    trunk = getattr(visual, "trunk", None)
    pool = getattr(trunk, "attn_pool", None)
    if (
        not isinstance(trunk, VisionTransformer)
        or not isinstance(pool, AttentionPoolLatent)
        or pool.pos_embed is not None
        or trunk.pos_embed is None
        or pool.latent_len != 1
    ):
        raise ConfigError(
            f"{backbone}: the SigLIP dense path needs an open_clip timm tower with a timm "
            f"VisionTransformer, absolute positional embeddings and a single-latent MAP head "
            f"(e.g. ViT-L-16-SigLIP2-512); got {type(trunk).__name__} / {type(pool).__name__}"
        )
    return trunk


@BACKBONES.register("siglip2_l16")
class SigLIP2L16(SigLIPDense):
    """SigLIP2 ViT-L/16 at 512 px: (B, 3, H, W) → (B, 1024, H/16, W/16), names → (K, 1024); unit norm.

    Options: ``pretrained`` an open_clip tag (``webli``) or a local checkpoint path; ``model_name``;
    ``dense_head`` (module doc); ``tokenizer`` a Hugging Face tokenizer repo id or local directory
    (default the model's, ``timm/ViT-L-16-SigLIP2-512``); ``device``; ``hf_cache_dir``.
    """

    name = "siglip2_l16"

    def __init__(
        self,
        pretrained: str = "webli",
        model_name: str = "ViT-L-16-SigLIP2-512",
        dense_head: str = "map_value",
        tokenizer: str | None = None,
        device: str = "auto",
        hf_cache_dir: str | None = None,
    ):
        check_dense_head(dense_head)  # before any weight is read
        model, text_tokenizer = build_pretrained_open_clip(self.name, model_name, pretrained, hf_cache_dir, tokenizer)
        super().__init__(model, text_tokenizer, dense_head, device)


@BACKBONES.register("siglip2_tiny")
class SigLIP2Tiny(SigLIPDense):
    """The siglip2_l16 code on open_clip architecture ``test-siglip-tiny`` (timm ``test_vit3``:
    96 wide, 9 blocks, MAP head, one register token; CLIP BPE text), seeded random weights."""

    name = "siglip2_tiny"

    def __init__(self, dense_head: str = "map_value", seed: int = 0, device: str = "auto"):
        check_dense_head(dense_head)
        model, tokenizer = build_tiny_open_clip("test-siglip-tiny", seed)
        super().__init__(model, tokenizer, dense_head, device)
