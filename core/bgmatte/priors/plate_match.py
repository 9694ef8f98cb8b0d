"""Match the clean plate to the frame: a global exposure gain, and a homography for hand-held shots.

Locked-off plates drift by a few percent in exposure between the take and the plate pass; a
hand-held plate is also misregistered. Both are fixed on the background that the subject leaves
visible, before anything compares frame and plate.
"""
from __future__ import annotations

import logging

import cv2
import numpy as np

from bgmatte.color.encoding import encode_for_network, luminance
from bgmatte.errors import FrameError
from bgmatte.priors.resample import resize_area, working_shape

logger = logging.getLogger(__name__)

# Gain match: work on a copy this small; it averages noise away and costs a few milliseconds.
GAIN_WORKING_SIZE = 256
# Pixels darker than this fraction of the plate's median (per channel) are noise, not signal.
GAIN_DARK_FRACTION = 0.02
# A pixel is background while all its channels' log-ratios lie within this many robust sigmas.
GAIN_INLIER_SIGMAS = 3.0
# ... but never tighter than this log-ratio, so clean synthetic data keeps its inliers.
GAIN_MIN_TOLERANCE = 0.002
GAIN_MAX_ITERATIONS = 10

# Registration: features are found on an encoded grey copy no larger than this.
ALIGN_WORKING_SIZE = 1024
ALIGN_MAX_FEATURES = 3000
ALIGN_RATIO_TEST = 0.8
ALIGN_MIN_MATCHES = 12
ALIGN_RANSAC_THRESHOLD_PX = 2.0
# A registered plate may change area by at most this factor; beyond it the match is wrong.
ALIGN_MAX_AREA_CHANGE = 4.0


