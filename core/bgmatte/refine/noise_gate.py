"""Clip black by evidence: a small alpha that the frame does not support is set to 0.

Below 5 % coverage a pixel's colour difference from the plate is tiny, and the network's small
alphas there (mostly at the plate's own edges, where a slightly misregistered plate leaves thin
+/- lines) would carry a faint copy of the old plate, ``alpha * B``, into any new background. Such
an alpha is kept only as far as the residual I - B exceeds what the noise floor and a sub-pixel
misregistration of the plate's edges explain; otherwise it fades to 0, as a keyer's clip black
does, but driven by the shot's own noise instead of a slider.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor

# Alphas below this are gated (the premultiplied output treats them as background, see output).
GATE_ALPHA = 0.05
# The residual must exceed this many noise sigmas plus what this many pixels of misregistration
# leave at the plate's edges (its gradient); it keeps the alpha fully from twice that.
GATE_SIGMAS = 2.5
GATE_REGISTRATION_PX = 0.75  # a shift below a pixel mixes a pixel with its 8 neighbours
# Full-resolution work goes in bands of this many rows (small temporaries at 4K).
GATE_BAND_ROWS = 256


def gate_strength(residual: Tensor, gradient: Tensor, noise: Tensor, channel_dim: int,
                  sigmas: float = GATE_SIGMAS, registration_px: float = GATE_REGISTRATION_PX) -> Tensor:
    """Per pixel 0..1: how far the residual exceeds noise and misregistration (1 = supported).

    Args:
        residual: I - B per pixel and channel (channels along ``channel_dim``).
        gradient: the largest step from the pixel to one of its 8 neighbours in the plate, per
            channel, same layout.
        noise: (3,) noise sigma of I - B, broadcast along ``channel_dim``.
        channel_dim: the channel axis of ``residual`` and ``gradient``.
        sigmas, registration_px: the module's constants (arguments because TorchScript cannot
            read module globals; callers leave them).

    Returns:
        ``residual`` with the channel axis reduced: the strength to multiply the small alpha by.
    """
    shape = [1] * residual.dim()
    shape[channel_dim] = 3
    threshold = sigmas * noise.view(shape) + registration_px * gradient
    evidence = torch.amax(torch.abs(residual) / torch.clamp(threshold, min=1e-8), dim=channel_dim)
    return torch.clamp(evidence - 1.0, 0.0, 1.0)


def gate_small_alpha(alpha: np.ndarray, frame: np.ndarray, plate: np.ndarray, noise: np.ndarray,
                     valid: np.ndarray | None = None) -> np.ndarray:
    """Scale every alpha in (0, GATE_ALPHA) by its ``gate_strength``, in place (full resolution).

    Only the candidate pixels are read, in bands of rows, so time and memory stay small at 4K.

    Args:
        alpha: (H, W) float32 alpha, modified in place.
        frame, plate: (H, W, 3) float32 working linear frame and gain-matched, registered plate.
        noise: (3,) float32 noise sigma of I - B.
        valid: Optional (H, W) map of where the plate is known; elsewhere nothing is gated.

    Returns:
        ``alpha`` itself.
    """
    height = alpha.shape[0]
    square = np.ones((3, 3), np.uint8)
    noise_t = torch.from_numpy(np.asarray(noise, np.float32))
    for top in range(0, height, GATE_BAND_ROWS):
        rows = slice(top, min(top + GATE_BAND_ROWS, height))
        band_alpha = alpha[rows]
        candidates = (band_alpha > 0.0) & (band_alpha < GATE_ALPHA)
        if valid is not None:
            candidates &= np.asarray(valid[rows]) >= 1
        ys, xs = np.nonzero(candidates)
        if len(ys) == 0:
            continue
        # The largest step to one of the 8 neighbours: the larger of (3x3 max - pixel) and
        # (pixel - 3x3 min), on the band with a row of context above and below.
        context = slice(max(rows.start - 1, 0), min(rows.stop + 1, height))
        band = np.ascontiguousarray(plate[context], dtype=np.float32)
        step = np.maximum(cv2.dilate(band, square, borderType=cv2.BORDER_REPLICATE) - band,
                          band - cv2.erode(band, square, borderType=cv2.BORDER_REPLICATE))
        gradient = step[ys + rows.start - context.start, xs]
        residual = frame[rows][ys, xs] - plate[rows][ys, xs]
        strength = gate_strength(torch.from_numpy(residual), torch.from_numpy(gradient), noise_t, 1)
        band_alpha[ys, xs] *= strength.numpy()
    return alpha
