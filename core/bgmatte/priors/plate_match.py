"""Register a hand-held clean plate to the frame with a homography (the exposure match is ``gain_match``).

A hand-held plate pass is misregistered against its take; it is warped onto the frame's pixel grid
from features on the background that the subject leaves visible, before anything compares them.
"""
from __future__ import annotations

import logging

import cv2
import numpy as np

from bgmatte.color.encoding import encode_for_network, luminance
from bgmatte.errors import FrameError
from bgmatte.priors.resample import resize_area, working_shape

logger = logging.getLogger(__name__)

# Registration: features are found on an encoded grey copy no larger than this.
ALIGN_WORKING_SIZE = 1024
ALIGN_MAX_FEATURES = 3000
ALIGN_RATIO_TEST = 0.8
ALIGN_MIN_MATCHES = 12
ALIGN_RANSAC_THRESHOLD_PX = 2.0
# --align homography: frames narrower than this have no features at AKAZE's scales.
ALIGN_MIN_SIDE = 32
# A registered plate may change area by at most this factor; beyond it the match is wrong.
ALIGN_MAX_AREA_CHANGE = 4.0


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


def feather(valid: np.ndarray, radius: int = 3) -> np.ndarray:
    """A soft (H, W) weight from a bool mask: 0 outside, ramping to 1 a few pixels inside the edge."""
    inside = cv2.erode(valid.astype(np.uint8), np.ones((2 * radius + 1,) * 2, np.uint8))
    return np.minimum(cv2.blur(inside.astype(np.float32), (2 * radius + 1,) * 2) * 2, 1) * valid


def register_plate(frame: np.ndarray, plate: np.ndarray, plate_cover: np.ndarray | None,
                   frame_data: np.ndarray | None, name: str, frame_name: str) -> tuple[np.ndarray, np.ndarray]:
    """``--align homography``: the plate registered to the frame and the soft map of where it can be trusted.

    Args:
        frame: (H, W, 3) working linear frame.
        plate: (H, W, 3) working linear plate on the frame's canvas.
        plate_cover: (H, W) float mask of where the plate file had data, or None (everywhere).
        frame_data: (H, W) float mask of where the frame file had data, or None (everywhere).
        name, frame_name: the plate's and the frame's files, for error messages.

    Returns:
        (registered plate, plate_valid): plate_valid is 0 where the warped plate has no data (or
        the frame none), feathered a few pixels inward.

    Raises:
        FrameError: the frame is too small to find features, or the plate will not register.
    """
    height, width = frame.shape[:2]
    if min(height, width) < ALIGN_MIN_SIDE:
        raise FrameError(frame_name, f"is {width}x{height}: --align homography needs at least {ALIGN_MIN_SIDE} pixels "
                               "a side to find features; use --align none")
    try:
        registered, valid, matrix = align_homography(frame, plate, name=name)
    except cv2.error as error:  # OpenCV refuses degenerate (e.g. one-pixel) feature images
        reason = str(error).strip().splitlines()[-1][:200]
        raise FrameError(name, f"cannot register the plate to the frame: OpenCV: {reason}") from None
    if plate_cover is not None:
        covered = cv2.warpPerspective(plate_cover, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        valid &= covered >= 0.999
    return registered, feather(valid) * (1.0 if frame_data is None else frame_data)


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
