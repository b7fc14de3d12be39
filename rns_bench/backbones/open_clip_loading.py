"""Build an open_clip model and its tokenizer: real architectures from local weights, or tiny
random-initialised test architectures (timm's ``test_*`` habit) that run the same code paths.

The tiny architectures are open_clip model configs (the dicts open_clip keeps as
``model_configs/*.json``) instantiated with the class ``open_clip.create_model`` would pick
(``CLIP`` / ``CustomTextCLIP``), under a private RNG so that building one is deterministic and
leaves the global RNG alone. They are not added to open_clip's global config registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from rns_bench.backbones.weight_files import require_hf_tokenizer, resolve_open_clip_weights
from rns_bench.core.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Callable

    Tokenizer = Callable[[list[str]], torch.Tensor]  # P prompts → (P, L) token ids

_TINY_TEXT = {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2, "mlp_ratio": 2.0}
# name → (open_clip model config, CLIP class name). Vocab 49408 = open_clip's bundled CLIP BPE tokenizer.
TINY_OPEN_CLIP_CONFIGS: dict[str, tuple[dict[str, Any], str]] = {
    # A ViT-B-16 in miniature: 64 px native input (4×4 grid of 16 px patches), 2 blocks, 3 heads.
    "test-clip-tiny": (
        {
            "embed_dim": 24,
            "vision_cfg": {
                "image_size": 64,
                "layers": 2,
                "width": 48,
                "head_width": 16,
                "patch_size": 16,
                "mlp_ratio": 2.0,
            },
            "text_cfg": _TINY_TEXT,
        },
        "CLIP",
    ),
    # A SigLIP-style timm tower: timm's test_vit3 (160 px native, 96 wide, 9 blocks, MAP attention-pool
    # head, one register token), no extra projection (timm_proj="none") as in ViT-L-16-SigLIP2-512.
    "test-siglip-tiny": (
        {
            "embed_dim": 96,
            "vision_cfg": {
                "image_size": 160,
                "timm_model_name": "test_vit3",
                "timm_model_pretrained": False,
                "timm_pool": "map",
                "timm_proj": "none",
            },
            "text_cfg": {**_TINY_TEXT, "proj_bias": True},
        },
        "CustomTextCLIP",
    ),
}


def build_tiny_open_clip(model_name: str, seed: int) -> tuple[torch.nn.Module, Tokenizer]:
    """A registered tiny architecture with seeded random weights and open_clip's CLIP BPE tokenizer."""
    import open_clip

    if model_name not in TINY_OPEN_CLIP_CONFIGS:
        raise InputError(f"unknown tiny open_clip model {model_name!r}; valid: {', '.join(TINY_OPEN_CLIP_CONFIGS)}")
    config, class_name = TINY_OPEN_CLIP_CONFIGS[model_name]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = getattr(open_clip, class_name)(**config)
    return model, open_clip.SimpleTokenizer(context_length=config["text_cfg"]["context_length"])


def build_pretrained_open_clip(
    backbone: str, model_name: str, pretrained: str, cache_dir: str | None = None, tokenizer: str | None = None
) -> tuple[torch.nn.Module, Tokenizer]:
    """open_clip ``model_name`` with weights ``pretrained`` (a tag or a checkpoint path), and its tokenizer.

    Weights are resolved to a local file first (fails fast offline, see weight_files), so
    open_clip never reaches the network for them. ``tokenizer`` overrides a Hugging Face
    tokenizer source (repo id or local directory) for towers that use one (SigLIP2: Gemma).
    """
    import open_clip

    config = open_clip.get_model_config(model_name)
    if config is None:
        raise InputError(
            f"{backbone}: open_clip has no model config {model_name!r}; valid names: "
            f"open_clip.list_models() (e.g. ViT-B-16, ViT-L-16-SigLIP2-512)"
        )
    hf_tokenizer = tokenizer or config["text_cfg"].get("hf_tokenizer_name")
    if hf_tokenizer:  # checked before the weights are read: both must be present offline
        require_hf_tokenizer(backbone, hf_tokenizer, cache_dir)
    weights = resolve_open_clip_weights(backbone, model_name, pretrained, cache_dir)
    model = open_clip.create_model(
        model_name, pretrained=weights.checkpoint, force_quick_gelu=weights.quick_gelu, cache_dir=cache_dir
    )
    if tokenizer:
        text_cfg = config["text_cfg"]
        from open_clip.tokenizer import HFTokenizer

        text_tokenizer = HFTokenizer(
            tokenizer,
            context_length=text_cfg.get("context_length"),
            cache_dir=cache_dir,
            **(text_cfg.get("tokenizer_kwargs") or {}),
        )
    else:
        text_tokenizer = open_clip.get_tokenizer(model_name, cache_dir=cache_dir)
    return model, text_tokenizer
