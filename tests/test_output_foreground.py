"""The compositing-equation foreground and the shadow and straight-colour layers."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from bgmatte.output import estimate_noise_floor, foreground, premultiplied_foreground, shadow_layer, straight_foreground
from bgmatte.priors import gain_match
from conftest import read_exr

SIZE = 128
NOISE = 0.003
FLARE = np.float32([0.3, 0.2, 0.05])
SHADOW_DARKENING = 0.5
SHOT = Path(__file__).resolve().parents[1] / "samples" / "shot"


@dataclass
class Shot:
    """A synthetic frame I = alpha F + (1 - alpha) B + flare, with a cast shadow, and its parts."""

    frame: np.ndarray
    plate: np.ndarray
    alpha: np.ndarray
    fg: np.ndarray
    flare: np.ndarray  # (H, W) bool, alpha 0
    shadow: np.ndarray  # (H, W) bool, alpha 0
    empty: np.ndarray  # (H, W) bool, alpha 0, nothing but noise


def smooth_texture(seed: int, low: float, high: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.random((SIZE, SIZE, 3), dtype=np.float32), (0, 0), 3.0)
    texture = (texture - texture.min()) / (texture.max() - texture.min())
    return (low + (high - low) * texture).astype(np.float32)


def make_shot(noise: float = NOISE) -> Shot:
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    distance = np.sqrt((x - 64) ** 2 + (y - 64) ** 2)
    alpha = np.clip((40 - distance) / 10, 0, 1).astype(np.float32)  # solid core, 10 px soft edge
    plate = smooth_texture(1, 0.1, 0.9)
    fg = smooth_texture(2, 0.2, 1.5) * np.float32([1.0, 0.6, 0.4])
    frame = alpha[..., None] * fg + (1 - alpha[..., None]) * plate
    flare = np.zeros((SIZE, SIZE), bool)
    flare[4:20, 100:124] = True
    frame[flare] += FLARE
    shadow = np.zeros((SIZE, SIZE), bool)
    shadow[104:124, 4:40] = True
    frame[shadow] *= SHADOW_DARKENING
    empty = np.zeros((SIZE, SIZE), bool)
    empty[4:30, 4:30] = True
    rng = np.random.default_rng(3)
    frame = (frame + rng.normal(0, noise, frame.shape)).astype(np.float32)
    plate_seen = (plate + rng.normal(0, noise, plate.shape)).astype(np.float32)
    return Shot(frame, plate_seen, alpha, fg.astype(np.float32), flare, shadow, empty)


def inner(mask: np.ndarray, pixels: int = 3) -> np.ndarray:
    """The mask shrunk by a few pixels, away from the shadow layer's light blur."""
    return cv2.erode(mask.astype(np.uint8), np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)).astype(bool)


def test_comp_over_the_plate_reproduces_the_input_on_the_subject_and_its_soft_edges():
    shot = make_shot()

    premult = premultiplied_foreground(shot.frame, shot.plate, shot.alpha)

    comp = premult + (1 - shot.alpha[..., None]) * shot.plate
    subject = shot.alpha >= 0.05
    assert ((shot.alpha > 0.05) & (shot.alpha < 0.95)).sum() > 1000  # a real soft edge
    np.testing.assert_allclose(comp[subject], shot.frame[subject], atol=1e-6)


def test_flares_over_the_plate_are_kept_in_rgb_where_alpha_is_zero():
    shot = make_shot()

    premult = premultiplied_foreground(shot.frame, shot.plate, shot.alpha)

    assert np.all(shot.alpha[shot.flare] == 0)
    # Added light is judged smooth (LIGHT_BLUR_SIGMA on a LIGHT_WORKING_SIZE copy): beyond three
    # sigmas from its edge a flare keeps its level; its hard edge softens, keeping at least half.
    margin = int(np.ceil(3 * foreground.LIGHT_BLUR_SIGMA * SIZE / foreground.LIGHT_WORKING_SIZE))
    np.testing.assert_allclose(premult[inner(shot.flare, margin)].mean(axis=0), FLARE, atol=0.002)
    edge = shot.flare & ~inner(shot.flare, margin)
    assert np.all(premult[edge].mean(axis=0) > 0.5 * FLARE)


