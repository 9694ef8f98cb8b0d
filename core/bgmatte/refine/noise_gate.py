"""Clip black by evidence: a small alpha that the frame does not support is set to 0.

Below 5 % coverage a pixel's colour difference from the plate is tiny, and the network's small
alphas there (mostly at the plate's own edges, where a slightly misregistered plate leaves thin
+/- lines) would carry a faint copy of the old plate, ``alpha * B``, into any new background. Such
an alpha is kept only as far as the residual I - B exceeds what the noise floor and a sub-pixel
misregistration of the plate's edges explain; otherwise it fades to 0, as a keyer's clip black
does, but driven by the shot's own noise instead of a slider.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from bgmatte.priors.resample import as_nchw

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


def small_alpha(alpha: Tensor, gate_alpha: float = GATE_ALPHA) -> Tensor:
    """Where an alpha is gated: strictly between 0 and ``gate_alpha`` (the module's GATE_ALPHA)."""
    return (alpha > 0.0) & (alpha < gate_alpha)


def neighbour_step(plate: Tensor) -> Tensor:
    """The largest step from each pixel to one of its 8 neighbours, per channel: (B, C, H, W) -> same.

    Pixels beyond the border repeat the edge (they add no step). Each of the 4 directions' absolute
    differences is computed once and given to both pixels it joins. One torch function for the core
    (on bands of rows with a row of context) and the exported graph (the whole frame).
    """
    height, width = plate.shape[2], plate.shape[3]
    step = torch.zeros_like(plate)
    for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
        left, right = max(0, -dx), max(0, dx)  # columns the pixel and its neighbour lack
        here = step[:, :, 0:height - dy, left:width - right]
        there = step[:, :, dy:height, right:width - left]
        neighbour, pixel = plate[:, :, dy:height, right:width - left], plate[:, :, 0:height - dy, left:width - right]
        difference = torch.abs(neighbour - pixel)
        here.copy_(torch.max(here, difference))
        there.copy_(torch.max(there, difference))
    return step


def gate_small_alpha(alpha: np.ndarray, frame: np.ndarray, plate: np.ndarray, noise: np.ndarray,
                     valid: np.ndarray | None = None) -> np.ndarray:
    """``gate_alpha`` of an (H, W) float32 alpha (in place), (H, W, 3) frame and plate, (3,) noise and
    an optional (H, W) valid map. Returns ``alpha`` itself."""
    gate_alpha(torch.from_numpy(alpha)[None, None], as_nchw(frame), as_nchw(plate),
               torch.from_numpy(np.asarray(noise, np.float32)), None if valid is None else as_nchw(valid))
    return alpha


def gate_alpha(alpha: Tensor, frame: Tensor, plate: Tensor, noise: Tensor, valid: Tensor | None = None,
               band_rows: int = GATE_BAND_ROWS) -> Tensor:
    """Scale every alpha in (0, GATE_ALPHA) by its ``gate_strength``, in place (full resolution).

    The work goes in bands of rows (bands without a candidate skipped), so temporaries stay small
    at 4K; a band is computed whole, like the exported graph's frame (`gate_whole_frame`), since
    most of a frame's background holds candidates. Every step runs on the inputs' device.

    Args:
        alpha: (1, 1, H, W) float32 alpha, modified in place.
        frame, plate: (1, 3, H, W) float32 working linear frame and gain-matched, registered plate.
        noise: (3,) float32 noise sigma of I - B.
        valid: Optional (1, 1, H, W) map of where the plate is known; elsewhere nothing is gated.
        band_rows: rows per band (the module's GATE_BAND_ROWS).

    Returns:
        ``alpha`` itself.
    """
    height = alpha.shape[2]
    noise = noise.to(device=frame.device, dtype=torch.float32)
    for top in range(0, height, band_rows):
        bottom = min(top + band_rows, height)
        band_alpha = alpha[:, :, top:bottom]
        candidates = small_alpha(band_alpha)
        if valid is not None:
            candidates &= valid[:, :, top:bottom] >= 1
        if not bool(candidates.any()):
            continue
        # The band's steps with a row of context above and below (the image's edge rows repeat beyond it).
        first, last = max(top - 1, 0), min(bottom + 1, height)
        step = neighbour_step(plate[:, :, first:last])[:, :, top - first:bottom - first]
        strength = gate_strength(frame[:, :, top:bottom] - plate[:, :, top:bottom], step, noise, 1)
        band_alpha.copy_(torch.where(candidates, band_alpha * strength.unsqueeze(1), band_alpha))
    return alpha


def gate_whole_frame(alpha: Tensor, frame: Tensor, plate: Tensor, noise: Tensor) -> Tensor:
    """``gate_small_alpha`` of (1, 1, H, W) alpha and (1, 3, H, W) frame and plate on the whole frame
    at once, as the exported graph does: a new alpha."""
    strength = gate_strength(frame - plate, neighbour_step(plate), noise, 1)
    return torch.where(small_alpha(alpha), alpha * strength.unsqueeze(1), alpha)
