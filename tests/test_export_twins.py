"""Specification of the export's TorchScript twins: each agrees with the core function it stands for.

The exported graph cannot call NumPy or OpenCV, so the core's priors, refinement and output steps
have torch twins in bgmatte.export; here each twin and the core function get the same real data
(the sample shot) and must agree to float32 rounding, and each twin compiles with torch.jit.script.
"""
from __future__ import annotations

import inspect
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from bgmatte.color.encoding import decode_from_network, encode_for_network
from bgmatte import filters
from bgmatte.export import components_twin, foreground_twin, refine_twin, resample_twin, segmentation_twin
from bgmatte.export.graph import trace_guided_coefficients
from bgmatte.model import create_model
from bgmatte.output import foreground
from bgmatte.pipeline import run_generator
from bgmatte.priors import gain_match, resample, segmentation
from bgmatte.refine import uncertain
from conftest import TEST_MODEL, read_exr

SHOT = Path(__file__).resolve().parents[1] / "samples" / "shot"
TWINS = (components_twin, filters, foreground_twin, refine_twin, resample_twin, segmentation_twin)


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


def encoded(frame: np.ndarray, plate: np.ndarray, longest: int) -> tuple[np.ndarray, np.ndarray]:
    size = resample.working_shape(frame.shape[0], frame.shape[1], longest)
    return (encode_for_network(resample.resize_area(frame, size)),
            encode_for_network(resample.resize_area(plate, size)))


SEGMENTATION_CONSTANTS = (segmentation.DIFFERENCE_BLUR_FRACTION, segmentation.SPECK_AREA_FRACTION,
                          segmentation.HOLE_AREA_FRACTION, segmentation.ERODE_FRACTION, segmentation.DILATE_FRACTION,
                          segmentation.BLUR_SIGMA_FRACTION)


@pytest.mark.parametrize("module", TWINS, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_every_twin_function_compiles_with_torchscript(module):
    functions = [f for _, f in inspect.getmembers(module, inspect.isfunction) if f.__module__ == module.__name__]
    assert functions
    for function in functions:
        torch.jit.script(function)


@pytest.mark.parametrize(("height", "width", "longest"), [(288, 512, 128), (240, 320, 128), (37, 53, 20),
                                                          (1080, 1920, 512), (300, 400, 3), (64, 48, 512)])
def test_working_shape_twin_rounds_like_the_core(height, width, longest):
    assert resample_twin.working_shape(height, width, longest) == resample.working_shape(height, width, longest)


@pytest.mark.parametrize(("size", "target"), [((288, 512), (72, 128)), ((240, 320), (96, 128)), ((37, 53), (10, 17)),
                                              ((64, 64), (32, 32)), ((50, 70), (50, 70))])
def test_resize_area_twin_averages_pixel_areas_like_opencv(size, target):
    image = np.random.default_rng(0).normal(0.5, 2.0, size + (3,)).astype(np.float32)
    got = hwc(resample_twin.resize_area(nchw(image), *target))
    np.testing.assert_allclose(got, resample.resize_area(image, target), rtol=0, atol=2e-6)


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


@pytest.mark.parametrize("density", [0.05, 0.3, 0.5, 0.7])
def test_connected_component_twins_remove_specks_and_fill_holes_like_the_core(density):
    mask = np.random.default_rng(4).random((60, 80)) < density
    assert np.array_equal(components_twin.remove_specks(torch.from_numpy(mask), 5.0).numpy(),
                          segmentation._remove_specks(mask, 5.0))
    assert np.array_equal(components_twin.fill_holes(torch.from_numpy(mask), 40.0).numpy(),
                          segmentation._fill_holes(mask, 40.0))


def test_process_mask_twin_erodes_dilates_and_blurs_like_the_core():
    mask = np.zeros((72, 128), np.float32)
    cv2.circle(mask, (64, 40), 22, 1.0, -1)
    mask[5:7, 10:60] = 1.0
    got = segmentation_twin.process_mask(nchw(mask), segmentation.ERODE_FRACTION, segmentation.DILATE_FRACTION,
                                         segmentation.BLUR_SIGMA_FRACTION)[0, 0].numpy()
    np.testing.assert_allclose(got, segmentation.process_mask(mask), rtol=0, atol=1e-6)


@pytest.mark.parametrize("longest", [128, 288])
def test_soft_segmentation_twin_gives_the_core_prior_on_the_sample_shot(shot, longest):
    frame, _, matched, _ = shot
    frame_enc, plate_enc = encoded(frame, matched, longest)
    got = segmentation_twin.soft_segmentation(nchw(frame_enc), nchw(plate_enc), *SEGMENTATION_CONSTANTS)[0, 0]
    expected = segmentation.soft_segmentation(frame_enc, plate_enc)
    assert expected.max() > 0.9  # the subject is found
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-5)


def test_refine_twin_gives_the_core_full_resolution_alpha(shot):
    frame, _, matched, _ = shot
    frame_enc, plate_enc = encoded(frame, matched, 128)
    seg = segmentation.soft_segmentation(frame_enc, plate_enc)
    grey = np.repeat(frame_enc.mean(axis=2, keepdims=True), 4, axis=2)
    alpha_low, fg_enc = run_generator(create_model(TEST_MODEL, device="cpu"), frame_enc, plate_enc, seg, grey)
    alpha_low = np.clip(seg * 0.9 + alpha_low * 0.1, 0, 1).astype(np.float32)  # an alpha with a real edge band
    fg_low = decode_from_network(fg_enc)
    expected = uncertain.refine_alpha(alpha_low, frame, matched, fg_low)
    guide, level = refine_twin.refine_guide(nchw(frame), nchw(matched), *alpha_low.shape, uncertain.MIN_LEVEL)
    a, b = trace_guided_coefficients()(guide, nchw(alpha_low).double())
    got = refine_twin.refine_alpha(nchw(alpha_low), nchw(frame), nchw(matched), nchw(fg_low), level, a, b,
                                   uncertain.BAND_LOW, uncertain.BAND_HIGH, uncertain.BAND_DILATION,
                                   uncertain.CONTRAST_SCALE, uncertain.PROJECTION_EPS)[0, 0].numpy()
    assert np.abs(expected - cv2.resize(alpha_low, frame.shape[1::-1])).max() > 0.05  # the band was refined
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5)


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
