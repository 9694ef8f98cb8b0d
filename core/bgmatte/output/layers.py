"""Optional output layers: ``shadow.Y`` (plate-relative darkening) and ``fg.RGB`` (straight colour)."""
from __future__ import annotations

import cv2
import numpy as np
import torch

from bgmatte.color.encoding import luminance
from bgmatte.output.foreground import above_noise, background_weight

# The shadow layer is blurred this much per 2048 px of the longest side (at least 1 px).
SHADOW_BLUR_PER_2K = 1.0
# straight_foreground: P / alpha from this alpha up, the network's colour below STRAIGHT_FROM.
STRAIGHT_FROM = 0.05
STRAIGHT_FULL = 0.1


def shadow_layer(frame: np.ndarray, plate: np.ndarray, alpha: np.ndarray, noise_floor: np.ndarray) -> np.ndarray:
    """How much the subject darkens the plate outside itself: ``1 - lum(I) / lum(B)`` in [0, 1].

    Only where alpha fades to 0 and the darkening is above the noise floor (3 sigma of the
    luminance, ramping to 6 sigma), lightly blurred. A comp keeps the contact shadow with
    ``fg + (1 - alpha) * new_bg * (1 - shadow)``; over the plate,
    ``P + (1 - alpha) * B * (1 - shadow)`` reproduces the input in shadows (neutral darkening).

    Args:
        frame: (H, W, 3) float32 working linear frame I.
        plate: (H, W, 3) float32 working linear plate B, gain-matched and registered.
        alpha: (H, W) float32 alpha in [0, 1].
        noise_floor: (3,) per-channel noise sigma of I - B (``estimate_noise_floor``).

    Returns:
        (H, W) float32 shadow amount in [0, 1] (0 = no darkening).
    """
    plate_luma = luminance(plate)
    darkening = plate_luma - luminance(frame)
    luma_sigma = luminance(np.asarray(noise_floor, dtype=np.float32).reshape(1, 1, 3))
    shadow = np.zeros_like(darkening)
    np.divide(darkening, plate_luma, out=shadow, where=plate_luma > 1e-6)
    np.clip(shadow, 0.0, 1.0, out=shadow)
    shadow *= above_noise(torch.from_numpy(darkening), torch.from_numpy(luma_sigma)).numpy()
    shadow *= background_weight(torch.from_numpy(np.asarray(alpha, np.float32))).numpy()
    sigma = max(1.0, SHADOW_BLUR_PER_2K * max(alpha.shape) / 2048)
    return cv2.GaussianBlur(shadow, (0, 0), sigma)


def straight_foreground(premult: np.ndarray, alpha: np.ndarray, fg_net: np.ndarray) -> np.ndarray:
    """Straight (unpremultiplied) foreground colour, defined everywhere for the ``fg`` layer.

    ``P / alpha`` where alpha is large enough for the division to be stable (from 0.1 up),
    the network's foreground below 0.05, and a linear blend between the two.

    Args:
        premult: (H, W, 3) float32 premultiplied working linear foreground.
        alpha: (H, W) float32 alpha in [0, 1].
        fg_net: (H, W, 3) float32 straight working linear foreground from the network.

    Returns:
        A new (H, W, 3) float32 straight working linear foreground, finite everywhere.
    """
    weight = np.clip((alpha - STRAIGHT_FROM) * (1.0 / (STRAIGHT_FULL - STRAIGHT_FROM)), 0.0, 1.0)
    straight = premult / np.maximum(alpha, STRAIGHT_FROM)[..., None]
    straight -= fg_net
    straight *= weight[..., None]
    straight += fg_net
    return straight.astype(np.float32, copy=False)
