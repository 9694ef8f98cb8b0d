"""The plate's exposure match: the per-channel gain that maps the clean plate onto the frame's background.

A plate pass drifts from its take by a few percent (auto exposure, a cloud, white balance). Where
the background shows, the log-ratio frame/plate clusters tightly around that drift, while the
subject's ratios spread over the plate's texture; so the gain is the mode of the ratio's
distribution (a weighted histogram, then mean shift), not its median, which fails as soon as the
subject covers half the frame. The estimate is bounded to ``GAIN_MAX`` either way, goes per channel
only where the background supports it, and reports how much of the frame agrees with it, so the
pipeline can re-estimate on the background that the network's first pass found.

One torch implementation (TorchScript-compatible) serves the core and the exported graph.
"""
from __future__ import annotations

import logging
import math

import numpy as np
import torch
from torch import Tensor

from bgmatte.filters import quantile
from bgmatte.priors.resample import as_array, as_nchw, downsample_area, resample, working_shape

logger = logging.getLogger(__name__)

# Work on a copy this small: it averages noise away and costs a few milliseconds.
GAIN_WORKING_SIZE = 256
# The plate is never scaled by more than this factor either way (one stop); a larger difference
# between a take and its plate pass is a deliberate change that ``--gain-match R,G,B`` states.
GAIN_MAX = 2.0
# Histogram of the log-ratio: bin width and the Gaussian kernel that smooths it (log units).
GAIN_BIN = 0.002
GAIN_BANDWIDTH = 0.006
# Drifts of a few percent are the rule: the density is weighted by a Gaussian prior this wide
# around gain 1 (log units), so a subject's colour cannot outvote a slightly smaller background.
GAIN_PRIOR = 0.25
# Mean shift and the inliers of the mode: this half-width around it (log units, ~2 %).
GAIN_WINDOW = 0.02
GAIN_MEAN_SHIFT_STEPS = 5
# Pixels darker than this fraction of the plate's bright level carry noise, not exposure.
GAIN_DYNAMIC_RANGE = 1e-3
GAIN_BRIGHT_QUANTILE = 0.99
# Fewer agreeing pixels than this (count, and weighted share) and the gain stays 1.
GAIN_MIN_PIXELS = 16
GAIN_MIN_SUPPORT = 0.01
# Below this weighted share of agreeing pixels the estimate counts as uncertain.
GAIN_CONFIDENT_SUPPORT = 0.5
# Channels get their own gain when the mode's inliers hold at least this many pixels.
GAIN_CHANNEL_MIN_PIXELS = 64
# ... searched within this log distance of the common gain (white balance drifts less than exposure).
GAIN_CHANNEL_LIMIT = 0.15
# A working-size sample is usable where its masks cover it at least this much.
USABLE_COVER = 0.999
# The network's first pass is background where its alpha is below this.
BACKGROUND_ALPHA = 0.02
# A second estimate that moves the gain by more than this (log units, 1 %) re-runs the network;
# a smaller change does not change the matte.
GAIN_RERUN_CHANGE = 0.01


def _mode(values: Tensor, weights: Tensor, centre: float, limit: float, prior: float,
          bin_width: float = GAIN_BIN, bandwidth: float = GAIN_BANDWIDTH) -> float:
    """Highest peak of the weighted density of ``values`` in centre +- limit, times a Gaussian prior
    of width ``prior`` around ``centre``."""
    bins = int(math.ceil(2.0 * limit / bin_width)) + 1
    index = torch.round((values - centre + limit) / bin_width).long()
    inside = (index >= 0) & (index < bins)
    index = index.clamp(0, bins - 1)
    weights = weights * inside.to(weights.dtype)
    histogram = torch.bincount(index, weights=weights, minlength=bins).to(torch.float64)
    radius = int(math.ceil(3.0 * bandwidth / bin_width))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64, device=values.device) * bin_width
    kernel = torch.exp(-0.5 * (offsets / bandwidth) ** 2)
    density = torch.nn.functional.conv1d(histogram.view(1, 1, -1), kernel.view(1, 1, -1), padding=radius).view(-1)
    grid = torch.arange(bins, dtype=torch.float64, device=values.device) * bin_width - limit
    peak = int(torch.argmax(density * torch.exp(-0.5 * (grid / prior) ** 2)))
    return centre + peak * bin_width - limit


