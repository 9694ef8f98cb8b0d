"""The premultiplied foreground from the compositing equation, alpha*F = I - (1 - alpha)*B.

With a clean plate B the equation gives the premultiplied colour directly, so motion blur and
edge colour (spill, hair) come out of the frame itself rather than from a network's guess. The
network's foreground only fills in where the plate is unreliable. Where alpha is 0 the residual
I - B is what the plate does not explain: noise (dropped), added light such as flares and glows
(kept in RGB, but only as far as light that is smooth over a few pixels explains it, so the edges
of a slightly misregistered plate do not come out as faint lines) and darkening such as cast
shadows (moved to the shadow layer, see :mod:`bgmatte.output.layers`). Premultiplied RGB is never
negative: no coverage can hold less than no light.
"""
from __future__ import annotations

import logging

import numpy as np
import torch
from torch import Tensor

from bgmatte.filters import gaussian_blur, median_rows, upsample_bilinear
from bgmatte.priors.resample import resize_area, working_shape

logger = logging.getLogger(__name__)

# Below this alpha a pixel counts, smoothly, as background (weight 1 at alpha 0, 0 from here up).
BACKGROUND_ALPHA = 0.05
# A residual is signal from this many noise sigmas, fully from twice as many.
NOISE_SIGMAS = 3.0
# estimate_noise_floor: alpha below this is background; about this many pixels are sampled.
NOISE_ALPHA = 0.01
NOISE_SAMPLES = 100_000
NOISE_MIN_PIXELS = 100
# Flares and shadows are outliers of the noise: sigma-clip them away before the final MAD.
NOISE_CLIP_SIGMAS = 3.5
NOISE_CLIP_ITERATIONS = 3
# Added light over the background is judged on a copy this small (longest side), where the
# plate's misregistration residue (thin +/- lines at its edges) averages out and a flare does not;
# it is then smoothed by this Gaussian (working pixels).
LIGHT_WORKING_SIZE = 128
LIGHT_BLUR_SIGMA = 2.0
# Light is kept in so far as its residual is of one sign over that blur: none below half this
# share of coherence, all from this share up.
LIGHT_COHERENCE = 0.6
# Full-resolution work goes in bands of this many rows (small temporaries, cache-friendly).
BAND_ROWS = 64


def background_weight(alpha: np.ndarray) -> np.ndarray:
    """How much a pixel is background: 1 at alpha 0, falling linearly to 0 at BACKGROUND_ALPHA."""
    return np.clip(1.0 - alpha * (1.0 / BACKGROUND_ALPHA), 0.0, 1.0)


def above_noise(excess: np.ndarray, sigma: np.ndarray | float) -> np.ndarray:
    """Weight in [0, 1] of an excess over noise: 0 up to k*sigma, ramping to 1 at 2k*sigma.

    Args:
        excess: Signed residual (any shape) whose positive part may be signal.
        sigma: Noise sigma, broadcastable against ``excess`` (0 for noise-free data).

    Returns:
        float32 weights with the shape of ``excess``.
    """
    threshold = NOISE_SIGMAS * np.asarray(sigma, dtype=np.float32)
    ramp = (excess - threshold) / np.maximum(threshold, 1e-8)
    return np.clip(ramp, 0.0, 1.0).astype(np.float32, copy=False)


