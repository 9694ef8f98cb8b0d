"""TorchScript twin of bgmatte.priors.segmentation: ``process_mask`` and ``soft_segmentation``.

The automatic soft segmentation S (frame/plate difference, the core's own plate-noise threshold,
speck removal, hole filling, then the paper's erode / dilate / blur) in TorchScript. The core's
tuning constants are passed in by the exported graph, which copies them from the core at export
time; sizes, radii and thresholds are computed at run time from the frame.
"""
from __future__ import annotations

import torch
from torch import Tensor

from bgmatte.export.components_twin import fill_holes, remove_specks
from bgmatte.filters import dilate_disc, erode_disc, gaussian_blur, gaussian_kernel, round_even
from bgmatte.priors.segmentation import noise_threshold


def process_mask(mask: Tensor, erode_fraction: float, dilate_fraction: float, blur_fraction: float) -> Tensor:
    """Twin of ``segmentation.process_mask`` (scale 1): erode, dilate further, blur.

    Args:
        mask: (1, 1, h, w) float mask in [0, 1].
        erode_fraction, dilate_fraction, blur_fraction: the core's ERODE_FRACTION,
            DILATE_FRACTION and BLUR_SIGMA_FRACTION (of the longest side).

    Returns:
        (1, 1, h, w) float32 soft mask in [0, 1].
    """
    longest = float(max(mask.shape[2], mask.shape[3]))
    result = mask.float().clamp(0.0, 1.0)
    erode_radius = round_even(erode_fraction * longest)
    dilate_radius = erode_radius + round_even((dilate_fraction - erode_fraction) * longest)
    if erode_radius > 0:
        result = erode_disc(result, erode_radius)
    if dilate_radius > 0:
        result = dilate_disc(result, dilate_radius)
    sigma = blur_fraction * longest
    if sigma >= 0.3:
        result = gaussian_blur(result, sigma)
    return result.clamp(0.0, 1.0)


def soft_segmentation(frame_enc: Tensor, plate_enc: Tensor, difference_blur_fraction: float, speck_fraction: float,
                      hole_fraction: float, erode_fraction: float, dilate_fraction: float,
                      blur_fraction: float) -> Tensor:
    """Twin of ``segmentation.soft_segmentation``: the automatic prior S from frame and plate.

    Args:
        frame_enc: (1, 3, h, w) float32 frame in the network encoding, at working size.
        plate_enc: (1, 3, h, w) float32 gain-matched plate, same encoding and size.
        the rest: the core's constants of the same names (DIFFERENCE_BLUR_FRACTION,
            SPECK_AREA_FRACTION, HOLE_AREA_FRACTION, and those of ``process_mask``); the threshold
            is the core's own ``segmentation.noise_threshold``.

    Returns:
        (1, 1, h, w) float32 soft segmentation in [0, 1].
    """
    height, width = frame_enc.shape[2], frame_enc.shape[3]
    sigma = max(1.0, difference_blur_fraction * max(height, width))
    difference = gaussian_blur(frame_enc - plate_enc, sigma)
    magnitude = torch.sqrt((difference * difference).sum(dim=1))[0]
    subject = magnitude > noise_threshold(plate_enc, gaussian_kernel(sigma, plate_enc.device))
    subject = remove_specks(subject, speck_fraction * height * width)
    subject = fill_holes(subject, hole_fraction * height * width)
    return process_mask(subject.float()[None, None], erode_fraction, dilate_fraction, blur_fraction)
