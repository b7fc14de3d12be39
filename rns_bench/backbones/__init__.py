"""Backbones by registry name (``random_vlm``, ``clip_b16``, ``siglip2_l16``, ``dinov3_txt``, the tiny
random test variants ``clip_tiny``, ``siglip2_tiny``; ``toy_vlm`` registers from ``rns_bench.toy``)."""

from __future__ import annotations

# Registrants: importing them fills the registry. They import open_clip / timm / torch.hub only when
# a backbone is built (open_clip takes seconds).
from rns_bench.backbones import dinov3_txt, open_clip_maskclip, random_vlm, siglip2  # noqa: F401
from rns_bench.backbones.base import Backbone
from rns_bench.backbones.registry import BACKBONES


def build_backbone(name: str, **options) -> Backbone:
    """Build a registered backbone; ``options`` are its constructor arguments."""
    return BACKBONES.get(name)(**options)


__all__ = ["BACKBONES", "Backbone", "build_backbone"]
