"""The shot's exposure normalisation: one scalar per frame that brings its light to the level the network knows.

Scene-linear footage has no fixed scale: an unnormalised render or a raw camera can put the
background at 300 where a graded plate puts it at 0.2, and 0.001x footage is just as valid. The
network's encoding (ACEScct) is log above 0.0078125 but linear in its toe, and the generator was
trained on plates at a typical level, so without normalisation the same shot at another exposure
gives another matte. Every frame is therefore scaled by ``k = EXPOSURE_REFERENCE / level`` before
any of the frame's maths (gain match, encoding, priors, motion cues, refinement, foreground), and
the outputs in light units (premultiplied RGB, the fg layer, the noise floor) are divided by k
afterwards; alpha and the shadow layer are ratios and stay as they are. A global exposure change
of the whole shot (frame, plate and neighbours together) then changes only the outputs' scale.

``level`` is measured on the clean plate alone (never the frame, so the subject's coverage or
colour cannot move it): the median of the positive luminances of a <= 256 px area-downsampled
copy, where the plate is valid, raised to at least ``EXPOSURE_FLOOR_FRACTION`` of its 99th
percentile so that a mostly black plate with a few lit areas is not blown up by its noise. Both
statistics scale exactly with exposure. A plate with no positive luminance at all keeps k = 1.

One torch implementation (TorchScript-compatible: constants are default arguments) serves the
core and the exported graph.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from bgmatte.color.encoding import luminance
from bgmatte.filters import quantile
from bgmatte.priors.resample import as_nchw, downsample_area, resample, working_shape

EXPOSURE_REFERENCE = 0.14
"""The plate level (median luminance) that the network sees: the typical level of its training plates."""
EXPOSURE_WORKING_SIZE = 256
"""The plate is measured on a copy this small (longest side)."""
EXPOSURE_FLOOR_QUANTILE = 0.9
EXPOSURE_FLOOR_FRACTION = 0.01
"""The level is at least this fraction of the plate's ``EXPOSURE_FLOOR_QUANTILE`` luminance."""
EXPOSURE_VALID_COVER = 0.999
"""A downsampled plate sample counts where ``plate_valid`` covers it at least this much."""
EXPOSURE_MAX_SCALE = 1e30
"""k stays within [1 / this, this] (float32 holds the product of any half-float value and k)."""


def plate_level(plate: Tensor, usable: Tensor, floor_quantile: float = EXPOSURE_FLOOR_QUANTILE,
                floor_fraction: float = EXPOSURE_FLOOR_FRACTION) -> float:
    """The exposure level of a downsampled plate: max(median, fraction * p99) of its positive luminances.

    Args:
        plate: (1, 3, h, w) working-linear plate (a <= ``EXPOSURE_WORKING_SIZE`` px copy).
        usable: (1, 1, h, w) weights: a sample counts where it is > 0.
        floor_quantile, floor_fraction: the module's constants (arguments because TorchScript cannot
            read module globals; callers leave them).

    Returns:
        The level (> 0), or 0.0 when no usable sample has a positive, finite luminance.
    """
    grey = luminance(plate.to(torch.float64)).reshape(-1)
    keep = (usable.reshape(-1) > 0) & (grey > 0.0) & torch.isfinite(grey)
    values = grey[keep]
    if values.numel() == 0:
        return 0.0
    median = float(quantile(values, 0.5))
    floor = float(quantile(values, floor_quantile)) * floor_fraction
    return max(median, floor)


def scale_for_level(level: float, reference: float = EXPOSURE_REFERENCE,
                    max_scale: float = EXPOSURE_MAX_SCALE) -> float:
    """k = reference / level, or 1.0 when the level is unusable (0, not finite, or k out of bounds)."""
    if not level > 0.0 or level == float("inf"):  # not math.isinf: older libtorch scripts it to an int
        return 1.0
    k = reference / level
    if not (1.0 / max_scale <= k <= max_scale):
        return 1.0
    return k


def exposure_scale(plate: np.ndarray, plate_valid: np.ndarray | None = None) -> float:
    """The exposure normalisation k of one frame, from its clean plate alone (NumPy entry point of
    `plate_exposure`).

    Args:
        plate: (H, W, 3) working-linear clean plate (raw: before the gain match).
        plate_valid: (H, W) [0, 1] map of where the plate can be trusted, or None (everywhere).

    Returns:
        k > 0: multiply the frame, plate and neighbours by it before the frame's maths, divide the
        outputs in light units by it afterwards.
    """
    return plate_exposure(as_nchw(plate), None if plate_valid is None else as_nchw(plate_valid))


def plate_exposure(plate: Tensor, plate_valid: Tensor | None = None) -> float:
    """``exposure_scale`` of a (1, 3, H, W) plate and optional (1, 1, H, W) valid map, on their device."""
    size = working_shape(plate.shape[2], plate.shape[3], EXPOSURE_WORKING_SIZE)
    small = downsample_area(plate.float(), *size)
    usable = torch.ones_like(small[:, 0:1])
    if plate_valid is not None:
        usable = (resample(plate_valid.float(), *size) >= EXPOSURE_VALID_COVER).float()
    return scale_for_level(plate_level(small, usable))
