"""EXR input and output through OpenImageIO: windows, headers, pixels on a canvas, atomic matte writes."""
from __future__ import annotations

from bgmatte.io.atomic import atomic_output, check_writable, remove_stale_temps, write_text_atomic
from bgmatte.io.exr import (
    Attribute,
    ImageHeader,
    check_finite,
    read_header,
    read_mask,
    read_mask_matched,
    read_rgb,
    read_rgb_matched,
    repair_nonfinite,
    rgb_channels,
)
from bgmatte.io.windows import Window, fill_outside, matched_data_window
from bgmatte.io.write import read_complete, write_matte

__all__ = [
    "Attribute",
    "ImageHeader",
    "Window",
    "atomic_output",
    "check_finite",
    "check_writable",
    "fill_outside",
    "matched_data_window",
    "read_complete",
    "read_header",
    "read_mask",
    "read_mask_matched",
    "read_rgb",
    "read_rgb_matched",
    "remove_stale_temps",
    "repair_nonfinite",
    "rgb_channels",
    "write_text_atomic",
    "write_matte",
]