def test_shadows_leave_rgb_and_go_to_the_shadow_layer():
    shot = make_shot()
    noise = estimate_noise_floor(shot.frame, shot.plate, shot.alpha)

    premult = premultiplied_foreground(shot.frame, shot.plate, shot.alpha, noise_floor=noise)
    shadow = shadow_layer(shot.frame, shot.plate, shot.alpha, noise)

    core = inner(shot.shadow)
    assert np.all(premult[shot.shadow] == 0.0)
    assert np.abs(shadow[core] - (1 - SHADOW_DARKENING)).mean() < 0.01
    assert shadow.dtype == np.float32 and shadow.min() >= 0.0 and shadow.max() <= 1.0
    comp = premult + (1 - shot.alpha[..., None]) * shot.plate * (1 - shadow[..., None])
    error = np.abs(comp[core] - shot.frame[core])
    assert error.mean() < 2 * NOISE and np.percentile(error, 99) < 6 * NOISE


def test_a_background_that_is_only_noise_gives_empty_rgb_and_no_shadow():
    shot = make_shot()
    noise = estimate_noise_floor(shot.frame, shot.plate, shot.alpha)

    premult = premultiplied_foreground(shot.frame, shot.plate, shot.alpha, noise_floor=noise)
    shadow = shadow_layer(shot.frame, shot.plate, shot.alpha, noise)

    assert np.abs(premult[shot.empty]).mean() < 0.01 * NOISE
    assert (premult[shot.empty] != 0).mean() < 0.005
    assert shadow[shot.empty].max() < 0.01


def test_noise_floor_is_the_sigma_of_frame_minus_plate_on_the_background():
    shot = make_shot()

    sigma = estimate_noise_floor(shot.frame, shot.plate, shot.alpha)

    assert sigma.shape == (3,) and sigma.dtype == np.float32
    np.testing.assert_allclose(sigma, np.sqrt(2) * NOISE, rtol=0.1)  # frame and plate noise
    assert np.all(estimate_noise_floor(shot.frame, shot.plate, np.ones_like(shot.alpha)) == 0)


def test_pixels_where_the_plate_is_not_valid_do_not_count_in_the_noise_floor():
    shot = make_shot()
    valid = np.zeros((SIZE, SIZE), bool)
    valid[:, 100:] = True
    extra = np.random.default_rng(4).normal(0, 10 * NOISE, shot.frame.shape)
    loud = (shot.frame + np.where(valid[..., None], 0.0, extra)).astype(np.float32)  # 10x the noise where invalid
    cropped = (slice(None), slice(100, None))

    sigma = estimate_noise_floor(loud, shot.plate, shot.alpha, valid)

    np.testing.assert_array_equal(sigma, estimate_noise_floor(shot.frame, shot.plate, shot.alpha, valid))
    assert np.all(estimate_noise_floor(loud, shot.plate, shot.alpha) > 2 * sigma)
    np.testing.assert_array_equal(sigma, estimate_noise_floor(shot.frame[cropped], shot.plate[cropped],
                                                              shot.alpha[cropped]))


def test_where_the_plate_is_not_valid_the_network_foreground_is_used():
    shot = make_shot()
    valid = np.ones((SIZE, SIZE), np.float32)
    valid[:, :48] = 0.0
    valid[:, 48:56] = 0.5
    fg_net = np.full((SIZE, SIZE, 3), 0.25, np.float32)

    noise = estimate_noise_floor(shot.frame, shot.plate, shot.alpha)

    premult = premultiplied_foreground(shot.frame, shot.plate, shot.alpha, fg_net=fg_net, plate_valid=valid,
                                       noise_floor=noise)
    exact = premultiplied_foreground(shot.frame, shot.plate, shot.alpha, noise_floor=noise)

    network = shot.alpha[..., None] * fg_net
    np.testing.assert_allclose(premult[:, :48], network[:, :48], atol=1e-6)
    np.testing.assert_allclose(premult[:, 48:56], 0.5 * exact[:, 48:56] + 0.5 * network[:, 48:56], atol=1e-6)
    # the same where the plate is valid, up to the added-light bound, whose noise is measured there only
    np.testing.assert_allclose(premult[:, 56:], exact[:, 56:], atol=1e-3)
    with pytest.raises(ValueError, match="fg_net"):
        premultiplied_foreground(shot.frame, shot.plate, shot.alpha, plate_valid=valid)


def test_premultiplied_foreground_leaves_its_inputs_untouched():
    shot = make_shot()
    frame, plate, alpha = shot.frame.copy(), shot.plate.copy(), shot.alpha.copy()

    premultiplied_foreground(shot.frame, shot.plate, shot.alpha)

    np.testing.assert_array_equal(shot.frame, frame)
    np.testing.assert_array_equal(shot.plate, plate)
    np.testing.assert_array_equal(shot.alpha, alpha)


