"""Bilinear upsampling of any rectangle of the full-resolution grid, for tiled refinement.

`upsample_bilinear_region(low, size, top, left, height, width)` equals
``F.interpolate(low, size, mode="bilinear", align_corners=False)[..., top:top+height, left:left+width]``
(pixel-centre alignment, the convention of bgmatte.priors.resample) without building the full
image: every output pixel depends only on its own coordinates, so tiles agree with the whole.
"""
from __future__ import annotations

import torch
from torch import Tensor


def bilinear_taps(full: int, low: int, start: int, stop: int,
                  device: torch.device | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Source indices and weights of full-resolution rows (or columns) start..stop-1.

    Args:
        full: full-resolution length along the axis.
        low: low-resolution length along the axis.
        start, stop: the output range, 0 <= start < stop <= full.
        device: where the index tensors live.

    Returns:
        (first, second, weight): int64 indices into the low axis and the float64 weight of
        ``second``, each of length stop - start.
    """
    dst = torch.arange(start, stop, dtype=torch.float64, device=device)
    src = ((dst + 0.5) * (low / full) - 0.5).clamp(min=0.0)
    first = src.floor().long().clamp(max=low - 1)
    second = (first + 1).clamp(max=low - 1)
    return first, second, src - first


def upsample_bilinear_region(low: Tensor, size: tuple[int, int], top: int, left: int,
                             height: int, width: int) -> Tensor:
    """One rectangle of the bilinear upsampling of ``low`` to ``size``.

    Args:
        low: (B, C, h, w) tensor, any float dtype and device.
        size: full resolution (H, W), each >= the low size.
        top, left: corner of the rectangle in the full-resolution grid.
        height, width: rectangle size; the rectangle must lie inside (H, W).

    Returns:
        (B, C, height, width) tensor, dtype and device of ``low``; differentiable.
    """
    if low.dim() != 4:
        raise ValueError(f"low: expected a (B, C, H, W) tensor, got shape {tuple(low.shape)}")
    full_h, full_w = size
    if not (0 <= top and 0 < height and top + height <= full_h and 0 <= left and 0 < width
            and left + width <= full_w):
        raise ValueError(f"region top={top}, left={left}, height={height}, width={width} "
                         f"is not inside the full size {tuple(size)}")
    row_first, row_second, row_w = bilinear_taps(full_h, low.shape[-2], top, top + height, low.device)
    col_first, col_second, col_w = bilinear_taps(full_w, low.shape[-1], left, left + width, low.device)
    # Crop to the rectangle's footprint first, so a tile touches only its own low-res pixels.
    row0, col0 = int(row_first[0]), int(col_first[0])
    low = low[..., row0:int(row_second[-1]) + 1, col0:int(col_second[-1]) + 1]
    row_w = row_w.to(low.dtype)[:, None]
    col_w = col_w.to(low.dtype)
    x = low.index_select(-2, row_first - row0) * (1 - row_w) + low.index_select(-2, row_second - row0) * row_w
    return x.index_select(-1, col_first - col0) * (1 - col_w) + x.index_select(-1, col_second - col0) * col_w
