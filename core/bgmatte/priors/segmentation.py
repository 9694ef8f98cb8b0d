"""The soft segmentation prior S: a rough soft blob over the subject that the network refines.

The paper runs DeepLabv3+ and then erodes, dilates and blurs its mask so that the network learns
to treat S as a hint, not as the answer. No such weights can be shipped here, so the automatic
prior comes from the frame/plate difference, processed the same way. A user roto goes through
:func:`process_mask` alone; keyer-style garbage and core mattes override the prior and the alpha.
"""
from __future__ import annotations

import logging

import cv2
import numpy as np
import torch
from torch import Tensor


logger = logging.getLogger(__name__)

# process_mask: amounts like the paper's at a 512 px image (it erodes 10-20 times with a 3x3
# kernel, dilates further, then blurs with a 31 px Gaussian), as fractions of the longest side
# so that the prior looks the same at any working size.
ERODE_FRACTION = 10 / 512
DILATE_FRACTION = 15 / 512
BLUR_SIGMA_FRACTION = 5 / 512

# soft_segmentation: difference smoothing, threshold and clean-up.
DIFFERENCE_BLUR_FRACTION = 1 / 256
# A pixel is subject where the smoothed difference exceeds this many sigmas of the noise that the
# plate itself carries (frame and plate come from the same camera) ...
THRESHOLD_SIGMAS = 8.0
# ... combined with what a misregistration of this many working-size pixels leaves at plate edges.
REGISTRATION_PX = 1.0
# Smallest encoded difference that counts as subject (about 1/6 stop in the ACEScct log range),
# for clean plates where the noise estimate is close to 0.
MIN_THRESHOLD = 0.01
# The plate's noise is measured separately in this many brightness bins (each this large at least).
LEVEL_BINS = 8
MIN_BIN_PIXELS = 64
SPECK_AREA_FRACTION = 0.0005
HOLE_AREA_FRACTION = 0.02