def test_straight_foreground_is_the_true_colour_on_the_subject_and_finite_everywhere():
    shot = make_shot(noise=0.0)
    fg_net = np.full((SIZE, SIZE, 3), 0.5, np.float32)
    premult = premultiplied_foreground(shot.frame, shot.plate, shot.alpha, noise_floor=np.zeros(3, np.float32))

    straight = straight_foreground(premult, shot.alpha, fg_net)

    assert straight.shape == (SIZE, SIZE, 3) and straight.dtype == np.float32
    assert np.all(np.isfinite(straight))
    subject = shot.alpha > 0.1
    np.testing.assert_allclose(straight[subject], shot.fg[subject], rtol=1e-4, atol=1e-5)
    outside = shot.alpha < 0.05
    np.testing.assert_array_equal(straight[outside], fg_net[outside])


def test_a_misregistered_plate_leaves_no_ghost_of_its_edges_in_rgb_but_keeps_a_flare():
    size = 512  # a real frame's size: added light is judged on a LIGHT_WORKING_SIZE copy
    rng = np.random.default_rng(11)
    edges = cv2.GaussianBlur(rng.random((size // 16, size // 16)).astype(np.float32), (0, 0), 1.0)
    world = 0.1 + 0.6 * (cv2.resize(edges, (size, size), interpolation=cv2.INTER_NEAREST) > edges.mean())
    world = np.repeat(world[..., None], 3, axis=2).astype(np.float32)
    shift = np.float32([[1, 0, 0.6], [0, 1, -0.4]])  # the plate pass, 0.7 px off after registration
    frame = cv2.warpAffine(world, shift, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    y, x = np.mgrid[0:size, 0:size]
    flare = np.exp(-((x - 400.0) ** 2 + (y - 100.0) ** 2) / (2 * 40.0 ** 2))[..., None] * FLARE
    frame = frame + flare + rng.normal(0, NOISE, frame.shape)
    plate = world + rng.normal(0, NOISE, world.shape)
    alpha = np.zeros((size, size), np.float32)
    level = 0.02 * float(frame.mean())
    flare_core = flare[..., 0] > 0.5 * FLARE[0]
    unlit = flare.max(axis=2) < 0.01 * level  # away from the flare, whose light may carry residue
    residue = (np.abs(frame - plate).max(axis=2)[unlit] > level).mean()
    assert residue > 0.1  # what the old rule kept as "added light": a ghost of every plate edge

    premult = premultiplied_foreground(frame.astype(np.float32), plate.astype(np.float32), alpha)

    assert (premult.max(axis=2)[unlit] > level).mean() < min(0.01, residue / 10)
    kept, true = premult[flare_core].mean(axis=0), flare[flare_core].mean(axis=0)
    assert kept.sum() == pytest.approx(true.sum(), rel=0.1)  # over a busy misregistered plate some
    np.testing.assert_allclose(kept, true, rtol=0.25)  # flare goes where the residue is negative


def nchw(x: np.ndarray) -> torch.Tensor:
    """(H, W[, C]) NumPy -> (1, C, H, W) contiguous torch."""
    x = x[..., None] if x.ndim == 2 else x
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


@pytest.mark.usefixtures("one_torch_thread")
def test_the_whole_frame_at_once_as_the_exported_graph_runs_it_gives_the_core_noise_floor_and_colour():
    frame = read_exr(SHOT / "frame.1001.exr")[0][..., :3]
    plate, _, _ = gain_match.match_gain(frame, read_exr(SHOT / "clean.exr")[0][..., :3])
    alpha = read_exr(SHOT / "alpha.1001.exr")[0][..., 0]
    assert frame.shape[0] > 2 * foreground.BAND_ROWS  # the core works in several bands of rows

    noise = torch.jit.script(foreground.background_noise)(nchw(frame), nchw(plate), nchw(alpha))
    premult = torch.jit.script(foreground.premultiplied_whole_frame)(nchw(frame), nchw(plate), nchw(alpha), noise)

    expected = estimate_noise_floor(frame, plate, alpha)
    assert expected.min() > 0
    np.testing.assert_array_equal(noise.numpy(), expected)
    np.testing.assert_array_equal(premult[0].permute(1, 2, 0).numpy(),
                                  premultiplied_foreground(frame, plate, alpha, noise_floor=expected))


def test_every_torch_function_of_the_output_step_compiles_with_torchscript():
    for function in (foreground.background_weight, foreground.above_noise, foreground.noise_sigma,
                     foreground.background_noise, foreground.additive_light, foreground.light_bound,
                     foreground.premultiplied, foreground.premultiplied_whole_frame):
        torch.jit.script(function)
