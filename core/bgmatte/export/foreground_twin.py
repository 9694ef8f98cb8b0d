"""TorchScript twin of bgmatte.output.foreground: ``estimate_noise_floor`` and ``premultiplied_foreground``.

The compositing-equation foreground P = I - (1 - alpha) B with the background residual sorted as
in the core (noise dropped, added light kept, darkening left to the shadow layer), for a plate
valid everywhere (the export has no plate registration). The core's constants are passed in by
the exported graph.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from bgmatte.priors.resample import downsample_area, working_shape
from bgmatte.output import foreground


def estimate_noise_floor(frame: Tensor, plate: Tensor, alpha: Tensor, background_alpha: float, samples: int,
                         min_pixels: int, clip_sigmas: float, clip_iterations: int) -> Tensor:
    """Twin of ``foreground.estimate_noise_floor`` without a validity map.

    Args:
        frame, plate: (1, 3, H, W) float32 working linear frame and gain-matched plate.
        alpha: (1, 1, H, W) alpha in [0, 1].
        background_alpha, samples, min_pixels, clip_sigmas, clip_iterations: the core's
            NOISE_ALPHA, NOISE_SAMPLES, NOISE_MIN_PIXELS, NOISE_CLIP_SIGMAS, NOISE_CLIP_ITERATIONS.

    Returns:
        (3,) float32 noise sigma of I - B per channel; zeros when there is no background.
    """
    step = max(1, int(math.ceil(math.sqrt(float(alpha.numel()) / samples))))
    background = alpha[0, 0, ::step, ::step] < background_alpha
    sigma = torch.zeros(3, dtype=frame.dtype, device=frame.device)
    if int(background.sum()) < min_pixels:
        return sigma
    difference = (frame[0, :, ::step, ::step] - plate[0, :, ::step, ::step]).permute(1, 2, 0)
    return foreground.noise_sigma(difference[background], min_pixels, clip_sigmas, clip_iterations)


def above_noise(excess: Tensor, sigma: Tensor, sigmas: float) -> Tensor:
    """Twin of ``foreground.above_noise``: 0 up to k sigma, ramping to 1 at 2k sigma."""
    threshold = sigmas * sigma
    return ((excess - threshold) / torch.clamp(threshold, min=1e-8)).clamp(0.0, 1.0)


def premultiplied_foreground(frame: Tensor, plate: Tensor, alpha: Tensor, noise_floor: Tensor,
                             background_alpha: float, sigmas: float, light_working_size: int, noise_alpha: float,
                             samples: int, min_pixels: int, clip_sigmas: float, clip_iterations: int) -> Tensor:
    """Twin of ``foreground.premultiplied_foreground`` with a plate valid everywhere.

    The added light over the background is the core's own ``foreground.additive_light`` of
    area-downsampled copies.

    Args:
        frame, plate: (1, 3, H, W) float32 working linear frame I and gain-matched plate B.
        alpha: (1, 1, H, W) alpha in [0, 1].
        noise_floor: (3,) per-channel noise sigma of I - B.
        background_alpha, sigmas, light_working_size: the core's BACKGROUND_ALPHA, NOISE_SIGMAS
            and LIGHT_WORKING_SIZE; the rest as in ``estimate_noise_floor``.

    Returns:
        (1, 3, H, W) float32 premultiplied working linear foreground.
    """
    height, width = alpha.shape[2], alpha.shape[3]
    small_height, small_width = working_shape(height, width, light_working_size)
    frame_small = downsample_area(frame, small_height, small_width)
    plate_small = downsample_area(plate, small_height, small_width)
    alpha_small = downsample_area(alpha, small_height, small_width)
    noise_small = estimate_noise_floor(frame_small, plate_small, alpha_small, noise_alpha, samples, min_pixels,
                                       clip_sigmas, clip_iterations)
    light = foreground.additive_light(frame_small, plate_small, alpha_small, noise_small, height, width)
    residual = frame - plate
    weight = torch.clamp(1.0 - alpha * (1.0 / background_alpha), 0.0, 1.0)
    kept = torch.min(residual * above_noise(residual, noise_floor.view(1, 3, 1, 1), sigmas), light)
    return alpha * plate + residual - (residual - kept) * weight
