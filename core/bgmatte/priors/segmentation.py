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

from bgmatte.color.encoding import luminance

logger = logging.getLogger(__name__)

# process_mask: amounts like the paper's at a 512 px image (it erodes 10-20 times with a 3x3
# kernel, dilates further, then blurs with a 31 px Gaussian), as fractions of the longest side
# so that the prior looks the same at any working size.
ERODE_FRACTION = 10 / 512
DILATE_FRACTION = 15 / 512
BLUR_SIGMA_FRACTION = 5 / 512

# soft_segmentation: difference smoothing, threshold and clean-up.
DIFFERENCE_BLUR_FRACTION = 1 / 256
THRESHOLD_MADS = 5.0
# Smallest encoded difference that counts as subject (about 1/6 stop in the ACEScct log range),
# for clean plates where the robust noise estimate is close to 0.
MIN_THRESHOLD = 0.01
# The noise is measured separately in this many plate brightness bins (each this large at least).
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

    The per-channel difference has its median removed (a leftover exposure drift is an offset in
    the log encoding), is blurred against noise and thresholded at median + 5 MAD of its
    magnitude (sigma-clipped, so a large subject does not inflate it), measured separately for
    dark and bright plate areas (the encoding amplifies noise in the dark). Specks are removed
    and enclosed holes up to 2% of the image are filled before :func:`process_mask`.

    Args:
        frame_enc: (h, w, 3) float32 frame in the network encoding, at working size.
        plate_enc: (h, w, 3) float32 gain-matched plate in the network encoding, same size.

    Returns:
        (h, w) float32 soft segmentation in [0, 1].
    """
    if frame_enc.shape != plate_enc.shape or frame_enc.ndim != 3:
        raise ValueError(f"frame and plate must both be (h, w, 3), got {frame_enc.shape} and {plate_enc.shape}")
    height, width = frame_enc.shape[:2]
    difference = frame_enc - plate_enc
    difference -= np.median(difference.reshape(-1, difference.shape[2]), axis=0)
    difference = cv2.GaussianBlur(difference, (0, 0), max(1.0, DIFFERENCE_BLUR_FRACTION * max(height, width)))
    magnitude = np.sqrt(np.sum(difference * difference, axis=2))
    threshold = _noise_thresholds(magnitude, luminance(plate_enc))
    subject = magnitude > threshold
    subject = _remove_specks(subject, SPECK_AREA_FRACTION * height * width)
    subject = _fill_holes(subject, HOLE_AREA_FRACTION * height * width)
    logger.debug("soft segmentation: median threshold %.4f, %.1f%% subject",
                 float(np.median(threshold)), 100.0 * subject.mean())
    return process_mask(subject.astype(np.float32))


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


def _noise_thresholds(magnitude: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Per-pixel threshold of the difference magnitude, from the noise at the plate's brightness.

    The encoding's toe amplifies the noise of dark plate areas many times over, so one global
    threshold either floods the shadows or misses the subject over bright areas. The plate's
    grey levels are split into equal-count bins, each gets its own robust threshold, and the
    thresholds are interpolated by level.
    """
    edges = np.quantile(level, np.linspace(0.0, 1.0, LEVEL_BINS + 1))
    centres, thresholds = [], []
    for low, high in zip(edges[:-1], edges[1:]):
        in_bin = magnitude[(level >= low) & (level <= high)]
        if in_bin.size >= MIN_BIN_PIXELS:
            centres.append(0.5 * (low + high))
            thresholds.append(_noise_threshold(in_bin))
    if not centres:
        return np.full(magnitude.shape, _noise_threshold(magnitude), dtype=np.float32)
    return np.interp(level, centres, thresholds).astype(np.float32)


def _noise_threshold(magnitude: np.ndarray) -> float:
    """median + k * 1.4826 MAD of the background's difference magnitude, sigma-clipped 3 times."""
    values = magnitude.reshape(-1)
    threshold = np.inf
    for _ in range(3):
        background = values[values <= threshold]
        centre = float(np.median(background))
        spread = 1.4826 * float(np.median(np.abs(background - centre)))
        threshold = max(centre + THRESHOLD_MADS * spread, MIN_THRESHOLD)
    return threshold


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
