"""How much of the plate's own detail shows through the frame: the local transmission (1 - alpha).

The compositing equation I = aF + (1 - a)B says that behind a subject of coverage a the plate's
detail reaches the frame scaled by (1 - a), the same in every channel. Regressing the frame's
band-pass detail on the plate's, per channel in a soft window, estimates that factor wherever the
plate has detail: about 1 on the background, about 0 behind an opaque subject (its own texture
does not follow the plate's), in between behind a veil, a film, smoke or glass; the least of the
channels is kept. The automatic prior uses it (`bgmatte.priors.segmentation.hint_blob`) so that a
semi-transparent subject is not hinted as solid and the blob's border over the plate (around an
edge, between strands) is not hinted at all. The band starts above a pixel, so sub-pixel plate
shifts, sensor noise and compression-like softening barely lower the estimate. Over faint plate
detail a subject's own pattern can follow the plate's by chance, so inside the subject the
estimate asks for more plate detail than outside, where frame and plate agree.
"""
from __future__ import annotations

import torch
from torch import Tensor

from bgmatte.color import exposure
from bgmatte.filters import gaussian_blur, upsample_bilinear
from bgmatte.priors.resample import downsample_area

# Band-pass of the detail compared, working-size pixels: a difference of Gaussians. The fine end
# is above a pixel (plate shift and softening decorrelate finer detail), the coarse end below the
# size of a subject's shading.
DETAIL_FINE_SIGMA = 1.0
DETAIL_COARSE_SIGMA = 3.0
# Gaussian window of the local regression, working-size pixels; its sums are taken on a copy this
# many times smaller (the window is smooth, and a full-size blur of this width costs ~0.2 s at HD).
WINDOW_SIGMA = 8.0
WINDOW_REDUCTION = 4
# Plate detail energy (per pixel, in units of the plate's squared mean level) below which the plate
# is too plain to show through: there the transmission is reported as 0 (nothing is known). Inside
# the subject the floor is higher: over faint plate detail a subject's own pattern can follow the
# plate's by chance (a shaded figure before a softly patterned wall), while outside, where frame
# and plate agree, faint detail is enough.
DETAIL_FLOOR = 1e-4
SUBJECT_DETAIL_FLOOR = 1e-3
# Outside the subject, frame and plate are compared up to this multiple of the plate's exposure
# level: the blur tails of a light or a specular highlight that both show would otherwise read as
# plate detail seen through a subject next to it (inside, a bright subject keeps its detail).
HIGHLIGHT_CLIP = 16.0
# An opaque subject's own texture correlates with the plate's by chance, up to about this much
# within one window: transmissions below it read as 0 and the rest is rescaled to reach 1 at 1.
CHANCE = 0.1
MIN_LEVEL = 1e-6


def _detail(x: Tensor, fine: float, coarse: float) -> Tensor:
    """Band-pass detail of a (1, C, h, w) image: its blur at ``fine`` minus its blur at ``coarse``."""
    return gaussian_blur(x, fine) - gaussian_blur(x, coarse)


def _window(x: Tensor, window: float, reduction: int) -> Tensor:
    """The Gaussian-window mean of (1, C, h, w) ``x``, taken on a ``reduction`` times smaller copy."""
    height, width = x.shape[2], x.shape[3]
    small_height, small_width = max(1, height // reduction), max(1, width // reduction)
    small = downsample_area(x, small_height, small_width)
    scale = float(small_width) / float(width)
    return upsample_bilinear(gaussian_blur(small, window * scale), [height, width])


def _regression(frame_detail: Tensor, plate_detail: Tensor, weight: Tensor, window: float, reduction: int,
                floor: float, chance: float) -> Tensor:
    """The windowed regression of frame detail on plate detail over the pixels ``weight`` counts,
    per channel; the least of the channels with plate detail (none: 0)."""
    sums = _window(torch.cat([weight * frame_detail * plate_detail, weight * plate_detail * plate_detail, weight], 1),
                   window, reduction)
    shared, energy, support = sums[:, 0:3], sums[:, 3:6], sums[:, 6:7]
    ratio = ((shared / energy.clamp(min=1e-12) - chance) / (1.0 - chance)).clamp(0.0, 1.0)
    known = energy > floor / 3.0 * support
    candidates = torch.where(known, ratio, torch.ones_like(ratio))
    least = torch.minimum(torch.minimum(candidates[:, 0:1], candidates[:, 1:2]), candidates[:, 2:3])
    return least * (known.float().sum(dim=1, keepdim=True) > 0.0).float()


def plate_transmission(frame_lin: Tensor, plate_lin: Tensor, subject: Tensor, fine: float = DETAIL_FINE_SIGMA,
                       coarse: float = DETAIL_COARSE_SIGMA, window: float = WINDOW_SIGMA,
                       reduction: int = WINDOW_REDUCTION, floor: float = DETAIL_FLOOR,
                       subject_floor: float = SUBJECT_DETAIL_FLOOR, highlight: float = HIGHLIGHT_CLIP,
                       chance: float = CHANCE, min_level: float = MIN_LEVEL) -> Tensor:
    """The share of the plate's detail that the frame shows, in [0, 1].

    Inside the subject the regression counts the subject's pixels only, so the plate seen around
    it does not leak into its border; outside, it counts every pixel, so the plate seen between
    strands and around an edge reads as seen. One TorchScript-compatible function for the core
    and the exported graph (constants are arguments because TorchScript cannot read module
    globals; callers leave them).

    Args:
        frame_lin: (1, 3, h, w) working-linear frame at the working size.
        plate_lin: (1, 3, h, w) working-linear gain-matched plate, same size.
        subject: (1, 1, h, w) float mask of where the frame differs from the plate.

    Returns:
        (1, 1, h, w) float32: about 1 where the plate is seen as it is, 1 - alpha behind a
        semi-transparent subject, 0 behind an opaque one and where the plate has no detail to see.
    """
    inside = subject.float()
    cap = highlight * exposure.plate_level(plate_lin.float(), torch.ones_like(inside))
    outside = inside < 0.5
    frame = torch.where(outside, frame_lin.float().clamp(max=cap), frame_lin.float())
    plate = torch.where(outside, plate_lin.float().clamp(max=cap), plate_lin.float())
    level = plate.mean().clamp(min=min_level)
    frame_detail = _detail(frame / level, fine, coarse)
    plate_detail = _detail(plate / level, fine, coarse)
    within = _regression(frame_detail, plate_detail, inside, window, reduction, subject_floor, chance)
    everywhere = _regression(frame_detail, plate_detail, torch.ones_like(inside), window, reduction, floor, chance)
    return inside * within + (1.0 - inside) * everywhere
