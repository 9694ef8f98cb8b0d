"""TorchScript twin of bgmatte.priors.segmentation: ``process_mask`` and ``soft_segmentation``.

The automatic soft segmentation S (frame/plate difference, per-brightness noise thresholds,
speck removal, hole filling, then the paper's erode / dilate / blur) in TorchScript. The core's
tuning constants are passed in by the exported graph, which copies them from the core at export
time; sizes, radii and thresholds are computed at run time from the frame.
"""
from __future__ import annotations

import torch
from torch import Tensor

from bgmatte.color.encoding import luminance
from bgmatte.export.components_twin import fill_holes, remove_specks
from bgmatte.export.filter_twin import dilate_disc, erode_disc, gaussian_blur
from bgmatte.export.statistics_twin import interp, median_all, median_rows, quantiles, round_even


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


def noise_threshold(values: Tensor, mads: float, minimum: float) -> float:
    """Twin of ``segmentation._noise_threshold``: median + k MAD of (N,) magnitudes, clipped 3 times."""
    threshold = float("inf")
    for _ in range(3):
        background = values[values <= threshold]
        centre = float(median_all(background))
        spread = 1.4826 * float(median_all(torch.abs(background - centre)))
        threshold = max(centre + mads * spread, minimum)
    return threshold


def noise_thresholds(magnitude: Tensor, level: Tensor, bins: int, min_bin_pixels: int, mads: float,
                     minimum: float) -> Tensor:
    """Twin of ``segmentation._noise_thresholds``: (h, w) magnitude and plate level -> (h, w) float32."""
    edges = quantiles(level, bins + 1)
    edges32 = edges.float()
    centres: list[float] = []
    thresholds: list[float] = []
    for index in range(bins):
        in_bin = magnitude[(level >= edges32[index]) & (level <= edges32[index + 1])]
        if in_bin.numel() >= min_bin_pixels:
            centres.append(0.5 * (float(edges[index]) + float(edges[index + 1])))
            thresholds.append(noise_threshold(in_bin, mads, minimum))
    if len(centres) == 0:
        return torch.full_like(magnitude, noise_threshold(magnitude.reshape(-1), mads, minimum))
    return interp(level, centres, thresholds).float()


def soft_segmentation(frame_enc: Tensor, plate_enc: Tensor, difference_blur_fraction: float, bins: int,
                      min_bin_pixels: int, mads: float, minimum: float, speck_fraction: float,
                      hole_fraction: float, erode_fraction: float, dilate_fraction: float,
                      blur_fraction: float) -> Tensor:
    """Twin of ``segmentation.soft_segmentation``: the automatic prior S from frame and plate.

    Args:
        frame_enc: (1, 3, h, w) float32 frame in the network encoding, at working size.
        plate_enc: (1, 3, h, w) float32 gain-matched plate, same encoding and size.
        the rest: the core's constants of the same names (DIFFERENCE_BLUR_FRACTION, LEVEL_BINS,
            MIN_BIN_PIXELS, THRESHOLD_MADS, MIN_THRESHOLD, SPECK_AREA_FRACTION, HOLE_AREA_FRACTION,
            and those of ``process_mask``).

    Returns:
        (1, 1, h, w) float32 soft segmentation in [0, 1].
    """
    height, width = frame_enc.shape[2], frame_enc.shape[3]
    difference = frame_enc - plate_enc
    centre = median_rows(difference[0].reshape(3, -1).t())
    difference = difference - centre.view(1, 3, 1, 1)
    difference = gaussian_blur(difference, max(1.0, difference_blur_fraction * max(height, width)))
    magnitude = torch.sqrt((difference * difference).sum(dim=1))[0]
    level = luminance(plate_enc)[0, 0]
    threshold = noise_thresholds(magnitude, level, bins, min_bin_pixels, mads, minimum)
    subject = magnitude > threshold
    subject = remove_specks(subject, speck_fraction * height * width)
    subject = fill_holes(subject, hole_fraction * height * width)
    return process_mask(subject.float()[None, None], erode_fraction, dilate_fraction, blur_fraction)
