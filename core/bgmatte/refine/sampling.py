"""Bilinear upsampling evaluated only where it is needed: on a rectangle, or at a list of pixels.

Both equal ``F.interpolate(low, size, mode="bilinear", align_corners=False)`` at the requested
full-resolution pixels (pixel-centre alignment, the convention of bgmatte.priors.resample)
without building the full image. Every output pixel depends only on its own coordinates and is
computed in the same order (rows first, then columns), so tiles agree with the whole image and
points agree with rectangles bit for bit.
"""
from __future__ import annotations

import torch
from torch import Tensor


def bilinear_taps(full: int, low: int, positions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Source indices and weights of full-resolution rows (or columns) along one axis.

    Args:
        full: full-resolution length along the axis.
        low: low-resolution length along the axis.
        positions: int64 full-resolution indices, any shape.

    Returns:
        (first, second, weight): int64 indices into the low axis and the float64 weight of
        ``second``, each shaped like ``positions``.
    """
    src = ((positions.double() + 0.5) * (low / full) - 0.5).clamp(min=0.0)
    first = src.floor().long().clamp(max=low - 1)
    second = (first + 1).clamp(max=low - 1)
    return first, second, src - first


def _check_low(low: Tensor) -> None:
    if low.dim() != 4:
        raise ValueError(f"low: expected a (B, C, H, W) tensor, got shape {tuple(low.shape)}")


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
    _check_low(low)
    full_h, full_w = size
    if not (0 <= top and 0 < height and top + height <= full_h and 0 <= left and 0 < width
            and left + width <= full_w):
        raise ValueError(f"region top={top}, left={left}, height={height}, width={width} "
                         f"is not inside the full size {tuple(size)}")
    rows = torch.arange(top, top + height, device=low.device)
    cols = torch.arange(left, left + width, device=low.device)
    row_first, row_second, row_w = bilinear_taps(full_h, low.shape[-2], rows)
    col_first, col_second, col_w = bilinear_taps(full_w, low.shape[-1], cols)
    # Crop to the rectangle's footprint first, so a tile touches only its own low-res pixels.
    row0, col0 = int(row_first[0]), int(col_first[0])
    low = low[..., row0:int(row_second[-1]) + 1, col0:int(col_second[-1]) + 1]
    row_w = row_w.to(low.dtype)[:, None]
    col_w = col_w.to(low.dtype)
    x = low.index_select(-2, row_first - row0) * (1 - row_w) + low.index_select(-2, row_second - row0) * row_w
    # Columns gathered as rows of the transposed rows (a gather along the last axis is far slower).
    x = x.transpose(-1, -2).contiguous()
    col_w = col_w[:, None]
    x = x.index_select(-2, col_first - col0) * (1 - col_w) + x.index_select(-2, col_second - col0) * col_w
    return x.transpose(-1, -2)


def sample_bilinear_points(low: Tensor, size: tuple[int, int], rows: Tensor, cols: Tensor) -> Tensor:
    """The bilinear upsampling of ``low`` to ``size`` at a list of full-resolution pixels.

    Args:
        low: (B, C, h, w) tensor, any float dtype and device.
        size: full resolution (H, W), each >= the low size.
        rows, cols: (N,) int64 full-resolution pixel coordinates, inside (H, W).

    Returns:
        (B, C, N) tensor, dtype and device of ``low``.
    """
    _check_low(low)
    row_first, row_second, row_w = bilinear_taps(size[0], low.shape[-2], rows)
    col_first, col_second, col_w = bilinear_taps(size[1], low.shape[-1], cols)
    row_w, col_w = row_w.to(low.dtype), col_w.to(low.dtype)
    # Pixels as rows of a (B, h*w, C) table: each tap gathers C contiguous values.
    table = low.flatten(2).transpose(1, 2).contiguous()
    low_w = low.shape[-1]

    def tap(row: Tensor, col: Tensor) -> Tensor:
        return table.index_select(1, row * low_w + col).transpose(1, 2)

    at_first_col = tap(row_first, col_first) * (1 - row_w) + tap(row_second, col_first) * row_w
    at_second_col = tap(row_first, col_second) * (1 - row_w) + tap(row_second, col_second) * row_w
    return at_first_col * (1 - col_w) + at_second_col * col_w
