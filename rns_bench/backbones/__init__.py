"""Backbones by registry name (``toy_vlm``, later ``clip_b16``, ``dinov3_txt`` ...)."""

from __future__ import annotations

from rns_bench.backbones.base import Backbone
from rns_bench.registry import Registry

BACKBONES: Registry = Registry("backbone")


def build_backbone(name: str, **options) -> Backbone:
    """Build a registered backbone; ``options`` are its constructor arguments."""
    _import_builtin_backbones()
    return BACKBONES.get(name)(**options)


def _import_builtin_backbones() -> None:
    # Registration happens on import; importing here keeps the registry complete.
    from rns_bench.backbones import random_vlm, toy_vlm  # noqa: F401


__all__ = ["BACKBONES", "Backbone", "build_backbone"]
