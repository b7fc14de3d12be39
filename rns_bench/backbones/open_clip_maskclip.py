"""``clip_b16``: OpenCLIP ViT-B/16 with MaskCLIP-style dense features (the default backbone);
``clip_tiny``: the same code on a tiny random-initialised ViT (tests, smoke runs).

Dense features (features.md, "OpenCLIP ViT-B/16"): the visual tower runs normally up to the
tokens ``x`` entering the **last** residual block, which is recomputed with attention replaced by
its value path; then ``ln_post`` on all tokens, CLS dropped, ``visual.proj`` (768 → 512):

* ``value_path="rns"`` (the authors' variant, default): ``y = ln_1(x)``;
  ``v = x + out_proj(W_v·y + b_v)``; ``v = v + mlp(ln_2(v))`` — residual and MLP kept;
* ``value_path="maskclip"`` (original MaskCLIP): ``v = out_proj(W_v·y + b_v)`` — both dropped.

(LayerScale ``ls_1`` / ``ls_2`` wrap the two branches as in the block's own forward; ViT-B-16 has none.)
Positional embeddings: the grid part bicubic-resized to the input's patch grid, CLS untouched
(positional.py). open_clip is imported only when a backbone is built.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rns_bench.backbones.dense_vlm import DenseVLM
from rns_bench.backbones.open_clip_loading import build_pretrained_open_clip, build_tiny_open_clip
from rns_bench.backbones.positional import resize_with_prefix
from rns_bench.backbones.registry import BACKBONES
from rns_bench.core.errors import ConfigError

VALUE_PATHS = ("rns", "maskclip")
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)  # = open_clip.constants.OPENAI_DATASET_MEAN (tested)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)  # = open_clip.constants.OPENAI_DATASET_STD


class MaskCLIPDense(DenseVLM):
    """An open_clip ``VisionTransformer`` tower read densely through its last block's value path."""

    def __init__(self, model: torch.nn.Module, tokenizer, value_path: str, device: str | torch.device):
        check_value_path(value_path)
        visual = model.visual
        _check_supported_tower(self.name, visual)
        super().__init__(
            model,
            tokenizer,
            OPENAI_MEAN,
            OPENAI_STD,
            patch_size=visual.patch_size[0],
            dim=visual.proj.shape[1],
            device=device,
        )
        self.value_path = value_path

    def dense_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised pixels → (B, H/16, W/16, D) projected patch tokens (not normalised)."""
        visual = self.model.visual
        batch, grid = pixels.shape[0], (pixels.shape[2] // self.patch_size, pixels.shape[3] // self.patch_size)
        x = self.tokens_entering_last_block(pixels)
        x = last_block_value_path(visual.transformer.resblocks[-1], x, self.value_path)
        x = visual.ln_post(x)[:, 1:] @ visual.proj  # all tokens normalised, CLS dropped
        return x.reshape(batch, *grid, -1)

    def tokens_entering_last_block(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised pixels → (B, 1 + h·w, C): CLS then patch tokens, row-major."""
        visual = self.model.visual
        pixels = pixels.to(visual.conv1.weight.dtype)
        patches = visual.conv1(pixels)  # (B, C, h, w)
        grid = tuple(patches.shape[2:])
        patches = patches.flatten(2).transpose(1, 2)
        cls = visual.class_embedding.to(patches.dtype).expand(patches.shape[0], 1, -1)
        positions = resize_with_prefix(visual.positional_embedding, 1, visual.grid_size, grid)
        x = torch.cat([cls, patches], dim=1) + positions.to(patches.dtype)
        x = visual.ln_pre(visual.patch_dropout(x))
        transformer = visual.transformer
        if not transformer.batch_first:
            x = x.transpose(0, 1)
        for block in transformer.resblocks[:-1]:
            x = block(x)
        return x if transformer.batch_first else x.transpose(0, 1)


def check_value_path(value_path: str) -> None:
    if value_path not in VALUE_PATHS:
        raise ConfigError(
            f"unknown value_path {value_path!r}; valid: {', '.join(VALUE_PATHS)} "
            f"(rns keeps the last block's residual and MLP, maskclip drops both)"
        )


def last_block_value_path(block: torch.nn.Module, x: torch.Tensor, value_path: str) -> torch.Tensor:
    """(B, T, C) tokens entering an open_clip ``ResidualAttentionBlock`` → (B, T, C), attention
    replaced by its value path (each token attends only to itself). ``value_path`` as in the module doc."""
    attention = block.attn
    width = x.shape[-1]
    if attention.in_proj_weight is not None:
        value_weight = attention.in_proj_weight[2 * width :]
    else:
        value_weight = attention.v_proj_weight
    value_bias = attention.in_proj_bias[2 * width :] if attention.in_proj_bias is not None else None
    values = attention.out_proj(F.linear(block.ln_1(x), value_weight, value_bias))
    if value_path == "maskclip":
        return values
    v = x + block.ls_1(values)
    return v + block.ls_2(block.mlp(block.ln_2(v)))


def _check_supported_tower(backbone: str, visual: torch.nn.Module) -> None:
    """The dense path reads open_clip's own VisionTransformer with standard attention blocks."""
    from open_clip.transformer import ResidualAttentionBlock, VisionTransformer

    last = getattr(getattr(visual, "transformer", None), "resblocks", [None])[-1]
    if (
        not isinstance(visual, VisionTransformer)
        or visual.attn_pool is not None
        or visual.proj is None
        or not isinstance(last, ResidualAttentionBlock)
        or hasattr(last, "ln_1_kv")
    ):
        raise ConfigError(
            f"{backbone}: the MaskCLIP dense path needs an open_clip VisionTransformer with standard "
            f"residual attention blocks, CLS pooling and a visual.proj (e.g. ViT-B-16, ViT-L-14); "
            f"got {type(visual).__name__}"
        )


@BACKBONES.register("clip_b16")
class ClipB16(MaskCLIPDense):
    """OpenCLIP ViT-B/16 (laion2b_s34b_b88k): (B, 3, H, W) → (B, 512, H/16, W/16), names → (K, 512); unit norm.

    Options: ``pretrained`` an open_clip tag or a local checkpoint path; ``model_name`` an open_clip
    architecture (for OpenAI-trained files, ``ViT-B-16-quickgelu``); ``value_path`` ``rns`` |
    ``maskclip``; ``device`` ``auto`` | ``cpu`` | ``cuda[:i]``; ``hf_cache_dir`` a Hugging Face cache
    directory (default HF_HUB_CACHE).
    """

    name = "clip_b16"

    def __init__(
        self,
        pretrained: str = "laion2b_s34b_b88k",
        model_name: str = "ViT-B-16",
        value_path: str = "rns",
        device: str = "auto",
        hf_cache_dir: str | None = None,
    ):
        check_value_path(value_path)  # before any weight is read
        model, tokenizer = build_pretrained_open_clip(self.name, model_name, pretrained, hf_cache_dir)
        super().__init__(model, tokenizer, value_path, device)


@BACKBONES.register("clip_tiny")
class ClipTiny(MaskCLIPDense):
    """The clip_b16 code on open_clip architecture ``test-clip-tiny`` (48 wide, 2 blocks, D = 24),
    seeded random weights: numbers mean nothing, code paths are the real ones."""

    name = "clip_tiny"

    def __init__(self, value_path: str = "rns", seed: int = 0, device: str = "auto"):
        check_value_path(value_path)
        model, tokenizer = build_tiny_open_clip("test-clip-tiny", seed)
        super().__init__(model, tokenizer, value_path, device)