def estimate_noise_floor(
    frame: np.ndarray, plate: np.ndarray, alpha: np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    """Per-channel noise sigma of I - B on the background, as 1.4826 * MAD.

    Pixels beyond 3.5 sigma in any channel (flares, shadows) are clipped away and the MAD is
    taken again, so large shadows do not inflate the floor. Computed on a regular subsample of
    about 100k pixels, so it costs the same at any size.

    Args:
        frame: (H, W, 3) float32 working linear frame.
        plate: (H, W, 3) float32 working linear plate, gain-matched and registered.
        alpha: (H, W) float32 alpha in [0, 1].
        valid: Optional (H, W) bool or [0, 1] map of usable plate pixels.

    Returns:
        (3,) float32 sigma per channel, working linear; zeros when there is no background.
    """
    step = max(1, int(np.ceil(np.sqrt(alpha.size / NOISE_SAMPLES))))
    background = alpha[::step, ::step] < NOISE_ALPHA
    if valid is not None:
        background &= valid[::step, ::step] >= 1
    if background.sum() < NOISE_MIN_PIXELS:
        logger.debug("noise floor: only %d background samples, taken as 0", int(background.sum()))
        return np.zeros(3, dtype=np.float32)
    residual = frame[::step, ::step][background] - plate[::step, ::step][background]
    return noise_sigma(torch.from_numpy(np.ascontiguousarray(residual, np.float32))).numpy()


def noise_sigma(residual: Tensor, min_pixels: int = NOISE_MIN_PIXELS, clip_sigmas: float = NOISE_CLIP_SIGMAS,
                iterations: int = NOISE_CLIP_ITERATIONS) -> Tensor:
    """(N, 3) background residuals I - B -> (3,) noise sigma, 1.4826 * MAD, outliers clipped.

    One TorchScript-compatible function for the core and the exported graph (the constants are
    arguments because TorchScript cannot read module globals; callers leave them).
    """
    inliers = torch.ones(residual.shape[0], dtype=torch.bool, device=residual.device)
    sigma = torch.zeros(residual.shape[1], dtype=residual.dtype, device=residual.device)
    for _ in range(iterations):
        centre = median_rows(residual[inliers])
        deviation = torch.abs(residual - centre)
        sigma = 1.4826 * median_rows(deviation[inliers])
        inliers = torch.all(deviation <= clip_sigmas * sigma, dim=1)
        if int(inliers.sum()) < min_pixels:
            break
    return sigma


def additive_light(frame_small: Tensor, plate_small: Tensor, alpha_small: Tensor, noise_small: Tensor,
                   height: int, width: int, sigmas: float = NOISE_SIGMAS, blur_sigma: float = LIGHT_BLUR_SIGMA,
                   background_alpha: float = BACKGROUND_ALPHA, coherent: float = LIGHT_COHERENCE) -> Tensor:
    """The light the frame adds over its plate where there is no subject, smooth, at full resolution.

    The background's residual I - B of small copies (subject pixels weighted out), blurred, kept
    from ``sigmas`` noise sigmas of the small residual (fully from twice that) and in so far as it is of one
    sign there (a misregistered edge leaves + and - side by side, light only +), upsampled bilinearly. A flare or
    glow survives; the +/- lines of a misregistered plate edge cancel. One TorchScript-compatible
    function for the core and the exported graph.

    Args:
        frame_small, plate_small: (1, 3, h, w) area-downsampled working linear frame and plate.
        alpha_small: (1, 1, h, w) area-downsampled alpha.
        noise_small: (3,) noise sigma of the small residual (``estimate_noise_floor`` on the copies).
        height, width: the full resolution.
        sigmas, blur_sigma, background_alpha, coherent: the module's constants (arguments because
            TorchScript cannot read module globals; callers leave them).

    Returns:
        (1, 3, height, width) float32 light, >= 0.
    """
    weight = torch.clamp(1.0 - alpha_small * (1.0 / background_alpha), 0.0, 1.0)
    raw = (frame_small - plate_small) * weight
    residual = gaussian_blur(raw, blur_sigma)
    # Light is positive all over; the residue of a misregistered edge is + and - side by side,
    # so its blur is a small part of the blur of its magnitude.
    coherence = residual.sum(dim=1, keepdim=True) / torch.clamp(
        gaussian_blur(torch.abs(raw).sum(dim=1, keepdim=True), blur_sigma), min=1e-12)
    threshold = sigmas * noise_small.view(1, 3, 1, 1)
    light = torch.clamp(residual, min=0.0) * torch.clamp((residual - threshold) / torch.clamp(threshold, min=1e-8),
                                                        0.0, 1.0)
    light = light * torch.clamp(coherence / coherent * 2.0 - 1.0, 0.0, 1.0)
    if light.shape[2] == height and light.shape[3] == width:
        return light
    return upsample_bilinear(light, [height, width])


def light_map(frame: np.ndarray, plate: np.ndarray, alpha: np.ndarray, valid: np.ndarray | None = None) -> Tensor:
    """``additive_light`` of full-resolution (H, W, 3) arrays: (1, 3, H, W) float32 tensor."""
    height, width = alpha.shape
    size = working_shape(height, width, LIGHT_WORKING_SIZE)
    frame_small, plate_small = resize_area(frame, size), resize_area(plate, size)
    alpha_small = resize_area(alpha, size)
    valid_small = None if valid is None else resize_area(np.asarray(valid, np.float32), size)
    noise_small = estimate_noise_floor(frame_small, plate_small, alpha_small, valid_small)

    def nchw(x: np.ndarray) -> Tensor:
        x = x[..., None] if x.ndim == 2 else x
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]

    return additive_light(nchw(frame_small), nchw(plate_small), nchw(alpha_small), torch.from_numpy(noise_small),
                          height, width)


