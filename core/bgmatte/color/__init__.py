"""Colour: which OCIO config, conversions to and from working linear (ACEScg), the network's encoding."""
from __future__ import annotations

from bgmatte.color.config import ResolvedConfig, bundled_config, bundled_config_path, resolve_config
from bgmatte.color.convert import ColorPipeline
from bgmatte.color.encoding import (
    NETWORK_COLORSPACE,
    WORKING_COLORSPACE,
    decode_from_network,
    encode_for_network,
    luminance,
)

__all__ = [
    "ColorPipeline",
    "NETWORK_COLORSPACE",
    "ResolvedConfig",
    "WORKING_COLORSPACE",
    "bundled_config",
    "bundled_config_path",
    "decode_from_network",
    "encode_for_network",
    "luminance",
    "resolve_config",
]
