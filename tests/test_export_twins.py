"""The torch filters (OpenCV's and NumPy's definitions) and the output step's remaining TorchScript twin.

``bgmatte.filters`` must match OpenCV and NumPy exactly and compile with torch.jit.script; the
output step (noise floor, premultiplied foreground) still has a twin in bgmatte.export, which must
agree with the core on the sample shot to float32 rounding.
"""
from __future__ import annotations

import inspect
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from bgmatte import filters
from bgmatte.export import foreground_twin
from bgmatte.export.graph import trace_guided_coefficients
from bgmatte.output import foreground
from bgmatte.priors import gain_match
from bgmatte.refine import uncertain
from conftest import read_exr

SHOT = Path(__file__).resolve().parents[1] / "samples" / "shot"
TWINS = (filters, foreground_twin)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def nchw(x: np.ndarray) -> torch.Tensor:
    """(H, W[, C]) NumPy -> (1, C, H, W) torch."""
    x = x[..., None] if x.ndim == 2 else x
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


def hwc(x: torch.Tensor) -> np.ndarray:
    """(1, C, H, W) torch -> (H, W, C) NumPy."""
    return x[0].permute(1, 2, 0).numpy()


@pytest.fixture(scope="module")
def shot():
    """Frame 1001 of the sample shot and its clean plate, gain-matched by the core, working linear."""
    frame = read_exr(SHOT / "frame.1001.exr")[0][..., :3]
    plate = read_exr(SHOT / "clean.exr")[0][..., :3]
    matched, gain, _ = gain_match.match_gain(frame, plate)
    return frame, plate, matched, gain


@pytest.mark.parametrize("module", TWINS, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_every_twin_function_compiles_with_torchscript(module):
    functions = [f for _, f in inspect.getmembers(module, inspect.isfunction) if f.__module__ == module.__name__]
    assert functions
    for function in functions:
        torch.jit.script(function)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.3, 5.0, 12.0])
def test_gaussian_blur_twin_matches_opencv_with_reflect101_border(sigma):
    image = np.random.default_rng(1).random((37, 53, 3)).astype(np.float32)
    got = hwc(filters.gaussian_blur(nchw(image), sigma))
    np.testing.assert_allclose(got, cv2.GaussianBlur(image, (0, 0), sigma), rtol=0, atol=1e-6)


@pytest.mark.parametrize("radius", [0, 1, 2, 5, 11, 30])
def test_disc_morphology_twins_match_opencv_ellipses(radius):
    mask = (np.random.default_rng(2).random((41, 57)) > 0.6).astype(np.float32)
    element = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    assert np.array_equal(filters.dilate_disc(nchw(mask), radius)[0, 0].numpy(), cv2.dilate(mask, element))
    assert np.array_equal(filters.erode_disc(nchw(mask), radius)[0, 0].numpy(), cv2.erode(mask, element))


def test_statistics_twins_match_numpy_median_and_python_round():
    rng = np.random.default_rng(3)
    for count in (1, 2, 1000, 1001):
        values = rng.normal(size=(count, 3)).astype(np.float32)
        assert np.array_equal(filters.median_rows(torch.from_numpy(values)).numpy(), np.median(values, axis=0))
    assert [filters.round_even(v) for v in (0.5, 1.5, 2.5, -0.5, 2.6)] == [round(v) for v in
                                                                                   (0.5, 1.5, 2.5, -0.5, 2.6)]


def test_foreground_twins_give_the_core_noise_floor_and_premultiplied_colour(shot):
    frame, _, matched, _ = shot
    alpha = read_exr(SHOT / "alpha.1001.exr")[0][..., 0]
    noise = foreground.estimate_noise_floor(frame, matched, alpha)
    got_noise = foreground_twin.estimate_noise_floor(
        nchw(frame), nchw(matched), nchw(alpha), foreground.NOISE_ALPHA, foreground.NOISE_SAMPLES,
        foreground.NOISE_MIN_PIXELS, foreground.NOISE_CLIP_SIGMAS, foreground.NOISE_CLIP_ITERATIONS)
    assert noise.min() > 0
    np.testing.assert_allclose(got_noise.numpy(), noise, rtol=1e-6)
    premult = foreground.premultiplied_foreground(frame, matched, alpha, noise_floor=noise)
    got = foreground_twin.premultiplied_foreground(nchw(frame), nchw(matched), nchw(alpha), torch.from_numpy(noise),
                                                   foreground.BACKGROUND_ALPHA, foreground.NOISE_SIGMAS,
                                                   foreground.LIGHT_WORKING_SIZE, foreground.NOISE_ALPHA,
                                                   foreground.NOISE_SAMPLES, foreground.NOISE_MIN_PIXELS,
                                                   foreground.NOISE_CLIP_SIGMAS, foreground.NOISE_CLIP_ITERATIONS)
    np.testing.assert_allclose(hwc(got), premult, rtol=0, atol=1e-6)


def test_the_traced_guided_filter_works_at_sizes_other_than_its_trace():
    from bgmatte.refine.guided_filter import guided_filter_coefficients

    traced = trace_guided_coefficients()
    for size in ((9, 31), (72, 128)):
        guide = torch.rand(1, 3, *size, dtype=torch.float64)
        src = torch.rand(1, 1, *size, dtype=torch.float64)
        for got, expected in zip(traced(guide, src), guided_filter_coefficients(
                guide, src, uncertain.GUIDE_RADIUS, uncertain.GUIDE_EPS)):
            assert torch.equal(got, expected)
