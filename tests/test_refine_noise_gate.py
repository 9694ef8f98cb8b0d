"""Clip black by evidence: small alphas survive only where the frame really differs from its plate."""
from __future__ import annotations

import cv2
import numpy as np
import torch

from bgmatte.refine.noise_gate import (GATE_ALPHA, GATE_BAND_ROWS, GATE_SIGMAS, gate_small_alpha, gate_strength,
                                      gate_whole_frame, neighbour_step)

SIZE = 96
NOISE = 0.003


def plate_with_edges(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    blocks = rng.random((SIZE // 12, SIZE // 12)) > 0.5
    grey = 0.1 + 0.6 * cv2.resize(blocks.astype(np.float32), (SIZE, SIZE), interpolation=cv2.INTER_NEAREST)
    return np.repeat(grey[..., None], 3, axis=2).astype(np.float32)


def noisy(image: np.ndarray, seed: int) -> np.ndarray:
    return (image + np.random.default_rng(seed).normal(0, NOISE, image.shape)).astype(np.float32)


def test_a_small_alpha_on_the_edges_of_a_misregistered_plate_goes_to_zero():
    plate = plate_with_edges(1)
    frame = cv2.warpAffine(plate, np.float32([[1, 0, 0.5], [0, 1, 0.3]]), (SIZE, SIZE), borderMode=cv2.BORDER_REFLECT)
    residue = np.abs(frame - plate).max(axis=2) > 10 * NOISE
    assert residue.mean() > 0.05
    alpha = np.where(residue, 0.03, 0.0).astype(np.float32)  # a network reading the residue as coverage

    gate_small_alpha(alpha, noisy(frame, 2), noisy(plate, 3), np.full(3, NOISE * np.sqrt(2), np.float32))

    assert alpha.max() == 0.0


def test_a_faint_strand_that_the_frame_shows_keeps_its_alpha():
    plate = np.full((SIZE, SIZE, 3), 0.9, np.float32)
    alpha = np.zeros((SIZE, SIZE), np.float32)
    alpha[:, 40:42] = 0.045  # a strand at 4.5 % coverage, dark over a bright plate: ~10 noise sigmas
    frame = alpha[..., None] * np.float32([0.02, 0.01, 0.01]) + (1 - alpha[..., None]) * plate

    gated = gate_small_alpha(alpha.copy(), noisy(frame, 4), noisy(plate, 5), np.full(3, NOISE * np.sqrt(2), np.float32))

    np.testing.assert_allclose(gated[:, 40:42], 0.045)


def test_alphas_from_the_gate_up_and_where_the_plate_is_unknown_are_left_alone():
    plate = plate_with_edges(6)
    frame = plate.copy()
    alpha = np.full((SIZE, SIZE), 0.01, np.float32)
    alpha[:10] = GATE_ALPHA
    valid = np.ones((SIZE, SIZE), np.float32)
    valid[:, :20] = 0.0

    gate_small_alpha(alpha, frame, plate, np.full(3, NOISE, np.float32), valid=valid)

    assert np.all(alpha[:10] == GATE_ALPHA)
    assert np.all(alpha[10:, :20] == 0.01)
    assert np.all(alpha[10:, 20:] == 0.0)


def test_the_strength_ramps_from_the_threshold_to_twice_it_in_either_layout():
    noise = torch.full((3,), 0.01)
    threshold = GATE_SIGMAS * 0.01
    residual = torch.tensor([[threshold, 0.0, 0.0], [1.5 * threshold, 0.0, 0.0], [0.0, 2 * threshold, -3 * threshold]])
    strength = gate_strength(residual, torch.zeros_like(residual), noise, 1)
    torch.testing.assert_close(strength, torch.tensor([0.0, 0.5, 1.0]))
    dense = gate_strength(residual.t().reshape(1, 3, 3, 1), torch.zeros(1, 3, 3, 1), noise, 1)
    torch.testing.assert_close(dense.reshape(-1), strength)


def test_the_step_is_the_largest_difference_to_one_of_the_8_neighbours_and_the_border_adds_none():
    plate = torch.zeros(1, 1, 4, 5)
    plate[0, 0, 1, 1] = 2.0
    plate[0, 0, 3, 4] = -1.0  # a corner pixel: its outside neighbours repeat it
    step = neighbour_step(plate)[0, 0]
    expected = torch.zeros(4, 5)
    expected[0:3, 0:3] = 2.0
    expected[2:4, 3:5] = 1.0
    assert torch.equal(step, expected)


def test_the_whole_frame_at_once_as_the_exported_graph_runs_it_gates_like_the_bands_of_rows():
    size = GATE_BAND_ROWS + 40  # two bands
    rng = np.random.default_rng(6)
    plate = rng.random((size, 64, 3), dtype=np.float32)
    frame = noisy(plate, 7) + np.where(rng.random((size, 64, 1)) < 0.1, 0.05, 0.0).astype(np.float32)
    alpha = np.where(rng.random((size, 64)) < 0.5, 0.03, 0.5).astype(np.float32)
    noise = np.full(3, NOISE, np.float32)

    def nchw(x: np.ndarray) -> torch.Tensor:
        x = x[..., None] if x.ndim == 2 else x
        return torch.from_numpy(x.transpose(2, 0, 1).copy())[None]

    whole = torch.jit.script(gate_whole_frame)(nchw(alpha), nchw(frame), nchw(plate), torch.from_numpy(noise))
    banded = gate_small_alpha(alpha.copy(), frame, plate, noise)
    assert not np.array_equal(banded, alpha)
    assert np.array_equal(whole[0, 0].numpy(), banded)