def match_gain(frame: np.ndarray, plate: np.ndarray, valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Scale the plate per channel so that its exposure matches the frame's background.

    The gain is the mean log-ratio frame/plate over background pixels, found on a <=256 px
    area-averaged copy by iteratively dropping pixels whose ratio disagrees with the current
    gain (the subject, its shadows, flares). Very dark and non-positive pixels are ignored.
    With too little background left, the gain is 1 and a warning is logged.

    Args:
        frame: (H, W, 3) float32 working linear frame.
        plate: (H, W, 3) float32 working linear clean plate, registered to the frame.
        valid: Optional (H, W) bool or [0, 1] map of plate pixels that may be used
            (e.g. the ``valid`` output of :func:`align_homography`).

    Returns:
        (matched_plate, gain): a new (H, W, 3) float32 array ``plate * gain`` (the input plate
        is left untouched) and the (3,) float32 gain.
    """
    if frame.shape != plate.shape or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame and plate must both be (H, W, 3), got {frame.shape} and {plate.shape}")
    size = working_shape(frame.shape[0], frame.shape[1], GAIN_WORKING_SIZE)
    frame_small = resize_area(frame, size).reshape(-1, 3)
    plate_small = resize_area(plate, size).reshape(-1, 3)
    usable = np.ones(len(plate_small), dtype=bool)
    if valid is not None:
        usable &= resize_area(valid.astype(np.float32), size).reshape(-1) >= 0.999
    floor = np.maximum(GAIN_DARK_FRACTION * np.median(plate_small[usable], axis=0), 1e-6) if usable.any() else 1e-6
    usable &= np.all(plate_small > floor, axis=1) & np.all(frame_small > floor, axis=1)
    log_ratio = np.log(frame_small[usable]) - np.log(plate_small[usable])

    gain = np.ones(3, dtype=np.float32)
    inliers = _background_inliers(log_ratio)
    if inliers.sum() < max(50, 0.05 * len(plate_small)):
        logger.warning("plate gain match skipped: only %d background pixels to compare", int(inliers.sum()))
    else:
        gain = np.exp(log_ratio[inliers].mean(axis=0)).astype(np.float32)
        logger.debug("plate gain %s from %d background pixels", gain, int(inliers.sum()))
    return plate * gain, gain


def _background_inliers(log_ratio: np.ndarray) -> np.ndarray:
    """Rows of (N, 3) log-ratios that agree with the robust per-channel centre (iterated)."""
    inliers = np.ones(len(log_ratio), dtype=bool)
    for _ in range(GAIN_MAX_ITERATIONS):
        if inliers.sum() < 3:
            break
        centre = np.median(log_ratio[inliers], axis=0)
        deviation = np.abs(log_ratio - centre)
        sigma = 1.4826 * np.median(deviation[inliers], axis=0)
        tolerance = np.maximum(GAIN_INLIER_SIGMAS * sigma, GAIN_MIN_TOLERANCE)
        updated = np.all(deviation <= tolerance, axis=1)
        if np.array_equal(updated, inliers):
            break
        inliers = updated
    return inliers


def align_homography(
    frame: np.ndarray, plate: np.ndarray, name: str = "plate"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Register a hand-held plate to the frame with a homography from matched image features.

    AKAZE features on encoded grey copies (<=1024 px), a ratio test, then RANSAC
    (``cv2.findHomography``); the matrix is scaled back to full resolution and the plate is
    warped bilinearly in working linear. Pixels the plate does not cover are filled by edge
    replication and flagged in ``valid``.

    Args:
        frame: (H, W, 3) float32 working linear frame.
        plate: (H', W', 3) float32 working linear clean plate (any size; usually the frame's).
        name: Subject of the error message (the plate's file path).

    Returns:
        (warped_plate, valid, matrix): the (H, W, 3) float32 plate in the frame's pixel grid,
        an (H, W) bool map of pixels interpolated only from inside the plate, and the 3x3
        float64 matrix that maps plate pixel coordinates to frame pixel coordinates.

    Raises:
        FrameError: If too few features match or the homography is degenerate.
    """
    frame_grey, levels, frame_to_small = _feature_image(frame, levels=None)
    plate_grey, _, plate_to_small = _feature_image(plate, levels=levels)
    frame_points, frame_desc = _features(frame_grey)
    plate_points, plate_desc = _features(plate_grey)
    matches = _ratio_matches(plate_desc, frame_desc)
    if len(matches) < ALIGN_MIN_MATCHES:
        raise FrameError(name, f"cannot register the plate to the frame: {len(matches)} feature matches")
    source = np.float32([plate_points[m.queryIdx].pt for m in matches])
    target = np.float32([frame_points[m.trainIdx].pt for m in matches])
    small_matrix, inlier_flags = cv2.findHomography(source, target, cv2.RANSAC, ALIGN_RANSAC_THRESHOLD_PX)
    inlier_count = 0 if inlier_flags is None else int(inlier_flags.sum())
    if small_matrix is None or inlier_count < ALIGN_MIN_MATCHES:
        raise FrameError(name, f"cannot register the plate to the frame: {inlier_count} feature matches agree")
    matrix = np.linalg.inv(frame_to_small) @ small_matrix @ plate_to_small
    matrix /= matrix[2, 2]
    _check_homography(matrix, plate.shape[:2], name)
    logger.debug("plate registered with %d of %d feature matches", inlier_count, len(matches))

    height, width = frame.shape[:2]
    warped = cv2.warpPerspective(
        np.ascontiguousarray(plate, dtype=np.float32), matrix, (width, height),
        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE,
    )
    coverage = cv2.warpPerspective(
        np.full(plate.shape[:2], 255, dtype=np.uint8), matrix, (width, height),
        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )
    return warped, coverage == 255, matrix


def _feature_image(
    image: np.ndarray, levels: tuple[float, float] | None
) -> tuple[np.ndarray, tuple[float, float], np.ndarray]:
    """Downscale, take the grey, encode and quantise an image to 8-bit for feature detection.

    Returns the (h, w) uint8 image, the encoded grey levels mapped to 0 and 255 (``levels``
    when given, so that frame and plate quantise alike), and the 3x3 matrix from full-resolution
    to small pixel coordinates (pixel centres at +0.5, as cv2.resize samples them).
    """
    height, width = image.shape[:2]
    size = working_shape(height, width, ALIGN_WORKING_SIZE)
    grey = encode_for_network(luminance(resize_area(image, size)))
    levels = levels or (float(np.percentile(grey, 0.5)), float(np.percentile(grey, 99.5)))
    span = max(levels[1] - levels[0], 1e-6)
    pixels = np.clip((grey - levels[0]) * (255.0 / span), 0, 255).astype(np.uint8)
    scale_x, scale_y = size[1] / width, size[0] / height
    to_small = np.array(
        [[scale_x, 0.0, 0.5 * scale_x - 0.5], [0.0, scale_y, 0.5 * scale_y - 0.5], [0.0, 0.0, 1.0]]
    )
    return pixels, levels, to_small


def _features(grey: np.ndarray) -> tuple[list[cv2.KeyPoint], np.ndarray | None]:
    """The strongest AKAZE keypoints of an 8-bit grey image and their binary descriptors."""
    detector = cv2.AKAZE_create()
    points = sorted(detector.detect(grey, None), key=lambda point: point.response, reverse=True)
    return detector.compute(grey, points[:ALIGN_MAX_FEATURES])


def _ratio_matches(query: np.ndarray | None, train: np.ndarray | None) -> list[cv2.DMatch]:
    """Nearest-neighbour descriptor matches that pass Lowe's ratio test."""
    if query is None or train is None or len(query) < 2 or len(train) < 2:
        return []
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(query, train, k=2)
    return [p[0] for p in pairs if len(p) == 2 and p[0].distance < ALIGN_RATIO_TEST * p[1].distance]


def _check_homography(matrix: np.ndarray, plate_shape: tuple[int, int], name: str) -> None:
    """Raise FrameError unless the matrix maps the plate to a sane, unflipped quadrilateral."""
    height, width = plate_shape
    corners = np.array([[0, 0, 1], [width, 0, 1], [width, height, 1], [0, height, 1]], dtype=np.float64)
    mapped = corners @ matrix.T
    problem = None
    if not np.all(np.isfinite(matrix)) or np.any(mapped[:, 2] <= 1e-6):
        problem = "the homography is degenerate"
    else:
        quad = mapped[:, :2] / mapped[:, 2:]
        edges = np.roll(quad, -1, axis=0) - quad
        turns = edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1] - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
        area = 0.5 * abs(np.sum(quad[:, 0] * np.roll(quad[:, 1], -1) - np.roll(quad[:, 0], -1) * quad[:, 1]))
        area_change = area / float(width * height)
        if not (np.all(turns > 0) or np.all(turns < 0)):
            problem = "the homography folds the plate"
        elif not 1.0 / ALIGN_MAX_AREA_CHANGE <= area_change <= ALIGN_MAX_AREA_CHANGE:
            problem = f"the homography scales the plate by {area_change:.2f} in area"
    if problem:
        raise FrameError(name, f"cannot register the plate to the frame: {problem}")
