"""TorchScript twin of ``bgmatte.refine.refine_alpha``: the full-resolution alpha from the network's.

The same maths as the core (band of uncertain alpha, colour guided filter on the plate difference,
projection onto the plate-to-foreground line, blended by contrast), computed on the whole frame at once
instead of in tiles: the Inference node hands the graph the whole frame anyway, and the core's
tiles are exact crops of the same full-resolution result. The guided filter's coefficients come
from the core's own torch code (``guided_filter_coefficients``, traced into the graph), so this
module takes them as inputs.
"""
from __future__ import annotations

import torch
from torch import Tensor

from bgmatte.export.resample_twin import resize_area
from bgmatte.filters import dilate_square, upsample_bilinear
from bgmatte.refine import noise_gate, uncertain


def _dot3(x: Tensor, y: Tensor) -> Tensor:
    """Per-pixel dot product over the channels of (1, 3, H, W) tensors, in the core's order."""
    return x[:, 0:1] * y[:, 0:1] + x[:, 1:2] * y[:, 1:2] + x[:, 2:3] * y[:, 2:3]


def uncertain_band(alpha_low: Tensor, low: float, high: float, dilation: int) -> Tensor:
    """Twin of ``refine.uncertain.uncertain_band``: (1, 1, h, w) -> (1, 1, h, w) float32 in {0, 1}."""
    band = ((alpha_low > low) & (alpha_low < high)).float()
    return dilate_square(band, dilation)


def refine_guide(frame: Tensor, plate: Tensor, height: int, width: int, min_level: float) -> tuple[Tensor, float]:
    """The guided filter's guide as the core builds it: the plate difference at the working size over
    the frame's mean level (``refine.uncertain.frame_level``, the core's own function).

    Args:
        frame: (1, 3, H, W) float32 working linear frame.
        plate: (1, 3, H, W) float32 working linear plate, gain-matched.
        height, width: the working size (the network alpha's).
        min_level: the core's MIN_LEVEL (floor of the level for a black frame).

    Returns:
        ((1, 3, h, w) float64 guide, the level as a float).
    """
    frame_low = resize_area(frame, height, width)
    level = uncertain.frame_level(frame_low, min_level)
    difference_low = frame_low - resize_area(plate, height, width)
    return difference_low.double() / level, level


def refine_alpha(alpha_low: Tensor, frame: Tensor, plate: Tensor, fg_low: Tensor, level: float, a: Tensor,
                 b: Tensor, band_low: float, band_high: float, band_dilation: int, contrast_scale: float,
                 projection_eps: float) -> Tensor:
    """Twin of ``refine.uncertain.refine_alpha`` on the whole frame.

    Args:
        alpha_low: (1, 1, h, w) network alpha in [0, 1].
        frame: (1, 3, H, W) float32 working linear frame.
        plate: (1, 3, H, W) float32 working linear plate, gain-matched.
        fg_low: (1, 3, h, w) working linear straight network foreground.
        level: the frame's mean level from ``refine_guide``.
        a, b: the guided filter's coefficients (1, 1, 3, h, w) and (1, 1, h, w), from
            ``guided_filter_coefficients(guide, alpha_low, GUIDE_RADIUS, GUIDE_EPS)`` in float64.
        band_low, band_high, band_dilation, contrast_scale, projection_eps: the core's BAND_LOW,
            BAND_HIGH, BAND_DILATION, CONTRAST_SCALE, PROJECTION_EPS.

    Returns:
        (1, 1, H, W) float32 alpha in [0, 1].
    """
    size = [frame.shape[2], frame.shape[3]]
    band = uncertain_band(alpha_low, band_low, band_high, band_dilation)
    low = torch.cat([band, fg_low, a[:, 0].float(), b.float()], dim=1)
    sampled = upsample_bilinear(low, size)
    weight, fg, coeff_a, coeff_b = sampled[:, 0:1], sampled[:, 1:4], sampled[:, 4:7], sampled[:, 7:8]
    upsampled = upsample_bilinear(alpha_low, size)
    difference = frame - plate
    guided = (_dot3(coeff_a, difference) / level + coeff_b).clamp(0.0, 1.0)
    spread = fg - plate
    spread2 = _dot3(spread, spread)
    projected = (_dot3(difference, spread) / (spread2 + (projection_eps * level) ** 2)).clamp(0.0, 1.0)
    confidence = spread2 / (spread2 + (contrast_scale * level) ** 2)
    estimate = confidence * projected + (1.0 - confidence) * guided
    return torch.where(weight > 0, upsampled + weight * (estimate - upsampled), upsampled)


def gate_small_alpha(alpha: Tensor, frame: Tensor, plate: Tensor, noise: Tensor, gate_alpha: float) -> Tensor:
    """Twin of ``noise_gate.gate_small_alpha`` (dense): (1, 1, H, W) alpha with its unsupported small values faded.

    Args:
        alpha: (1, 1, H, W) alpha; frame, plate: (1, 3, H, W) working linear; noise: (3,) sigma of I - B.
        gate_alpha: the core's GATE_ALPHA.
    """
    height, width = plate.shape[2], plate.shape[3]
    padded = torch.cat([plate[:, :, :, :1], plate, plate[:, :, :, -1:]], dim=3)
    padded = torch.cat([padded[:, :, :1], padded, padded[:, :, -1:]], dim=2)
    step = torch.zeros_like(plate)
    for dy in range(-1, 2):
        for dx in range(-1, 2):
            if dy != 0 or dx != 0:
                neighbour = padded[:, :, 1 + dy:1 + dy + height, 1 + dx:1 + dx + width]
                step = torch.max(step, torch.abs(neighbour - plate))
    strength = noise_gate.gate_strength(frame - plate, step, noise, 1)
    small = (alpha > 0.0) & (alpha < gate_alpha)
    return torch.where(small, alpha * strength.unsqueeze(1), alpha)
