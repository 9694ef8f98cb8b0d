"""TorchScript twin of bgmatte.priors.resample: ``working_shape`` and ``resize_area`` (cv2 INTER_AREA).

The working size is computed inside the graph from the input's H and W at run time (not frozen at
export), with Python's round-half-to-even like the core. Area downsampling is exact pixel-area
averaging: each output pixel is the mean of the input area it covers, fractional pixels weighted by
their covered fraction, as OpenCV's INTER_AREA does for downscaling. It is written as two small
matrix products (rows, then columns) so it works for any integer or fractional scale factor.
"""
from __future__ import annotations

import torch
from torch import Tensor

from bgmatte.filters import round_even


def working_shape(height: int, width: int, longest: int) -> tuple[int, int]:
    """Twin of ``priors.resample.working_shape``: fit the longest side into ``longest``, never upsample."""
    scale = float(longest) / float(max(height, width))
    if scale >= 1.0:
        return height, width
    return max(1, round_even(height * scale)), max(1, round_even(width * scale))


def area_weights(full: int, small: int, device: torch.device) -> Tensor:
    """(small, full) float64 matrix: row i averages the input pixels that output pixel i covers."""
    scale = float(full) / float(small)
    starts = torch.arange(small, dtype=torch.float64, device=device) * scale
    ends = starts + scale
    pixels = torch.arange(full, dtype=torch.float64, device=device)
    overlap = torch.min(ends[:, None], pixels[None, :] + 1.0) - torch.max(starts[:, None], pixels[None, :])
    return overlap.clamp(min=0.0) / scale


def resize_area(x: Tensor, height: int, width: int) -> Tensor:
    """Twin of ``priors.resample.resize_area``: (B, C, H, W) -> (B, C, height, width), same dtype.

    Args:
        x: (B, C, H, W) float tensor; linear light stays linear.
        height, width: target size, each no larger than the source.

    Returns:
        The area-averaged tensor; a copy of ``x`` when the size is unchanged.
    """
    if height == x.shape[2] and width == x.shape[3]:
        return x.clone()
    rows = area_weights(x.shape[2], height, x.device).to(x.dtype)
    cols = area_weights(x.shape[3], width, x.device).to(x.dtype)
    return torch.matmul(torch.matmul(rows, x), cols.t())