def premultiplied_foreground(
    frame: np.ndarray,
    plate: np.ndarray,
    alpha: np.ndarray,
    fg_net: np.ndarray | None = None,
    plate_valid: np.ndarray | None = None,
    noise_floor: np.ndarray | None = None,
) -> np.ndarray:
    """Premultiplied foreground RGB, P = I - (1 - alpha) * B, with the background residual sorted.

    Where alpha fades to 0 (weight ``background_weight(alpha)``) the residual R = I - B is split
    per channel: within the noise floor (3 sigma, ramping to 6 sigma) it is dropped; positive
    residuals above it are kept as added light (flares, glows over the plate) up to what the
    smooth ``additive_light`` explains, so misregistration residue at plate edges is dropped;
    negative ones (cast shadows) are removed from RGB and belong to ``shadow_layer``. Where the
    plate is not valid (e.g. outside an aligned plate) the result blends to alpha * ``fg_net``.

    So a comp over the plate, ``P + (1 - alpha) * B``, reproduces the input exactly at
    alpha >= 0.05 (solid subject and soft edges, motion blur included), over the background up
    to the noise floor and smooth added light, and in shadows only with the shadow layer:
    ``P + (1 - alpha) * B * (1 - shadow)``.

    Args:
        frame: (H, W, 3) float32 working linear frame I.
        plate: (H, W, 3) float32 working linear plate B, gain-matched and registered.
        alpha: (H, W) float32 alpha in [0, 1].
        fg_net: (H, W, 3) float32 straight working linear foreground from the network; needed
            only where ``plate_valid`` is below 1.
        plate_valid: Optional (H, W) bool or [0, 1] map of where the plate can be trusted.
        noise_floor: (3,) per-channel noise sigma of I - B; estimated when None.

    Returns:
        A new (H, W, 3) float32 premultiplied working linear foreground, the only full-size
        allocation: the work goes in bands of rows, so temporaries stay small at 4K.

    Raises:
        ValueError: If shapes disagree, or the plate is invalid somewhere and ``fg_net`` is None.
    """
    height, width = alpha.shape
    for name, array in (("frame", frame), ("plate", plate), ("fg_net", fg_net)):
        if array is not None and array.shape != (height, width, 3):
            raise ValueError(f"{name} is {array.shape}, expected ({height}, {width}, 3) to match alpha")
    if noise_floor is None:
        noise_floor = estimate_noise_floor(frame, plate, alpha, plate_valid)

    sigma = np.asarray(noise_floor, dtype=np.float32)
    trust = None if plate_valid is None else np.asarray(plate_valid, dtype=np.float32)
    if trust is not None and fg_net is None and np.any(trust < 1.0):
        raise ValueError("fg_net is needed where the plate is not valid")

    light = light_map(frame, plate, alpha, plate_valid) if np.any(alpha < BACKGROUND_ALPHA) else None
    premult = np.empty((height, width, 3), dtype=np.float32)
    for rows in _row_bands(height):
        band_alpha = alpha[rows][..., None]
        residual = frame[rows] - plate[rows]
        band = premult[rows]
        np.multiply(band_alpha, plate[rows], out=band)
        band += residual
        if light is not None and np.any(band_alpha < BACKGROUND_ALPHA):
            band_light = light[0, :, rows].permute(1, 2, 0).numpy()
            kept = np.minimum(residual * above_noise(residual, sigma), band_light)
            band -= (residual - kept) * background_weight(band_alpha)
        if trust is not None and np.any(trust[rows] < 1.0):
            band_trust = trust[rows][..., None]
            band *= band_trust
            band += (1.0 - band_trust) * band_alpha * fg_net[rows]
    return premult


def _row_bands(height: int) -> list[slice]:
    """Slices of BAND_ROWS rows covering ``height`` rows."""
    return [slice(top, min(top + BAND_ROWS, height)) for top in range(0, height, BAND_ROWS)]