def _mean_shift(values: Tensor, weights: Tensor, start: float, window: float, steps: int) -> float:
    """Weighted mean shift of ``values`` from ``start`` with a flat window of half-width ``window``."""
    centre = start
    for _ in range(steps):
        near = (torch.abs(values - centre) <= window).to(weights.dtype) * weights
        total = float(near.sum())
        if total <= 0.0:
            break
        centre = float((near * values).sum()) / total
    return centre


def estimate_gain(frame: Tensor, plate: Tensor, usable: Tensor, max_gain: float = GAIN_MAX,
                  prior: float = GAIN_PRIOR, window: float = GAIN_WINDOW, steps: int = GAIN_MEAN_SHIFT_STEPS,
                  dynamic_range: float = GAIN_DYNAMIC_RANGE, bright_quantile: float = GAIN_BRIGHT_QUANTILE,
                  min_pixels: int = GAIN_MIN_PIXELS, min_support: float = GAIN_MIN_SUPPORT,
                  channel_min_pixels: int = GAIN_CHANNEL_MIN_PIXELS, channel_limit: float = GAIN_CHANNEL_LIMIT
                  ) -> tuple[Tensor, float]:
    """The per-channel gain frame/plate of the background, and the weighted share of pixels that agree.

    Args:
        frame: (N, 3) working-linear frame samples (e.g. the pixels of a <=256 px copy).
        plate: (N, 3) plate samples at the same places.
        usable: (N,) weights in [0, 1]: 0 where the plate is unknown or the pixel is surely subject.
        max_gain, prior, ...: the module's tuning constants (arguments because TorchScript cannot
            read module globals; callers leave them).

    Returns:
        (gain, support): the (3,) float32 gain, each channel in [1/GAIN_MAX, GAIN_MAX] (exactly 1
        when too few pixels agree), and the weighted share of usable pixels whose ratio lies within
        ``GAIN_WINDOW`` of it (0 when no estimate was made).
    """
    ones = torch.ones(3, dtype=torch.float32, device=frame.device)
    frame = frame.to(torch.float64)
    plate = plate.to(torch.float64)
    usable = usable.to(torch.float64)
    candidates = plate.sum(dim=1)[usable > 0]
    if candidates.numel() < min_pixels:
        return ones, 0.0
    bright = float(quantile(candidates, bright_quantile))
    if not bright > 0.0:
        return ones, 0.0
    floor = dynamic_range * bright
    lit = (usable > 0) & (frame.sum(dim=1) > floor) & (plate.sum(dim=1) > floor)
    lit &= torch.all(frame > 0.0, dim=1) & torch.all(plate > 0.0, dim=1)
    if int(lit.sum()) < min_pixels:
        return ones, 0.0
    frame, plate = frame[lit], plate[lit]
    frame_level, plate_level = frame.sum(dim=1), plate.sum(dim=1)
    # Brighter pixels carry more signal over the noise; capped so a few highlights cannot outvote the rest.
    weights = usable[lit] * torch.clamp(torch.minimum(frame_level, plate_level), max=bright) ** 2
    total = float(weights.sum())
    level_ratio = torch.log(frame_level) - torch.log(plate_level)
    limit = math.log(max_gain)
    in_range = (torch.abs(level_ratio) <= limit).to(torch.float64) * weights
    if float(in_range.sum()) <= 0.0:
        return ones, 0.0
    centre = _mode(level_ratio, in_range, 0.0, limit, prior)
    centre = _mean_shift(level_ratio, in_range, centre, window, steps)
    agree = torch.abs(level_ratio - centre) <= window
    support = float(weights[agree].sum()) / total
    if support < min_support or int(agree.sum()) < min_pixels:
        return ones, 0.0
    gains = [centre, centre, centre]
    if int(agree.sum()) >= channel_min_pixels:
        ratio = torch.log(frame[agree]) - torch.log(plate[agree])
        inlier_weights = weights[agree]
        for channel in range(3):
            start = _mode(ratio[:, channel], inlier_weights, centre, channel_limit, channel_limit)
            gains[channel] = _mean_shift(ratio[:, channel], inlier_weights, start, window,
                                         steps)
    gain = torch.tensor(gains, dtype=torch.float64, device=frame.device).clamp(-limit, limit)
    return torch.exp(gain).to(torch.float32), support


