"""The torch filters (OpenCV's and NumPy's definitions) and the traced guided filter of the export.

``bgmatte.filters`` must match OpenCV and NumPy exactly and compile with torch.jit.script.
"""
from __future__ import annotations

import inspect

import cv2
import numpy as np
import pytest
import torch

from bgmatte import filters
from bgmatte.export.graph import trace_guided_coefficients
from bgmatte.refine import uncertain

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def nchw(x: np.ndarray) -> torch.Tensor:
    """(H, W[, C]) NumPy -> (1, C, H, W) torch."""
    x = x[..., None] if x.ndim == 2 else x
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


def hwc(x: torch.Tensor) -> np.ndarray:
    """(1, C, H, W) torch -> (H, W, C) NumPy."""
    return x[0].permute(1, 2, 0).numpy()


def test_every_filter_compiles_with_torchscript():
    functions = [f for _, f in inspect.getmembers(filters, inspect.isfunction) if f.__module__ == filters.__name__]
    assert functions
    for function in functions:
        torch.jit.script(function)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.3, 5.0, 12.0])
def test_gaussian_blur_matches_opencv_with_reflect101_border(sigma):
    image = np.random.default_rng(1).random((37, 53, 3)).astype(np.float32)
    got = hwc(filters.gaussian_blur(nchw(image), sigma))
    np.testing.assert_allclose(got, cv2.GaussianBlur(image, (0, 0), sigma), rtol=0, atol=1e-6)


@pytest.mark.parametrize("radius", [0, 1, 2, 5, 11, 30])
def test_disc_morphology_match_opencv_ellipses(radius):
    mask = (np.random.default_rng(2).random((41, 57)) > 0.6).astype(np.float32)
    element = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    assert np.array_equal(filters.dilate_disc(nchw(mask), radius)[0, 0].numpy(), cv2.dilate(mask, element))
    assert np.array_equal(filters.erode_disc(nchw(mask), radius)[0, 0].numpy(), cv2.erode(mask, element))


def test_statistics_match_numpy_median_and_python_round():
    rng = np.random.default_rng(3)
    for count in (1, 2, 1000, 1001):
        values = rng.normal(size=(count, 3)).astype(np.float32)
        assert np.array_equal(filters.median_rows(torch.from_numpy(values)).numpy(), np.median(values, axis=0))
    assert [filters.round_even(v) for v in (0.5, 1.5, 2.5, -0.5, 2.6)] == [round(v) for v in
                                                                                   (0.5, 1.5, 2.5, -0.5, 2.6)]


@pytest.mark.parametrize("count", [1, 2, 7, 1000, 1001])
def test_quantile_by_selection_equals_torch_quantile(count):
    rng = np.random.default_rng(count)
    spread = torch.from_numpy(rng.normal(size=count))
    repeats = torch.from_numpy(rng.integers(0, 4, size=count).astype(np.float64))  # ties at every rank
    for values in (spread, repeats):
        for q in (0.0, 0.01, 0.25, 0.5, 0.73, 0.999, 1.0):
            assert float(filters.quantile(values, q)) == pytest.approx(float(torch.quantile(values, q)), rel=1e-14,
                                                                       abs=1e-15)


def test_the_traced_guided_filter_works_at_sizes_other_than_its_trace():
    from bgmatte.refine.guided_filter import guided_filter_coefficients

    traced = trace_guided_coefficients()
    for size in ((9, 31), (72, 128)):
        guide = torch.rand(1, 3, *size, dtype=torch.float64)
        src = torch.rand(1, 1, *size, dtype=torch.float64)
        for got, expected in zip(traced(guide, src), guided_filter_coefficients(
                guide, src, uncertain.GUIDE_RADIUS, uncertain.GUIDE_EPS)):
            assert torch.equal(got, expected)
