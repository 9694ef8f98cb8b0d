"""TorchScript twin of ``bgmatte.priors.plate_match.match_gain``: the plate's per-channel exposure match.

Same steps as the core: a <=256 px area-averaged copy, dark pixels dropped, the log-ratio
frame/plate iterated to its robust background inliers, gain = exp(mean log-ratio) or 1 when too
little background is left. The core's constants are passed in by the exported graph.
"""
from __future__ import annotations

import torch
from torch import Tensor

from bgmatte.export.resample_twin import resize_area, working_shape
from bgmatte.export.statistics_twin import median_rows


def background_inliers(log_ratio: Tensor, sigmas: float, min_tolerance: float, iterations: int) -> Tensor:
    """Twin of ``plate_match._background_inliers``: (N, 3) log-ratios -> (N,) bool inliers."""
    inliers = torch.ones(log_ratio.shape[0], dtype=torch.bool, device=log_ratio.device)
    for _ in range(iterations):
        if int(inliers.sum()) < 3:
            break
        centre = median_rows(log_ratio[inliers])
        deviation = torch.abs(log_ratio - centre)
        sigma = 1.4826 * median_rows(deviation[inliers])
        tolerance = torch.clamp(sigmas * sigma, min=min_tolerance)
        updated = torch.all(deviation <= tolerance, dim=1)
        if torch.equal(updated, inliers):
            break
        inliers = updated
    return inliers


def match_gain(frame: Tensor, plate: Tensor, working_size: int, dark_fraction: float, sigmas: float,
               min_tolerance: float, iterations: int) -> tuple[Tensor, Tensor]:
    """Twin of ``plate_match.match_gain`` without a validity map.

    Args:
        frame: (1, 3, H, W) float32 working linear frame.
        plate: (1, 3, H, W) float32 working linear clean plate.
        working_size, dark_fraction, sigmas, min_tolerance, iterations: the core's
            GAIN_WORKING_SIZE, GAIN_DARK_FRACTION, GAIN_INLIER_SIGMAS, GAIN_MIN_TOLERANCE,
            GAIN_MAX_ITERATIONS.

    Returns:
        (matched_plate, gain): (1, 3, H, W) ``plate * gain`` and the (3,) float32 gain.
    """
    height, width = working_shape(frame.shape[2], frame.shape[3], working_size)
    frame_small = resize_area(frame, height, width)[0].reshape(3, -1).t()
    plate_small = resize_area(plate, height, width)[0].reshape(3, -1).t()
    floor = torch.clamp(dark_fraction * median_rows(plate_small), min=1e-6)
    usable = torch.all(plate_small > floor, dim=1) & torch.all(frame_small > floor, dim=1)
    log_ratio = torch.log(frame_small[usable]) - torch.log(plate_small[usable])
    inliers = background_inliers(log_ratio, sigmas, min_tolerance, iterations)
    gain = torch.ones(3, dtype=frame.dtype, device=frame.device)
    if float(inliers.sum()) >= max(50.0, 0.05 * plate_small.shape[0]):
        gain = torch.exp(log_ratio[inliers].mean(dim=0))
    return plate * gain.view(1, 3, 1, 1), gain
