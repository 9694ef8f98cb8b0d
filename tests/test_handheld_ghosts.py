"""A hand-held take and its plate pass: after --align homography no ghost of the plate's edges in RGB.

The plate is a photograph; the take sees it through a camera moved by a degree and a few pixels,
with a subject in front and sensor noise on both. Registration leaves sub-pixel residue along the
plate's edges; premultiplied RGB must not carry it (over a new background it shows as faint lines).
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from bgmatte.api import Matter
from bgmatte.data.plates import PHOTO_SOURCES, load_photo
from bgmatte.priors import feather
from bgmatte.pipeline import FrameInputs, matte_arrays
from bgmatte.priors import align_homography


def hand_held_pair(photo: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame, plate, true alpha): the photo seen from two camera positions, a soft blob in the take."""
    rng = np.random.default_rng(seed)
    world = load_photo(next(source for source in PHOTO_SOURCES if source.path.endswith(photo)))
    height, width = world.shape[:2]
    out_h, out_w = int(height * 0.8) // 2 * 2, int(width * 0.8) // 2 * 2
    base = np.float64([[1, 0, -0.1 * width], [0, 1, -0.1 * height], [0, 0, 1]])
    angle = np.deg2rad(rng.uniform(-1.5, 1.5))
    move = np.float64([[np.cos(angle), -np.sin(angle), rng.uniform(-12, 12)],
                       [np.sin(angle), np.cos(angle), rng.uniform(-8, 8)],
                       [rng.uniform(-2e-5, 2e-5), rng.uniform(-2e-5, 2e-5), 1]])

    def view(matrix: np.ndarray) -> np.ndarray:
        return cv2.warpPerspective(world, matrix, (out_w, out_h), flags=cv2.INTER_CUBIC,
                                   borderMode=cv2.BORDER_REFLECT)

    y, x = np.mgrid[0:out_h, 0:out_w]
    blob = ((x - out_w * 0.5) / (out_w * 0.18)) ** 2 + ((y - out_h * 0.6) / (out_h * 0.35)) ** 2
    alpha = cv2.GaussianBlur(np.clip((1.0 - blob) * 8.0, 0, 1).astype(np.float32), (0, 0), 1.5)
    texture = cv2.GaussianBlur(rng.random((out_h, out_w)).astype(np.float32), (0, 0), 3)
    fg = np.float32([0.6, 0.35, 0.25]) * (0.6 + 0.8 * texture[..., None])
    frame = alpha[..., None] * fg + (1 - alpha[..., None]) * view(move @ base)

    def noisy(image: np.ndarray) -> np.ndarray:
        return (image + rng.normal(0, 0.003, image.shape) * np.sqrt(np.maximum(image, 0) + 0.02)).astype(np.float32)

    return noisy(frame), noisy(view(base) * 1.02), alpha


@pytest.fixture(scope="module")
def shipped() -> Matter:
    return Matter("default", device="cpu")


@pytest.mark.parametrize("photo, seed", [("china.jpg", 1), ("coffee.png", 3), ("brick.png", 4)])
def test_the_plate_leaves_no_ghost_in_premultiplied_rgb_after_registration(shipped, photo, seed):
    frame, plate, alpha_true = hand_held_pair(photo, seed)
    warped, valid, _ = align_homography(frame, plate)

    result = matte_arrays(shipped.model, FrameInputs(frame=frame, plate=warped, plate_valid=feather(valid)))

    background = cv2.erode((alpha_true < 1e-3).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    residue = np.abs(frame - warped).max(axis=2)[background & valid]
    level = 0.02 * float(frame.mean())
    assert (residue > level).mean() > 0.05  # the registration leaves visible residue to sort out
    ghost = (np.abs(result.premult).max(axis=2) > level)[background]
    assert ghost.mean() < 0.01, f"{100 * ghost.mean():.2f} % of background pixels carry colour"
