"""Procedural noise and colour fields shared by element and plate generators.

Everything is drawn from a caller's ``numpy.random.Generator`` so a bank is a pure function of its
seed. Colours are scene-linear ACEScg reflectances/radiances, float32.
"""
from __future__ import annotations

import cv2
import numpy as np


def fractal_noise(rng: np.random.Generator, shape: tuple[int, int], octaves: int = 5, base: int = 4,
                  persistence: float = 0.55) -> np.ndarray:
    """Smooth multi-octave value noise, normalised to [0, 1].

    Args:
        rng: Random source.
        shape: (H, W) of the result.
        octaves: Number of octaves, each twice the frequency of the previous one.
        base: Grid cells across the first octave (lower = larger blobs).
        persistence: Amplitude ratio between consecutive octaves.

    Returns:
        (H, W) float32 in [0, 1].
    """
    height, width = shape
    total = np.zeros(shape, np.float32)
    amplitude = 1.0
    for octave in range(octaves):
        cells = base * 2**octave
        grid = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
        total += amplitude * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
        amplitude *= persistence
    total -= total.min()
    return total / max(float(total.max()), 1e-6)


def random_colour(rng: np.random.Generator, saturation: float | None = None) -> np.ndarray:
    """A random linear colour (3,) from hue/saturation/value, values roughly in [0.003, 0.9]."""
    hue = rng.uniform(0.0, 1.0)
    sat = rng.uniform(0.0, 1.0) ** 0.7 if saturation is None else saturation
    value = rng.uniform(0.05, 1.0)
    hsv = np.array([[[hue * 180.0, sat * 255.0, value * 255.0]]], np.float32)
    rgb = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0
    return np.maximum(rgb, 0.06) ** 2.2


def colour_field(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A textured colour image: one or two base colours mixed by noise, stripes or a gradient.

    Returns:
        (H, W, 3) float32 linear colour.
    """
    height, width = shape
    first, second = random_colour(rng), random_colour(rng)
    if rng.uniform() < 0.35:
        second = first * rng.uniform(0.4, 1.6, 3).astype(np.float32)
    style = rng.integers(0, 4)
    if style == 0:
        mix = fractal_noise(rng, shape, octaves=int(rng.integers(3, 7)), base=int(rng.integers(2, 12)))
    elif style == 1:
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(4.0, 60.0)
        phase = (xx * np.cos(angle) + yy * np.sin(angle)) / period
        mix = 0.5 + 0.5 * np.sin(2 * np.pi * phase + 3.0 * fractal_noise(rng, shape, 3, 3))
    elif style == 2:
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        angle = rng.uniform(0, 2 * np.pi)
        ramp = xx * np.cos(angle) + yy * np.sin(angle)
        mix = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    else:
        mix = np.full(shape, rng.uniform(0, 1), np.float32)
    mix = np.clip(mix, 0.0, 1.0)[..., None]
    grain = 1.0 + rng.uniform(0.0, 0.35) * (fractal_noise(rng, shape, 3, int(rng.integers(16, 64))) - 0.5)
    return ((first * (1 - mix) + second * mix) * grain[..., None]).astype(np.float32)


def smoothstep(x: np.ndarray) -> np.ndarray:
    """Cubic Hermite step of ``x`` clipped to [0, 1]: soft edges with zero slope at both ends."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)