def process_mask(mask: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Erode, dilate more than eroded, then blur a mask, as the paper does to its DeepLab prior.

    Thin parts and specks vanish, the body grows a little and its border turns soft, so the
    result is a rough blob: a hint for the network, never a finished matte. Kernel sizes are
    fractions of the longest side, so 256 px and 1024 px give the same shape at their scale.

    Args:
        mask: (h, w) float32 or bool mask of the subject, values in [0, 1].
        scale: Multiplier on every kernel size (1 = the paper's amounts; training varies it).

    Returns:
        A new (h, w) float32 soft mask in [0, 1].
    """
    if mask.ndim != 2:
        raise ValueError(f"expected an (h, w) mask, got shape {mask.shape}")
    longest = max(mask.shape) * scale
    result = np.clip(mask.astype(np.float32), 0.0, 1.0)
    erode_radius = round(ERODE_FRACTION * longest)
    # The net growth sets the blob's size: round it on its own so sizes agree across resolutions.
    dilate_radius = erode_radius + round((DILATE_FRACTION - ERODE_FRACTION) * longest)
    if erode_radius > 0:
        result = cv2.erode(result, _disc(erode_radius))
    if dilate_radius > 0:
        result = cv2.dilate(result, _disc(dilate_radius))
    sigma = BLUR_SIGMA_FRACTION * longest
    if sigma >= 0.3:
        result = cv2.GaussianBlur(result, (0, 0), sigma)
    return np.clip(result, 0.0, 1.0, out=result)


def soft_segmentation(frame_enc: np.ndarray, plate_enc: np.ndarray) -> np.ndarray:
    """The automatic prior: where the frame differs from its plate, processed like the paper's S.

    The per-channel difference is blurred against noise and thresholded where it exceeds what the
    plate's own noise (measured per brightness level, since the encoding amplifies the noise of dark
    areas) and a slight misregistration at the plate's edges can explain (:func:`noise_threshold`).
    Nothing is measured on the frame, so the subject may cover any share of it, from none to all.
    Specks are removed and enclosed holes up to 2% of the image are filled before
    :func:`process_mask`.

    Args:
        frame_enc: (h, w, 3) float32 frame in the network encoding, at working size.
        plate_enc: (h, w, 3) float32 gain-matched plate in the network encoding, same size.

    Returns:
        (h, w) float32 soft segmentation in [0, 1].
    """
    if frame_enc.shape != plate_enc.shape or frame_enc.ndim != 3:
        raise ValueError(f"frame and plate must both be (h, w, 3), got {frame_enc.shape} and {plate_enc.shape}")
    height, width = frame_enc.shape[:2]
    sigma = max(1.0, DIFFERENCE_BLUR_FRACTION * max(height, width))
    difference = cv2.GaussianBlur(frame_enc - plate_enc, (0, 0), sigma)
    magnitude = np.sqrt(np.sum(difference * difference, axis=2))
    plate = torch.from_numpy(np.ascontiguousarray(plate_enc.transpose(2, 0, 1)))[None]
    threshold = noise_threshold(plate, _blur_kernel(sigma)).numpy()
    subject = magnitude > threshold
    subject = _remove_specks(subject, SPECK_AREA_FRACTION * height * width)
    subject = _fill_holes(subject, HOLE_AREA_FRACTION * height * width)
    logger.debug("soft segmentation: median threshold %.4f, %.1f%% subject",
                 float(np.median(threshold)), 100.0 * subject.mean())
    return process_mask(subject.astype(np.float32))


def noise_threshold(plate_enc: Tensor, blur_kernel: Tensor, bins: int = LEVEL_BINS,
                    min_bin_pixels: int = MIN_BIN_PIXELS, sigmas: float = THRESHOLD_SIGMAS,
                    registration_px: float = REGISTRATION_PX, minimum: float = MIN_THRESHOLD) -> Tensor:
    """Per-pixel threshold of the blurred difference magnitude, from the plate alone.

    The plate's noise per channel is estimated with Immerkaer's mask (a second difference that
    ignores smooth shading and ramps), robustly (median), in ``bins`` equal-count brightness bins;
    the blurred difference of two such images has ``2 sigma^2 sum(k^2)`` variance per channel. A
    misregistration of ``registration_px`` adds that many pixels of the plate's gradient. One
    TorchScript-compatible function for the core and the exported graph.

    Args:
        plate_enc: (1, 3, h, w) gain-matched plate in the network encoding.
        blur_kernel: (k,) the separable Gaussian that smooths the difference.
        bins, min_bin_pixels, sigmas, registration_px, minimum: the module's constants
            (arguments because TorchScript cannot read module globals; callers leave them).

    Returns:
        (h, w) float32 thresholds.
    """
    plate = plate_enc.to(torch.float64)
    height, width = plate.shape[2], plate.shape[3]
    level = (plate[0, 0] * 0.2722287168 + plate[0, 1] * 0.6740817658 + plate[0, 2] * 0.0536895174)
    noise_power = torch.zeros_like(level)
    if height >= 3 and width >= 3:
        mask = torch.tensor([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]], dtype=torch.float64,
                            device=plate.device)
        response = torch.abs(torch.nn.functional.conv2d(plate, mask.view(1, 1, 3, 3).repeat(3, 1, 1, 1), groups=3))[0]
        inner = level[1:-1, 1:-1].reshape(-1)
        response = response.reshape(3, -1)
        edges = torch.quantile(inner, torch.linspace(0.0, 1.0, bins + 1, dtype=torch.float64, device=plate.device))
        centres: list[float] = []
        powers: list[float] = []
        for index in range(bins):
            in_bin = (inner >= edges[index]) & (inner <= edges[index + 1])
            if int(in_bin.sum()) >= min_bin_pixels:
                sigma = 1.4826 / 6.0 * torch.median(response[:, in_bin], dim=1)[0]
                centres.append(0.5 * float(edges[index] + edges[index + 1]))
                powers.append(float((sigma * sigma).sum()))
        if len(centres) > 0:
            noise_power = _interpolate(level, centres, powers)
    kernel = blur_kernel.to(torch.float64)
    noise_power = noise_power * 2.0 * float((kernel * kernel).sum()) ** 2
    rows = torch.cat([plate[:, :, 1:2] - plate[:, :, 0:1], 0.5 * (plate[:, :, 2:] - plate[:, :, :-2]),
                      plate[:, :, -1:] - plate[:, :, -2:-1]], dim=2) if height >= 2 else torch.zeros_like(plate)
    cols = torch.cat([plate[:, :, :, 1:2] - plate[:, :, :, 0:1], 0.5 * (plate[:, :, :, 2:] - plate[:, :, :, :-2]),
                      plate[:, :, :, -1:] - plate[:, :, :, -2:-1]], dim=3) if width >= 2 else torch.zeros_like(plate)
    edge_power = (registration_px ** 2) * (rows * rows + cols * cols).sum(dim=1)[0]
    threshold = torch.sqrt(sigmas * sigmas * noise_power + edge_power)
    return threshold.clamp(min=minimum).to(torch.float32)


def _interpolate(x: Tensor, xp: list[float], fp: list[float]) -> Tensor:
    """``np.interp`` for increasing ``xp``: piecewise linear, constant beyond the ends."""
    points = torch.tensor(xp, dtype=x.dtype, device=x.device)
    values = torch.tensor(fp, dtype=x.dtype, device=x.device)
    if points.numel() == 1:
        return torch.full_like(x, fp[0])
    upper = torch.bucketize(x.clamp(points[0], points[-1]), points).clamp(1, points.numel() - 1)
    lower = upper - 1
    span = (points[upper] - points[lower]).clamp(min=1e-12)
    t = ((x - points[lower]) / span).clamp(0.0, 1.0)
    return values[lower] + t * (values[upper] - values[lower])


def _blur_kernel(sigma: float) -> Tensor:
    """OpenCV's 1-D Gaussian for ``cv2.GaussianBlur(x, (0, 0), sigma)`` on float images."""
    return torch.from_numpy(cv2.getGaussianKernel(int(round(sigma * 8.0 + 1.0)) | 1, sigma).reshape(-1))


def combine_mattes(
    seg: np.ndarray, garbage: np.ndarray | None = None, core: np.ndarray | None = None
) -> np.ndarray:
    """The prior with keyer-style overrides: ``garbage`` forces it to 0, ``core`` to 1.

    Args:
        seg: (h, w) float32 soft segmentation in [0, 1]; left untouched.
        garbage: Optional (h, w) [0, 1] matte of what is surely background.
        core: Optional (h, w) [0, 1] matte of what is surely subject.

    Returns:
        A new (h, w) float32 prior (see :func:`apply_overrides` for the rule).
    """
    return apply_overrides(seg.astype(np.float32, copy=True), garbage, core)


def apply_overrides(
    alpha: np.ndarray, garbage: np.ndarray | None = None, core: np.ndarray | None = None
) -> np.ndarray:
    """Force a matte to 1 inside ``core`` and then to 0 inside ``garbage``, softly, in place.

    ``m = m + (1 - m) * core`` then ``m = m * (1 - garbage)``: soft override edges blend, and
    where both overlap the garbage matte wins (a garbage matte is drawn to remove things).
    In place because the final alpha is full resolution (4K and beyond).

    Args:
        alpha: (H, W) float32 matte in [0, 1], modified in place.
        garbage: Optional (H, W) [0, 1] matte of what is surely background.
        core: Optional (H, W) [0, 1] matte of what is surely subject.

    Returns:
        ``alpha`` itself.
    """
    for name, override in (("core", core), ("garbage", garbage)):
        if override is not None and override.shape != alpha.shape:
            raise ValueError(f"{name} matte is {override.shape}, the matte it overrides is {alpha.shape}")
    if core is not None:
        alpha += (1.0 - alpha) * np.clip(core, 0.0, 1.0)
    if garbage is not None:
        alpha *= 1.0 - np.clip(garbage, 0.0, 1.0)
    return alpha


def _disc(radius: int) -> np.ndarray:
    """A (2r+1)-pixel elliptical structuring element."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _remove_specks(subject: np.ndarray, min_area: float) -> np.ndarray:
    """Drop connected subject regions smaller than ``min_area`` pixels."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(subject.astype(np.uint8), connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    return keep[labels] if count > 1 else subject


def _fill_holes(subject: np.ndarray, max_area: float) -> np.ndarray:
    """Mark as subject the background regions that the subject encloses, up to ``max_area`` pixels.

    Larger enclosed regions are kept as background: they are usually the plate seen through
    (between an arm and the body), not a part of the subject that matches the plate.
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~subject).astype(np.uint8), connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    fill = stats[:, cv2.CC_STAT_AREA] <= max_area
    fill[0] = False
    fill[border] = False
    return subject | fill[labels] if count > 1 else subject
