"""Resampling between full resolution and the network's working resolution (the one place for it).

One TorchScript-compatible torch implementation serves the core and the exported graph:
``working_shape`` (sizes, computed at run time), ``downsample_area`` (OpenCV's INTER_AREA: exact
pixel-area averaging, fractional pixels weighted by their covered share) and
``filters.upsample_bilinear`` (pixel-centre alignment, like ``align_corners=False``), so masks and
images resampled here stay registered; ``resample`` picks one of them for a mask of any size.
``resize_area`` and ``resize_linear`` are their NumPy entry points for (H, W[, C]) arrays, and
``as_nchw`` / ``as_array`` the two conversions of the I/O boundary (channels-last NumPy <-> NCHW torch).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from bgmatte.filters import round_even, upsample_bilinear

# Largest input period of the matrix-product path of ``downsample_area`` (see ``_area_rows``).
MAX_PHASE = 64


def working_shape(height: int, width: int, longest: int) -> tuple[int, int]:
    """The (h, w) that fits the longest side into ``longest`` pixels, keeping the aspect ratio.

    Never upsamples: an image already small enough keeps its size. Each side is at least 1.
    Rounds halves to even, as Python's ``round``.

    Args:
        height: Full-resolution height in pixels.
        width: Full-resolution width in pixels.
        longest: Largest allowed side of the working image, in pixels (>= 1).

    Returns:
        (h, w) of the working image.
    """
    if height < 1 or width < 1 or longest < 1:
        raise ValueError(f"sizes must be positive, got height={height}, width={width}, longest={longest}")
    scale = float(longest) / float(max(height, width))
    if scale >= 1.0:
        return height, width
    return max(1, round_even(height * scale)), max(1, round_even(width * scale))


def area_taps(full: int, small: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """The input pixels each output pixel of an area downsampling covers, and their shares.

    Output pixel i covers [i s, (i + 1) s) with s = full / small: at most ceil(s) + 1 pixels.

    Returns:
        (index, weight): (small, taps) int64 input indices and float64 weights (each row sums to 1).
    """
    scale = float(full) / float(small)
    taps = int(math.ceil(scale)) + 1
    starts = torch.arange(small, dtype=torch.float64, device=device) * scale
    index = starts.long().unsqueeze(1) + torch.arange(taps, device=device).unsqueeze(0)
    pixels = index.to(torch.float64)
    overlap = torch.min(starts.unsqueeze(1) + scale, pixels + 1.0) - torch.max(starts.unsqueeze(1), pixels)
    return index.clamp(max=full - 1), overlap.clamp(min=0.0) / scale


def _gcd(a: int, b: int) -> int:
    """Greatest common divisor (``math.gcd``, whose op older libtorch lacks)."""
    while b != 0:
        a, b = b, a % b
    return a


def _area_rows(x: Tensor, small: int, max_phase: int = MAX_PHASE) -> Tensor:
    """Area-downsample the rows (dim 2) of a (B, C, H, W) tensor to ``small`` rows.

    When H / small = p / q in lowest terms with p <= ``max_phase``, every p input rows make q output
    rows with the same (q, p) weights: one matrix product on a view, no gather (the common sizes:
    HD and UHD to 768 px are 5 / 2, DCI 4K 16 / 3). Otherwise each output row gathers its taps.
    """
    full = x.shape[2]
    groups = _gcd(full, small)
    phase = full // groups
    if phase <= max_phase:
        index, weight = area_taps(phase, small // groups, x.device)
        outputs = torch.arange(small // groups, device=x.device)
        dense = torch.zeros(small // groups, phase, dtype=torch.float64, device=x.device)
        for tap in range(index.shape[1]):
            dense.index_put_((outputs, index[:, tap]), weight[:, tap], accumulate=True)
        dense = dense.to(x.dtype)
        grouped = x.reshape(x.shape[0], x.shape[1], groups, phase, x.shape[3])
        return torch.matmul(dense, grouped).reshape(x.shape[0], x.shape[1], small, x.shape[3])
    index, weight = area_taps(full, small, x.device)
    taps = index.shape[1]
    gathered = x.index_select(2, index.reshape(-1)).reshape(x.shape[0], x.shape[1], small, taps, x.shape[3])
    return torch.matmul(weight.to(x.dtype).view(small, 1, taps), gathered).reshape(
        x.shape[0], x.shape[1], small, x.shape[3])


def downsample_area(x: Tensor, height: int, width: int) -> Tensor:
    """Downsample by pixel-area averaging (no aliasing), for full resolution -> working size.

    Args:
        x: (B, C, H, W) float tensor, any layout; linear light stays linear.
        height, width: target size, each no larger than the source.

    Returns:
        A new (B, C, height, width) tensor of ``x``'s dtype.

    Raises:
        ValueError: If the target is larger than the source along either axis, or not positive.
    """
    if height > x.shape[2] or width > x.shape[3]:
        raise ValueError(f"downsample_area only downsamples: {x.shape[2]}x{x.shape[3]} -> {height}x{width}; "
                         "use resize_linear")
    if height < 1 or width < 1:
        raise ValueError(f"target size must be positive, got {height}x{width}")
    result = x
    if height != x.shape[2]:
        result = _area_rows(result, height)
    if width != x.shape[3]:
        columns = torch.clone(result.permute(0, 1, 3, 2), memory_format=torch.contiguous_format)
        result = _area_rows(columns, width).permute(0, 1, 3, 2)
    return torch.clone(result, memory_format=torch.contiguous_format)


def resample(x: Tensor, height: int, width: int) -> Tensor:
    """A (B, C, H, W) map at (height, width): ``downsample_area`` where it fits along both axes, else
    ``upsample_bilinear`` (the plate's valid area at full resolution, the network's background at the
    working size, both brought to a statistic's small copy). A new tensor."""
    if height <= x.shape[2] and width <= x.shape[3]:
        return downsample_area(x, height, width)
    return upsample_bilinear(x, [height, width])


def as_nchw(x: np.ndarray) -> Tensor:
    """An (H, W) or (H, W, C) array as a contiguous (1, C, H, W) float32 tensor on the CPU (a view of an
    (H, W) float32 array, else one copy): the conversion of the I/O boundary."""
    x = np.asarray(x, np.float32)
    if x.ndim not in (2, 3):
        raise ValueError(f"expected an (H, W) or (H, W, C) array, got shape {x.shape}")
    if not x.flags.writeable or min(x.strides, default=0) < 0:
        x = x.copy()
    return torch.from_numpy(x[..., None] if x.ndim == 2 else x).permute(2, 0, 1)[None].contiguous()


def as_array(x: Tensor) -> np.ndarray:
    """A (1, C, H, W) tensor on any device as an (H, W, C) float32 array ((H, W) for C = 1): one transfer,
    no copy on the CPU when it has channels-last strides."""
    pixels = x[0].permute(1, 2, 0)
    pixels = pixels[..., 0] if x.shape[1] == 1 else pixels
    return np.ascontiguousarray(pixels.float().cpu().numpy())


def resize_area(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``downsample_area`` of an (H, W) or (H, W, C) array (any C) to ``size`` (h, w): a new float32 array.

    Raises:
        ValueError: If ``size`` is larger than the source along either axis.
    """
    return _resize_array(x, size, True)


def resize_linear(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resampling (``upsample_bilinear``) of an (H, W) or (H, W, C) array to ``size``, for working
    size -> full resolution (alpha, foreground, masks): a new float32 array."""
    return _resize_array(x, size, False)


def _resize_array(x: np.ndarray, size: tuple[int, int], area: bool) -> np.ndarray:
    """The NumPy entry point: (H, W[, C]) in, the same layout out, through the torch functions."""
    if x.ndim not in (2, 3):
        raise ValueError(f"expected an (H, W) or (H, W, C) array, got shape {x.shape}")
    height, width = int(size[0]), int(size[1])
    if height < 1 or width < 1:
        raise ValueError(f"target size must be positive, got {tuple(size)}")
    if area and (height > x.shape[0] or width > x.shape[1]):
        raise ValueError(f"resize_area only downsamples: {x.shape[:2]} -> {tuple(size)}; use resize_linear")
    pixels = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if (height, width) == tuple(pixels.shape[:2]):
        return pixels.numpy().copy()
    nchw = pixels[None, None] if x.ndim == 2 else pixels.permute(2, 0, 1).contiguous()[None]
    result = downsample_area(nchw, height, width) if area else upsample_bilinear(nchw, [height, width])
    return np.ascontiguousarray((result[0, 0] if x.ndim == 2 else result[0].permute(1, 2, 0)).numpy())
