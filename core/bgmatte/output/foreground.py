"""The premultiplied foreground from the compositing equation, alpha*F = I - (1 - alpha)*B.

With a clean plate B the equation gives the premultiplied colour directly, so motion blur and
edge colour (spill, hair) come out of the frame itself rather than from a network's guess. The
network's foreground only fills in where the plate is unreliable. Where alpha is 0 the residual
I - B is what the plate does not explain: noise (dropped), added light such as flares and glows
(kept in RGB, but only as far as light that is smooth over a few pixels explains it, so the edges
of a slightly misregistered plate do not come out as faint lines) and darkening such as cast
shadows (moved to the shadow layer, see :mod:`bgmatte.output.layers`). Premultiplied RGB is never
negative: no coverage can hold less than no light.

One TorchScript-compatible torch implementation serves the core and the exported graph
(``background_noise``, ``light_bound``, ``premultiplied``; the module's constants are their default
arguments, because TorchScript cannot read module globals). ``estimate_noise_floor`` and
``premultiplied_foreground`` are their NumPy entry points for (H, W[, C]) arrays; the pipeline calls
``background_noise`` and ``premultiplied_tensor`` on the model's device.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from bgmatte.filters import gaussian_blur, median_rows, upsample_bilinear
from bgmatte.priors.resample import as_nchw, downsample_area, working_shape
from bgmatte.refine.sampling import upsample_bilinear_region

# Below this alpha a pixel counts, smoothly, as background (weight 1 at alpha 0, 0 from here up).
BACKGROUND_ALPHA = 0.05
# A residual is signal from this many noise sigmas, fully from twice as many.
NOISE_SIGMAS = 3.0
# background_noise: alpha below this is background; about this many pixels are sampled.
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


def background_weight(alpha: Tensor, background_alpha: float = BACKGROUND_ALPHA) -> Tensor:
    """How much a pixel is background: 1 at alpha 0, falling linearly to 0 at ``background_alpha``."""
    return torch.clamp(1.0 - alpha * (1.0 / background_alpha), 0.0, 1.0)


def above_noise(excess: Tensor, sigma: Tensor, sigmas: float = NOISE_SIGMAS) -> Tensor:
    """Weight in [0, 1] of an excess over noise: 0 up to ``sigmas`` sigma, ramping to 1 at twice that.

    ``sigma`` (0 for noise-free data) broadcasts against the signed residual ``excess``.
    """
    threshold = sigmas * sigma
    return torch.clamp((excess - threshold) / torch.clamp(threshold, min=1e-8), 0.0, 1.0)


def noise_sigma(residual: Tensor, min_pixels: int = NOISE_MIN_PIXELS, clip_sigmas: float = NOISE_CLIP_SIGMAS,
                iterations: int = NOISE_CLIP_ITERATIONS) -> Tensor:
    """(N, 3) background residuals I - B -> (3,) noise sigma, 1.4826 * MAD, outliers clipped."""
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


def background_noise(frame: Tensor, plate: Tensor, alpha: Tensor, valid: Optional[Tensor] = None,
                     background_alpha: float = NOISE_ALPHA, samples: int = NOISE_SAMPLES,
                     min_pixels: int = NOISE_MIN_PIXELS, clip_sigmas: float = NOISE_CLIP_SIGMAS,
                     iterations: int = NOISE_CLIP_ITERATIONS) -> Tensor:
    """Per-channel noise sigma of I - B on the background, as 1.4826 * MAD (``noise_sigma``).

    Pixels beyond 3.5 sigma in any channel (flares, shadows) are clipped away and the MAD is
    taken again, so large shadows do not inflate the floor. Computed on a regular subsample of
    about ``samples`` pixels, so it costs the same at any size.

    Args:
        frame, plate: (1, 3, H, W) float32 working linear frame and gain-matched, registered plate.
        alpha: (1, 1, H, W) alpha in [0, 1].
        valid: Optional (1, 1, H, W) map of usable plate pixels (only those at 1 count); None: all.
        background_alpha, samples, min_pixels, clip_sigmas, iterations: the module's NOISE_* constants.

    Returns:
        (3,) sigma per channel, working linear; zeros when there are fewer than ``min_pixels``
        background samples.
    """
    step = max(1, int(math.ceil(math.sqrt(float(alpha.numel()) / samples))))
    background = alpha[0, 0, ::step, ::step] < background_alpha
    if valid is not None:
        background = background & (valid[0, 0, ::step, ::step] >= 1)
    if int(background.sum()) < min_pixels:
        return torch.zeros(3, dtype=frame.dtype, device=frame.device)
    residual = (frame[0, :, ::step, ::step] - plate[0, :, ::step, ::step]).permute(1, 2, 0)[background]
    return noise_sigma(residual, min_pixels, clip_sigmas, iterations)


def additive_light(frame_small: Tensor, plate_small: Tensor, alpha_small: Tensor, noise_small: Tensor,
                   sigmas: float = NOISE_SIGMAS, blur_sigma: float = LIGHT_BLUR_SIGMA,
                   background_alpha: float = BACKGROUND_ALPHA, coherent: float = LIGHT_COHERENCE) -> Tensor:
    """The light the frame adds over its plate where there is no subject, smooth, on the small copies.

    The background's residual I - B of small copies (subject pixels weighted out), blurred, kept
    from ``sigmas`` noise sigmas of the small residual (fully from twice that) and in so far as it is of one
    sign there (a misregistered edge leaves + and - side by side, light only +); full resolution takes
    its bilinear upsampling. A flare or glow survives; the +/- lines of a misregistered plate edge cancel.

    Args:
        frame_small, plate_small: (1, 3, h, w) area-downsampled working linear frame and plate.
        alpha_small: (1, 1, h, w) area-downsampled alpha.
        noise_small: (3,) noise sigma of the small residual (``background_noise`` on the copies).
        sigmas, blur_sigma, background_alpha, coherent: the module's constants.

    Returns:
        (1, 3, h, w) float32 light, >= 0.
    """
    raw = (frame_small - plate_small) * background_weight(alpha_small, background_alpha)
    residual = gaussian_blur(raw, blur_sigma)
    # Light is positive all over; the residue of a misregistered edge is + and - side by side,
    # so its blur is a small part of the blur of its magnitude.
    coherence = residual.sum(dim=1, keepdim=True) / torch.clamp(
        gaussian_blur(torch.abs(raw).sum(dim=1, keepdim=True), blur_sigma), min=1e-12)
    light = torch.clamp(residual, min=0.0) * above_noise(residual, noise_small.view(1, 3, 1, 1), sigmas)
    return light * torch.clamp(coherence / coherent * 2.0 - 1.0, 0.0, 1.0)


def light_bound(frame: Tensor, plate: Tensor, alpha: Tensor, valid: Optional[Tensor] = None,
                working_size: int = LIGHT_WORKING_SIZE) -> Tensor:
    """``additive_light`` of full-resolution (1, 3, H, W) frame and plate and (1, 1, H, W) alpha and
    ``valid``, judged on copies ``working_size`` pixels long: the (1, 3, h, w) float32 light, >= 0,
    whose bilinear upsampling is the light bound at full resolution."""
    small_height, small_width = working_shape(alpha.shape[2], alpha.shape[3], working_size)
    frame_small = downsample_area(frame, small_height, small_width)
    plate_small = downsample_area(plate, small_height, small_width)
    alpha_small = downsample_area(alpha, small_height, small_width)
    valid_small = None if valid is None else downsample_area(valid.float(), small_height, small_width)
    noise_small = background_noise(frame_small, plate_small, alpha_small, valid_small)
    return additive_light(frame_small, plate_small, alpha_small, noise_small)


def premultiplied(frame: Tensor, plate: Tensor, alpha: Tensor, noise: Tensor, light: Optional[Tensor],
                  fg_net: Optional[Tensor] = None, valid: Optional[Tensor] = None,
                  background_alpha: float = BACKGROUND_ALPHA, sigmas: float = NOISE_SIGMAS) -> Tensor:
    """P = I - (1 - alpha) * B with the background's residual sorted, and alpha * ``fg_net`` where the plate fails.

    Any layout: ``alpha``, ``noise``, ``light``, ``fg_net`` and ``valid`` broadcast against
    ``frame`` and ``plate`` (the core passes bands of rows, the exported graph the whole frame).

    Args:
        frame, plate: working linear frame I and gain-matched, registered plate B.
        alpha: alpha in [0, 1].
        noise: per-channel noise sigma of I - B (``background_noise``).
        light: the added light the background may keep (``light_bound``); None where no pixel
            is background (alpha >= ``background_alpha``: nothing to sort).
        fg_net: straight working linear foreground of the network; needed with ``valid``.
        valid: [0, 1] map of where the plate can be trusted; None: everywhere.
        background_alpha, sigmas: the module's BACKGROUND_ALPHA and NOISE_SIGMAS.

    Returns:
        The premultiplied working linear foreground, shaped like ``frame``.

    Raises:
        ValueError: If ``valid`` is given without ``fg_net``.
    """
    residual = frame - plate
    premult = alpha * plate + residual
    if light is not None:
        kept = torch.min(residual * above_noise(residual, noise, sigmas), light)
        premult = premult - (residual - kept) * background_weight(alpha, background_alpha)
    if valid is not None:
        if fg_net is None:
            raise ValueError("fg_net is needed where the plate is not valid")
        premult = premult * valid + (1.0 - valid) * alpha * fg_net
    return premult


def premultiplied_whole_frame(frame: Tensor, plate: Tensor, alpha: Tensor, noise: Tensor) -> Tensor:
    """``premultiplied_foreground`` of (1, 3, H, W) frame and plate, (1, 1, H, W) alpha and (3,) noise on
    the whole frame at once, the plate valid everywhere, as the exported graph does."""
    light = light_bound(frame, plate, alpha)
    if light.shape[2] != frame.shape[2] or light.shape[3] != frame.shape[3]:
        light = upsample_bilinear(light, [frame.shape[2], frame.shape[3]])
    return premultiplied(frame, plate, alpha, noise.view(1, 3, 1, 1), light)


def estimate_noise_floor(frame: np.ndarray, plate: np.ndarray, alpha: np.ndarray,
                         valid: np.ndarray | None = None) -> np.ndarray:
    """``background_noise`` of (H, W, 3) float32 frame and plate, (H, W) alpha and optional (H, W)
    bool or [0, 1] ``valid``: a (3,) float32 array."""
    return background_noise(as_nchw(frame), as_nchw(plate), as_nchw(alpha),
                            None if valid is None else as_nchw(valid)).numpy()


def premultiplied_foreground(
    frame: np.ndarray,
    plate: np.ndarray,
    alpha: np.ndarray,
    fg_net: np.ndarray | None = None,
    plate_valid: np.ndarray | None = None,
    noise_floor: np.ndarray | None = None,
) -> np.ndarray:
    """``premultiplied_tensor`` of arrays: (H, W, 3) frame, plate and ``fg_net``, (H, W) alpha and
    ``plate_valid``, (3,) noise floor -> a new (H, W, 3) float32 premultiplied foreground.

    Raises:
        ValueError: If shapes disagree, or the plate is invalid somewhere and ``fg_net`` is None.
    """
    height, width = alpha.shape
    for name, array in (("frame", frame), ("plate", plate), ("fg_net", fg_net)):
        if array is not None and array.shape != (height, width, 3):
            raise ValueError(f"{name} is {array.shape}, expected ({height}, {width}, 3) to match alpha")
    premult = premultiplied_tensor(
        as_nchw(frame), as_nchw(plate), as_nchw(alpha), None if fg_net is None else as_nchw(fg_net),
        None if plate_valid is None else as_nchw(plate_valid),
        None if noise_floor is None else torch.from_numpy(np.asarray(noise_floor, np.float32)))
    return premult[0].permute(1, 2, 0).numpy()


def premultiplied_tensor(frame: Tensor, plate: Tensor, alpha: Tensor, fg_net: Optional[Tensor] = None,
                         plate_valid: Optional[Tensor] = None, noise_floor: Optional[Tensor] = None,
                         band_rows: Optional[int] = None) -> Tensor:
    """Premultiplied foreground RGB, P = I - (1 - alpha) * B, with the background residual sorted.

    Where alpha fades to 0 (weight ``background_weight(alpha)``) the residual R = I - B is split
    per channel: within the noise floor (3 sigma, ramping to 6 sigma) it is dropped; positive
    residuals above it are kept as added light (flares, glows over the plate) up to what the
    smooth ``additive_light`` explains, so misregistration residue at plate edges is dropped;
    negative ones (cast shadows) are removed from RGB and belong to ``shadow_layer``. Where the
    plate is not valid (e.g. outside an aligned plate) the result blends to alpha * ``fg_net``.
    ``premultiplied`` run in bands of rows, on the inputs' device.

    So a comp over the plate, ``P + (1 - alpha) * B``, reproduces the input exactly at
    alpha >= 0.05 (solid subject and soft edges, motion blur included), over the background up
    to the noise floor and smooth added light, and in shadows only with the shadow layer:
    ``P + (1 - alpha) * B * (1 - shadow)``.

    Args:
        frame: (1, 3, H, W) float32 working linear frame I.
        plate: (1, 3, H, W) float32 working linear plate B, gain-matched and registered.
        alpha: (1, 1, H, W) float32 alpha in [0, 1].
        fg_net: (1, 3, H, W) float32 straight working linear foreground from the network; needed
            only where ``plate_valid`` is below 1.
        plate_valid: Optional (1, 1, H, W) bool or [0, 1] map of where the plate can be trusted.
        noise_floor: (3,) per-channel noise sigma of I - B; estimated when None.
        band_rows: rows per band; None: ``BAND_ROWS`` on the CPU (small, cache-friendly
            temporaries), the whole frame on other devices (the same pixels, fewer syncs).

    Returns:
        A new (1, 3, H, W) float32 premultiplied working linear foreground with channels-last
        strides (its (H, W, 3) array is a view), the only full-size allocation: the work goes in
        bands of rows (the light bound upsampled band by band), so temporaries stay small at 4K.

    Raises:
        ValueError: If the plate is invalid somewhere and ``fg_net`` is None.
    """
    height, width = alpha.shape[2], alpha.shape[3]
    if noise_floor is None:
        noise_floor = background_noise(frame, plate, alpha, plate_valid)
    valid = None if plate_valid is None else plate_valid.float()
    if valid is not None and fg_net is None and bool((valid < 1.0).any()):
        raise ValueError("fg_net is needed where the plate is not valid")
    band_rows = (BAND_ROWS if frame.device.type == "cpu" else height) if band_rows is None else band_rows
    noise = noise_floor.to(device=frame.device, dtype=torch.float32).view(1, 3, 1, 1)
    light = light_bound(frame, plate, alpha, valid) if bool((alpha < BACKGROUND_ALPHA).any()) else None
    # No added light anywhere (the common case): one zero broadcasts where the upsampled bands would be.
    no_light = light is not None and not bool(light.any())
    out = torch.empty((1, 3, height, width), dtype=torch.float32, device=frame.device,
                      memory_format=torch.channels_last)
    for top in range(0, height, band_rows):
        bottom = min(top + band_rows, height)
        band_alpha = alpha[:, :, top:bottom]
        band_light = None
        if light is not None and bool((band_alpha < BACKGROUND_ALPHA).any()):
            band_light = light.new_zeros((1, 1, 1, 1)) if no_light else \
                upsample_bilinear_region(light, (height, width), top, 0, bottom - top, width)
        band_valid = None if valid is None or not bool((valid[:, :, top:bottom] < 1.0).any()) \
            else valid[:, :, top:bottom]
        out[:, :, top:bottom] = premultiplied(frame[:, :, top:bottom], plate[:, :, top:bottom], band_alpha, noise,
                                              band_light,
                                              None if fg_net is None else fg_net[:, :, top:bottom], band_valid)
    return out
