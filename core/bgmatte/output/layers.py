"""Optional output layers: ``shadow.Y`` (plate-relative darkening) and ``fg.RGB`` (straight colour).

``shadow_tensor`` and ``straight_tensor`` run on NCHW tensors on the model's device; ``shadow_layer``
and ``straight_foreground`` are their NumPy entry points for channels-last arrays.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from bgmatte.color.encoding import luminance
from bgmatte.filters import gaussian_kernel, reflect101_index
from bgmatte.output.foreground import above_noise, background_weight
from bgmatte.priors.resample import as_nchw

# The shadow layer is blurred this much per 2048 px of the longest side (at least 1 px).
SHADOW_BLUR_PER_2K = 1.0
# straight_foreground: P / alpha from this alpha up, the network's colour below STRAIGHT_FROM.
STRAIGHT_FROM = 0.05
STRAIGHT_FULL = 0.1


def shadow_tensor(frame: Tensor, plate: Tensor, alpha: Tensor, noise_floor: Tensor) -> Tensor:
    """How much the subject darkens the plate outside itself: ``1 - lum(I) / lum(B)`` in [0, 1].

    Only where alpha fades to 0 and the darkening is above the noise floor (3 sigma of the
    luminance, ramping to 6 sigma), lightly blurred (``blur_plane``, OpenCV's Gaussian). A comp
    keeps the contact shadow with ``fg + (1 - alpha) * new_bg * (1 - shadow)``; over the plate,
    ``P + (1 - alpha) * B * (1 - shadow)`` reproduces the input in shadows (neutral darkening).

    Args:
        frame: (1, 3, H, W) float32 working linear frame I.
        plate: (1, 3, H, W) float32 working linear plate B, gain-matched and registered.
        alpha: (1, 1, H, W) float32 alpha in [0, 1].
        noise_floor: (3,) per-channel noise sigma of I - B (``background_noise``).

    Returns:
        (1, 1, H, W) float32 shadow amount in [0, 1] (0 = no darkening).
    """
    plate_luma = luminance(plate)
    darkening = plate_luma - luminance(frame)
    luma_sigma = luminance(noise_floor.to(device=frame.device, dtype=torch.float32).view(1, 3, 1, 1))
    lit = plate_luma > 1e-6
    shadow = torch.where(lit, darkening / torch.where(lit, plate_luma, torch.ones_like(plate_luma)),
                         torch.zeros_like(darkening)).clamp(0.0, 1.0)
    shadow = shadow * above_noise(darkening, luma_sigma) * background_weight(alpha.float())
    sigma = max(1.0, SHADOW_BLUR_PER_2K * max(alpha.shape[2], alpha.shape[3]) / 2048)
    return blur_plane(shadow, sigma)


def blur_plane(x: Tensor, sigma: float) -> Tensor:
    """``filters.gaussian_blur`` (OpenCV's Gaussian: its kernel and reflect-101 border) of a full-resolution
    (1, 1, H, W) plane, applied as shifted multiply-adds instead of a grouped convolution: the same
    sums (bit-identical on the tests' planes), about 8x faster on the CPU for one large plane
    (26 ms against 210 ms at 1920x1080 on one thread; OpenCV's own takes 6 ms)."""
    kernel = gaussian_kernel(sigma, x.device).tolist()
    pad = (len(kernel) - 1) // 2
    height, width = x.shape[2], x.shape[3]
    rows = x.index_select(2, reflect101_index(height, pad, x.device))
    blurred = rows[:, :, 0:height] * kernel[0]
    for tap in range(1, len(kernel)):
        blurred.add_(rows[:, :, tap:tap + height], alpha=kernel[tap])
    cols = blurred.index_select(3, reflect101_index(width, pad, x.device))
    blurred = cols[:, :, :, 0:width] * kernel[0]
    for tap in range(1, len(kernel)):
        blurred.add_(cols[:, :, :, tap:tap + width], alpha=kernel[tap])
    return blurred


def shadow_layer(frame: np.ndarray, plate: np.ndarray, alpha: np.ndarray, noise_floor: np.ndarray) -> np.ndarray:
    """``shadow_tensor`` of (H, W, 3) frame and plate, (H, W) alpha and (3,) noise: (H, W) float32 in [0, 1]."""
    return shadow_tensor(as_nchw(frame), as_nchw(plate), as_nchw(alpha),
                         torch.from_numpy(np.asarray(noise_floor, np.float32)))[0, 0].numpy()


def straight_tensor(premult: Tensor, alpha: Tensor, fg_net: Tensor) -> Tensor:
    """Straight (unpremultiplied) foreground colour, defined everywhere for the ``fg`` layer.

    ``P / alpha`` where alpha is large enough for the division to be stable (from 0.1 up),
    the network's foreground below 0.05, and a linear blend between the two.

    Args:
        premult: (1, 3, H, W) float32 premultiplied working linear foreground.
        alpha: (1, 1, H, W) float32 alpha in [0, 1].
        fg_net: (1, 3, H, W) float32 straight working linear foreground from the network.

    Returns:
        A new (1, 3, H, W) float32 straight working linear foreground, finite everywhere, with
        premult's memory layout.
    """
    weight = ((alpha - STRAIGHT_FROM) * (1.0 / (STRAIGHT_FULL - STRAIGHT_FROM))).clamp(0.0, 1.0)
    straight = premult / alpha.clamp(min=STRAIGHT_FROM)
    straight -= fg_net
    straight *= weight
    straight += fg_net
    return straight


def straight_foreground(premult: np.ndarray, alpha: np.ndarray, fg_net: np.ndarray) -> np.ndarray:
    """``straight_tensor`` of (H, W, 3) premult and fg_net and (H, W) alpha: a new (H, W, 3) float32 array."""
    straight = straight_tensor(torch.from_numpy(np.asarray(premult, np.float32)).permute(2, 0, 1)[None],
                               as_nchw(alpha), as_nchw(fg_net))
    return np.ascontiguousarray(straight[0].permute(1, 2, 0).numpy())
