"""Resampling between full resolution and the network's working resolution (the one place for it).

OpenCV's resize uses pixel-centre alignment (half-pixel offsets), the same convention as torch's
``interpolate(..., align_corners=False)``, so masks and images resampled here stay registered.
"""
from __future__ import annotations

import cv2
import numpy as np

# cv2.resize takes at most this many channels per call for INTER_AREA.
_MAX_CHANNELS_PER_CALL = 4


def working_shape(height: int, width: int, longest: int) -> tuple[int, int]:
    """The (h, w) that fits the longest side into ``longest`` pixels, keeping the aspect ratio.

    Never upsamples: an image already small enough keeps its size. Each side is at least 1.

    Args:
        height: Full-resolution height in pixels.
        width: Full-resolution width in pixels.
        longest: Largest allowed side of the working image, in pixels (>= 1).

    Returns:
        (h, w) of the working image.
    """
    if height < 1 or width < 1 or longest < 1:
        raise ValueError(f"sizes must be positive, got height={height}, width={width}, longest={longest}")
    scale = longest / max(height, width)
    if scale >= 1.0:
        return height, width
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize_area(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Downsample by pixel-area averaging (no aliasing), for full resolution -> working size.

    Args:
        x: (H, W) or (H, W, C) array, any C, any value range (linear light stays linear).
        size: Target (h, w), each no larger than the source.

    Returns:
        A new float32 array of shape (h, w) or (h, w, C).

    Raises:
        ValueError: If ``size`` is larger than the source along either axis.
    """
    if size[0] > x.shape[0] or size[1] > x.shape[1]:
        raise ValueError(f"resize_area only downsamples: {x.shape[:2]} -> {tuple(size)}; use resize_linear")
    return _resize(x, size, cv2.INTER_AREA)


def resize_linear(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resampling, for working size -> full resolution (alpha, foreground, masks).

    Args:
        x: (H, W) or (H, W, C) array, any C.
        size: Target (H, W).

    Returns:
        A new float32 array of shape (H, W) or (H, W, C).
    """
    return _resize(x, size, cv2.INTER_LINEAR)


def _resize(x: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    """cv2.resize for any channel count, keeping a (H, W, 1) channel axis."""
    if x.ndim not in (2, 3):
        raise ValueError(f"expected an (H, W) or (H, W, C) array, got shape {x.shape}")
    height, width = int(size[0]), int(size[1])
    if height < 1 or width < 1:
        raise ValueError(f"target size must be positive, got {tuple(size)}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if (height, width) == x.shape[:2]:
        return x.copy()
    if x.ndim == 2:
        return cv2.resize(x, (width, height), interpolation=interpolation)
    channels = x.shape[2]
    out = np.empty((height, width, channels), dtype=np.float32)
    for start in range(0, channels, _MAX_CHANNELS_PER_CALL):
        stop = min(start + _MAX_CHANNELS_PER_CALL, channels)
        part = cv2.resize(np.ascontiguousarray(x[..., start:stop]), (width, height), interpolation=interpolation)
        out[..., start:stop] = part.reshape(height, width, stop - start)
    return out
