"""Backbones by registry name (``toy_vlm``, ``random_vlm``, ``clip_b16``, ``siglip2_l16``, ``dinov3_txt``,
and the tiny random test variants ``clip_tiny``, ``siglip2_tiny``)."""

from __future__ import annotations

from rns_bench.backbones.base import Backbone
from rns_bench.registry import Registry

BACKBONES: Registry = Registry("backbone")


def build_backbone(name: str, **options) -> Backbone:
    """Build a registered backbone; ``options`` are its constructor arguments."""
    _import_builtin_backbones()
    return BACKBONES.get(name)(**options)


def _import_builtin_backbones() -> None:
    # Registration happens on import; importing here keeps the registry complete. These modules
    # import open_clip / timm / torch.hub only when a backbone is built (open_clip takes seconds).
    from rns_bench.backbones import dinov3_txt, open_clip_maskclip, random_vlm, siglip2, toy_vlm  # noqa: F401


__all__ = ["BACKBONES", "Backbone", "build_backbone"]
