"""Resampling, the paper's mask processing, keyer-style overrides and the motion cue."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from bgmatte.color.encoding import luminance
from bgmatte.priors.resample import downsample_area
from bgmatte.priors import (
    apply_overrides,
    combine_mattes,
    motion_grey,
    process_mask,
    resize_area,
    resize_linear,
    stack_motion_cues,
    working_shape,
)


@pytest.mark.parametrize(
    ("height", "width", "longest", "expected"),
    [
        (2160, 3840, 512, (288, 512)),
        (3840, 2160, 512, (512, 288)),
        (1080, 1920, 256, (144, 256)),
        (100, 200, 512, (100, 200)),  # never upsampled
        (1, 4000, 100, (1, 100)),  # at least one pixel
    ],
)
def test_working_shape_keeps_the_aspect_ratio_and_never_upsamples(height, width, longest, expected):
    assert working_shape(height, width, longest) == expected


@pytest.mark.parametrize(("height", "width", "longest", "expected"), [(5, 5, 2, (2, 2)), (7, 3, 2, (2, 1))])
def test_working_shape_rounds_halves_to_even_in_python_and_in_torchscript(height, width, longest, expected):
    assert working_shape(height, width, longest) == expected  # 2.5 -> 2 and 0.857.. -> 1
    assert torch.jit.script(working_shape)(height, width, longest) == expected


def test_downsample_area_weights_each_input_pixel_by_the_share_of_it_an_output_pixel_covers():
    row = torch.tensor([1.0, 2.0, 4.0, 8.0, 16.0]).view(1, 1, 1, 5)

    small = downsample_area(row, 1, 2)  # each output pixel covers 2.5 input pixels

    torch.testing.assert_close(small.view(-1), torch.tensor([(1 + 2 + 0.5 * 4) / 2.5, (0.5 * 4 + 8 + 16) / 2.5]))


@pytest.mark.parametrize(("size", "target"), [((288, 512), (72, 128)), ((240, 320), (96, 128)),
                                              ((37, 53), (10, 17)), ((64, 64), (32, 32)), ((50, 70), (50, 70)),
                                              ((858, 205), (322, 77))])
def test_downsample_area_is_opencvs_inter_area_in_the_core_and_in_torchscript(size, target):
    # 858 / 322 = 429 / 161: each output pixel gathers its own taps; the others share one period.
    image = np.random.default_rng(0).normal(0.5, 2.0, size + (3,)).astype(np.float32)
    expected = cv2.resize(image, target[::-1], interpolation=cv2.INTER_AREA)
    nchw = torch.from_numpy(image.transpose(2, 0, 1).copy())[None]
    scripted = torch.jit.script(downsample_area)(nchw, *target)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(resize_area(image, target), expected, rtol=0, atol=2e-6)
    np.testing.assert_allclose(scripted, expected, rtol=0, atol=2e-6)


def test_resize_area_averages_linear_light_over_each_pixel_footprint():
    image = np.zeros((8, 8, 3), dtype=np.float32)
    image[::2, ::2] = 4.0  # one bright pixel in each 2x2 block

    small = resize_area(image, (4, 4))

    np.testing.assert_allclose(small, 1.0)
    assert small.dtype == np.float32


@pytest.mark.parametrize("channels", [None, 1, 3, 4, 7])
def test_resize_keeps_the_channel_layout_for_any_channel_count(channels):
    shape = (40, 60) if channels is None else (40, 60, channels)
    image = np.random.default_rng(0).random(shape, dtype=np.float32)

    small = resize_area(image, (20, 30))
    large = resize_linear(small, (40, 60))

    assert small.shape == (20, 30, *shape[2:]) and large.shape == shape
    assert large.dtype == np.float32
    if channels == 7:  # each channel resized on its own
        np.testing.assert_allclose(small[..., 6], resize_area(image[..., 6], (20, 30)), atol=1e-6)


def test_resize_linear_keeps_pixel_centres_registered():
    ramp = np.tile(np.arange(8, dtype=np.float32), (4, 1))  # value = x

    large = resize_linear(ramp, (8, 16))

    # output pixel centre x' + 0.5 maps to input (x' + 0.5) / 2 - 0.5; away from the clamped borders
    np.testing.assert_allclose(large[0, 2:-2], (np.arange(2, 14) + 0.5) / 2 - 0.5, atol=1e-5)


def test_resize_area_refuses_to_upsample():
    with pytest.raises(ValueError, match="only downsamples"):
        resize_area(np.zeros((10, 10), np.float32), (20, 20))


def subject_mask(size: int) -> np.ndarray:
    """A body (disc) with an arm (bar) and a 1/128-wide wire, drawn at any size."""
    y, x = (np.mgrid[0:size, 0:size] + 0.5) / size
    body = (x - 0.45) ** 2 + (y - 0.55) ** 2 <= 0.22**2
    arm = (np.abs(y - 0.3) < 0.04) & (x > 0.45) & (x < 0.85)
    wire = (np.abs(x - 0.9) < 0.5 / 128) & (y > 0.1) & (y < 0.9)
    return (body | arm | wire).astype(np.float32)


def test_process_mask_gives_the_same_blob_at_any_working_size():
    small = process_mask(subject_mask(128))
    large = process_mask(subject_mask(256))

    large_down = resize_area(large, (128, 128))
    assert np.abs(small - large_down).mean() < 0.01
    assert ((small > 0.5) == (large_down > 0.5)).mean() > 0.99


def test_process_mask_turns_a_mask_into_a_rough_soft_blob():
    mask = subject_mask(256)

    prior = process_mask(mask)

    assert prior.dtype == np.float32 and prior.min() >= 0.0 and prior.max() <= 1.0
    assert prior[128:, 227:233].max() < 0.05  # the thin wire is eroded away
    assert prior[140, 115] == pytest.approx(1.0)  # the body stays solid
    assert (prior > 0.5).sum() > (mask > 0.5).sum()  # it dilates more than it erodes
    edge = (prior > 0.05) & (prior < 0.95)
    assert edge.sum() > 0.04 * mask.sum()  # a soft border, not a hard cut


def test_process_mask_scale_changes_the_kernel_sizes():
    y, x = np.mgrid[0:256, 0:256]
    mask = ((x - 128) ** 2 + (y - 128) ** 2 <= 60**2).astype(np.float32)
    assert (process_mask(mask, scale=2.0) > 0.5).sum() > (process_mask(mask, scale=1.0) > 0.5).sum()
    np.testing.assert_array_equal(process_mask(mask, scale=0.0), mask)


def test_combine_mattes_forces_the_prior_to_zero_in_garbage_and_one_in_core():
    seg = np.full((16, 16), 0.5, dtype=np.float32)
    garbage = np.zeros_like(seg)
    garbage[:, :4] = 1.0
    garbage[:, 4] = 0.5
    core = np.zeros_like(seg)
    core[:, 12:] = 1.0
    core[:2, :] = 1.0  # overlaps the garbage matte in the corner

    prior = combine_mattes(seg, garbage=garbage, core=core)

    assert np.all(prior[2:, :4] == 0.0) and np.all(prior[2:, 12:] == 1.0)
    np.testing.assert_allclose(prior[2:, 4], 0.25)  # soft override edges blend
    np.testing.assert_allclose(prior[2:, 5:12], 0.5)
    assert np.all(prior[:2, :4] == 0.0)  # garbage wins over core
    assert np.all(seg == 0.5)  # the input prior is left alone


def test_apply_overrides_edits_the_full_resolution_alpha_in_place():
    alpha = np.full((8, 8), 0.3, dtype=np.float32)
    core = np.zeros_like(alpha)
    core[4:] = 1.0

    result = apply_overrides(alpha, core=core)

    assert result is alpha
    assert np.all(alpha[4:] == 1.0) and np.all(alpha[:4] == np.float32(0.3))
    with pytest.raises(ValueError, match="garbage matte"):
        apply_overrides(alpha, garbage=np.zeros((4, 4), np.float32))


def test_motion_grey_is_the_luminance_weighted_encoded_frame():
    encoded = np.random.default_rng(1).random((12, 20, 3), dtype=np.float32)

    grey = motion_grey(encoded)

    assert grey.shape == (12, 20) and grey.dtype == np.float32
    np.testing.assert_allclose(grey, luminance(encoded), rtol=1e-6)
    flat = np.full((2, 2, 3), 0.4, dtype=np.float32)
    np.testing.assert_allclose(motion_grey(flat), 0.4, rtol=1e-6)  # weights sum to 1


def test_stack_motion_cues_keeps_the_order_t_minus_2k_to_t_plus_2k():
    greys = [np.full((6, 9), value, dtype=np.float32) for value in (0.1, 0.2, 0.3, 0.4)]

    cue = stack_motion_cues(greys)

    assert cue.shape == (6, 9, 4) and cue.dtype == np.float32
    np.testing.assert_allclose(cue[0, 0], [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="4 grey frames"):
        stack_motion_cues(greys[:3])