def gain_changed(first: np.ndarray | Tensor, second: np.ndarray | Tensor) -> bool:
    """Whether two gains differ by more than ``GAIN_RERUN_CHANGE`` in any channel (worth a second pass)."""
    first_t, second_t = (torch.as_tensor(g).to(torch.float64) for g in (first, second))
    return bool((torch.abs(torch.log(second_t / first_t.to(second_t.device))) > GAIN_RERUN_CHANGE).any())


def plate_gain_samples(frame: Tensor, plate: Tensor, usable: list[Tensor] | None = None
                       ) -> tuple[Tensor, Tensor, Tensor]:
    """(N, 3) frame and plate samples of a <=256 px copy, and the (N,) map of usable samples.

    Args:
        frame, plate: (1, 3, H, W) full-resolution working linear.
        usable: (1, 1, h, w) [0, 1] maps at any resolution (the plate's valid area at full
            resolution, the network's background at working resolution); a sample is usable where
            every map covers it completely.
    """
    size = working_shape(frame.shape[2], frame.shape[3], GAIN_WORKING_SIZE)
    frame_small = downsample_area(frame, *size)[0].reshape(3, -1).t()
    plate_small = downsample_area(plate, *size)[0].reshape(3, -1).t()
    weight = torch.ones(size, dtype=torch.float32, device=frame.device)
    for mask in usable or []:
        weight = weight * (resample(mask.float(), *size)[0, 0] >= USABLE_COVER)
    return frame_small, plate_small, weight.reshape(-1)


def gain_samples(frame: np.ndarray, plate: np.ndarray, usable: list[np.ndarray] | None = None
                 ) -> tuple[Tensor, Tensor, Tensor]:
    """``plate_gain_samples`` of (H, W, 3) arrays and (h, w) maps."""
    return plate_gain_samples(as_nchw(frame), as_nchw(plate), [as_nchw(m) for m in usable or []])


def network_background(alpha_low: np.ndarray | Tensor) -> np.ndarray | Tensor:
    """Map of where the network's first pass saw plain background (alpha near 0): float32, shaped and
    typed (array or tensor, on its device) like ``alpha_low``."""
    if isinstance(alpha_low, Tensor):
        return (alpha_low < BACKGROUND_ALPHA).float()
    return (np.asarray(alpha_low) < BACKGROUND_ALPHA).astype(np.float32)


def match_plate_gain(frame: Tensor, plate: Tensor, usable: list[Tensor] | None = None) -> tuple[Tensor, Tensor, float]:
    """``match_gain`` of (1, 3, H, W) tensors and (1, 1, h, w) usable maps, on their device.

    Returns:
        (matched_plate, gain, support): a new (1, 3, H, W) ``plate * gain``, the (3,) float32 gain
        and the weighted share of pixels that agree with it.
    """
    if frame.shape != plate.shape or frame.dim() != 4 or frame.shape[1] != 3:
        raise ValueError(f"frame and plate must both be (1, 3, H, W), got {tuple(frame.shape)} and {tuple(plate.shape)}")
    gain, support = estimate_gain(*plate_gain_samples(frame, plate, usable))
    logger.debug("plate gain %s, %.0f%% of the frame agrees", gain.tolist(), 100.0 * support)
    return plate * gain.view(1, 3, 1, 1), gain, support


def match_gain(frame: np.ndarray, plate: np.ndarray, usable: list[np.ndarray] | None = None
               ) -> tuple[np.ndarray, np.ndarray, float]:
    """Scale the plate per channel so that its exposure matches the frame's background.

    The NumPy entry point of ``match_plate_gain``.

    Args:
        frame: (H, W, 3) float32 working linear frame.
        plate: (H, W, 3) float32 working linear clean plate, registered to the frame.
        usable: Optional [0, 1] maps of where the plate may be compared (any resolution): the
            plate's valid area, the background that the network's first pass found.

    Returns:
        (matched_plate, gain, support): a new (H, W, 3) float32 ``plate * gain`` (the input is left
        untouched), the (3,) float32 gain and the weighted share of pixels that agree with it.
    """
    if frame.shape != plate.shape or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame and plate must both be (H, W, 3), got {frame.shape} and {plate.shape}")
    matched, gain, support = match_plate_gain(as_nchw(frame), as_nchw(plate), [as_nchw(m) for m in usable or []])
    return as_array(matched), gain.numpy(), support
