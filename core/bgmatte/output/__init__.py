"""Output pixels: the compositing-equation foreground and the optional shadow and fg layers."""
from __future__ import annotations

from bgmatte.output.foreground import estimate_noise_floor, premultiplied_foreground
from bgmatte.output.layers import shadow_layer, straight_foreground

__all__ = ["estimate_noise_floor", "premultiplied_foreground", "shadow_layer", "straight_foreground"]
