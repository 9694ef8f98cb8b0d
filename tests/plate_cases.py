"""Synthetic take/plate pairs with a known exposure drift and subject, for the plate-matching priors.

Kinds of plate: ``textured`` (blobs at several scales, edges, a gradient), ``flat`` (a painted wall),
``night`` (black with sparse bright points), ``bright`` (textured, 80x over 1). Kinds of subject:
``textured`` (its own colours), ``platecoloured`` (a shifted copy of the plate, within 10 %),
``flat`` (one colour). The subject covers a chosen share of the frame, casts a soft contact
shadow on the plate, and both images carry signal-dependent sensor noise.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SIZE = 256
PLATES = ("textured", "flat", "night", "bright")
SUBJECTS = ("textured", "platecoloured", "flat")
COVERAGES = (0.1, 0.3, 0.5, 0.7, 0.9, 0.95)


@dataclass
class PlateCase:
    """A take, its plate pass and the truth: ``frame`` background == ``plate * drift`` outside the shadow."""

    frame: np.ndarray
    plate: np.ndarray
    drift: np.ndarray
    alpha: np.ndarray
    shadow: np.ndarray


def _smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    noise = cv2.GaussianBlur(rng.random((size, size)).astype(np.float32), (0, 0), sigma)
    return (noise - noise.mean()) / (noise.std() + 1e-6)


def textured_plate(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """(size, size, 3) linear plate: blobs at three scales, a dozen rectangles and a ramp."""
    plate = np.zeros((size, size, 3), np.float32)
    for sigma, weight in ((1.5, 0.25), (4.0, 0.35), (12.0, 0.4)):
        layer = cv2.GaussianBlur(rng.random((size, size, 3)).astype(np.float32), (0, 0), sigma)
        plate += weight * (layer - layer.mean()) / (layer.std() + 1e-6)
    for _ in range(12):
        x, y = rng.integers(0, size - 40, 2)
        plate[y:y + rng.integers(8, 40), x:x + rng.integers(8, 40)] += rng.uniform(-1, 1, 3).astype(np.float32)
    plate += np.linspace(0, 1, size, dtype=np.float32)[None, :, None]
    return np.exp2(plate * 1.2 - 2.0).astype(np.float32)


def flat_plate(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """A painted wall: one colour with 5 % of smooth shading."""
    base = rng.uniform(0.1, 0.5, 3).astype(np.float32)
    return (base * np.exp(0.05 * _smooth_noise(rng, size, 20))[..., None]).astype(np.float32)


def night_plate(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """A night sky: near black, with a bright point on one pixel in 150."""
    plate = np.full((size, size, 3), 0.0005, np.float32)
    count = size * size // 150
    ys, xs = rng.integers(0, size, count), rng.integers(0, size, count)
    plate[ys, xs] = rng.uniform(0.2, 3.0, (count, 1)) * rng.uniform(0.7, 1.0, (count, 3))
    return cv2.GaussianBlur(plate, (0, 0), 0.7)


def subject_alpha(rng: np.random.Generator, coverage: float, size: int = SIZE) -> np.ndarray:
    """A soft-edged irregular blob covering ``coverage`` of the frame."""
    y, x = np.mgrid[0:size, 0:size] / size
    cx, cy = rng.uniform(0.3, 0.7, 2)
    field = _smooth_noise(rng, size, size / 8) * 0.5 - ((x - cx) ** 2 + (y - cy) ** 2) * 6
    threshold = np.quantile(field, 1 - coverage)
    return np.clip((field - threshold) * 20 + 0.5, 0, 1).astype(np.float32)


def make_case(seed: int, plate_kind: str, coverage: float, subject_kind: str, noise: float = 0.004,
              drift_sigma: float = 0.04) -> PlateCase:
    """One take/plate pair with a per-channel drift of ``drift_sigma`` (log) and the given subject."""
    rng = np.random.default_rng(seed)
    makers = {"textured": textured_plate, "bright": textured_plate, "flat": flat_plate, "night": night_plate}
    world = makers[plate_kind](rng)
    alpha = subject_alpha(rng, coverage)
    if subject_kind == "textured":
        fg = textured_plate(rng) * rng.uniform(0.3, 1.5, 3).astype(np.float32)
    elif subject_kind == "platecoloured":
        fg = np.roll(world, (17, 31), (0, 1)) * rng.uniform(0.9, 1.1, 3).astype(np.float32)
    else:
        fg = np.broadcast_to(rng.uniform(0.05, 0.8, 3).astype(np.float32), world.shape).copy()
        fg *= (1 + 0.02 * _smooth_noise(rng, SIZE, 3))[..., None]
    frame = alpha[..., None] * fg + (1 - alpha[..., None]) * world
    shifted = cv2.warpAffine(alpha, np.float32([[1, 0, 6], [0, 1, 4]]), (SIZE, SIZE))
    shadow = cv2.GaussianBlur(shifted, (0, 0), 3) * (1 - alpha)
    frame *= (1 - 0.3 * shadow)[..., None]
    drift = np.exp(rng.normal(0, drift_sigma, 3)).astype(np.float32)
    plate = world / drift
    frame = frame + rng.normal(0, noise * np.sqrt(np.maximum(frame, 0) + 0.01), frame.shape)
    plate = plate + rng.normal(0, noise * np.sqrt(np.maximum(plate, 0) + 0.01), plate.shape)
    scale = 80.0 if plate_kind == "bright" else 1.0
    return PlateCase(frame=(frame * scale).astype(np.float32), plate=(plate * scale).astype(np.float32),
                     drift=drift, alpha=alpha, shadow=shadow)


def all_cases() -> list[tuple[str, str, float, int]]:
    """(plate kind, subject kind, coverage, seed) of every combination, each with its own seed."""
    combos = [(p, s, c) for p in PLATES for s in SUBJECTS for c in COVERAGES]
    return [(p, s, c, seed) for seed, (p, s, c) in enumerate(combos, start=1)]
