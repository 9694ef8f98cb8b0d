"""Full-resolution alpha: refine only the uncertain band, tile by tile, from the plate and a guided filter.

Departure from the papers: the CVPR 2020 paper outputs alpha at the network's resolution, and
its CVPR 2021 follow-up (BGMv2, Lin et al.) refines the uncertain patches with a second, learned
network. We keep the patch idea but use no learned parameters: inside the band, alpha comes from
projecting the full-resolution frame onto the line from plate to foreground colour (the
compositing equation I = aF + (1 - a)B solved for a, with F the network's foreground upsampled),
trusted where F and B differ, and otherwise from a colour guided-filter upsampling of the
network alpha. The guide is the plate difference I - B (= a(F - B) by the compositing equation),
not the frame, so the plate's own texture cannot imprint on the matte. Outside the band, alpha
is the bilinear upsampling of the network alpha.

The network's foreground is a working-size colour: inside a mesh or a tuft of strands it is a blend
of subject and plate, and the projection on it says "half covered" everywhere. So the band is
solved again (FIT_PASSES times): each further pass projects onto the foreground that best explains
the frame around each pixel given the previous pass's alpha (least squares of the compositing
equation in a small full-resolution window, `local_foreground`), which is the subject's own colour
once a window holds some of its covered pixels, and trusts it down to a lower contrast. Only when
the network ran below the frame's resolution: at the frame's own size its foreground is already
per pixel, and a second pass measured worse there (whole-image Grad of the 320 px shots +30-50 %).

Behind a veil, a film or smoke the network's alpha is good but its foreground colour is not (the
colour of a barely covered pixel is barely constrained in training), and the projection onto it
turns a right alpha into a biased, plate-textured one. So where the plate's detail shows through
the subject (`bgmatte.priors.see_through`), the band is projected onto the colour that explains
the frame with the network's own alpha instead (`band_foreground`). Elsewhere the network's colour
stays: there the projection is what corrects the network's alpha (plate-coloured subjects,
close-ups, meshes).
"""
from __future__ import annotations

import logging

import numpy as np
import torch
from torch import Tensor

from bgmatte.filters import dilate_square, quantile, upsample_bilinear
from bgmatte.priors.resample import as_nchw, downsample_area
from bgmatte.priors.see_through import plate_transmission
from bgmatte.refine.guided_filter import box_mean, guided_filter_coefficients
from bgmatte.refine.sampling import bilinear_taps, upsample_bilinear_region

log = logging.getLogger(__name__)

BAND_LOW = 0.02  # low-resolution alpha strictly between these is uncertain
BAND_HIGH = 0.98
BAND_DILATION = 1  # low-resolution pixels added around the band, so all of it gets full weight
GUIDE_RADIUS = 1  # guided filter window radius, low-resolution pixels
GUIDE_EPS = 1e-3  # guided filter regulariser, in ((frame - plate) / mean level)^2 units
# |F - B| at which the plate projection gets half the weight, x the frame's mean level. Chosen on
# the tune splits of validation sets at 384, 1024 and 2048 px (0.1, 0.2, 0.4, 0.8, 1.6 and the
# guided filter alone tried): lower trusts the network's upsampled foreground colour too much in
# hair and fur, higher loses detail at 4x upsampling.
CONTRAST_SCALE = 0.8
PROJECTION_EPS = 1e-3  # keeps the projection finite where F = B, x mean level
# The fitted passes (module docstring): window radius of the local foreground fit, full-resolution
# pixels; weight of the network's foreground in it (against the window's mean alpha^2, so it rules
# where the first pass found no coverage); the contrast scale of the projection onto the fitted
# foreground; how many fitted passes follow the first. Chosen on the four photographic validation
# sets (radius 2, 4, 8; contrast 0.2, 0.4, 0.8): the fitted colour is right often enough to be
# trusted at half the first contrast. Two fitted passes were ~1 % better on every mean number for
# +0.1 s per HD frame (+0.24 s at 4K), so one is run.
FIT_RADIUS = 4
FIT_PRIOR = 0.05
FIT_CONTRAST_SCALE = 0.4
FIT_PASSES = 1
# The see-through foreground (module docstring): the transmission is measured on a copy this many
# times smaller than the working size (it is a smooth map; a quarter of the pixels costs a quarter
# of the time, and scored the same), and the consistent colour is fitted in windows of this radius
# at the working size with the network's colour as one observation of this weight.
SEE_THROUGH_REDUCTION = 2
CONSISTENT_RADIUS = 1
CONSISTENT_PRIOR = 0.05
MIN_LEVEL = 1e-6  # floor of the frame's mean level (a black frame)
# Values above this multiple of the frame's median do not raise its mean level further: a few
# pixels of sun or specular (thousands of times the scene) would otherwise set the unit of the
# guide and the contrast scale, and at small frame sizes wash out the whole matte.
LEVEL_CLIP = 64.0


def _dot3(x: Tensor, y: Tensor, channel_dim: int) -> Tensor:
    """Per-pixel dot product over the 3 channels along ``channel_dim``, reduced, in a fixed order
    (tiles, points and the whole frame agree)."""
    return (x.select(channel_dim, 0) * y.select(channel_dim, 0) + x.select(channel_dim, 1) * y.select(channel_dim, 1)
            + x.select(channel_dim, 2) * y.select(channel_dim, 2))


def frame_level(frame_low: Tensor, min_level: float = MIN_LEVEL, clip: float = LEVEL_CLIP) -> float:
    """The frame's mean level at the working size, values clipped at ``clip`` x its median (>= min_level).

    The unit of the guide and of the contrast scale; it scales with exposure. One torch function for
    the core and the exported graph (constants are arguments: TorchScript cannot read module globals).

    Args:
        frame_low: the working linear frame at the working size, any shape (all values count).
    """
    values = frame_low.reshape(-1).to(torch.float64)
    median = float(quantile(values, 0.5))
    if median > 0.0:
        values = values.clamp(max=clip * median)
    return max(float(values.mean()), min_level)


def uncertain_band(alpha_low: Tensor, low: float = BAND_LOW, high: float = BAND_HIGH,
                   dilation: int = BAND_DILATION) -> Tensor:
    """(1, 1, h, w) -> (1, 1, h, w) float32 mask: 1 where low < alpha < high, dilated by ``dilation`` pixels.

    One torch function for the core and the exported graph (constants are arguments: TorchScript
    cannot read module globals; callers leave them).
    """
    return dilate_square(((alpha_low > low) & (alpha_low < high)).float(), dilation)


def refine_guide(frame_low: Tensor, plate_low: Tensor, min_level: float = MIN_LEVEL) -> tuple[Tensor, float]:
    """The guided filter's guide: the plate difference at the working size over the frame's mean level.

    float64: with the level robust to highlights, the guide's moments of a frame-only highlight (an
    unclamped render) overflow float32.

    Args:
        frame_low, plate_low: (1, 3, h, w) working linear frame and gain-matched plate at the working size.
        min_level: the module's MIN_LEVEL.

    Returns:
        ((1, 3, h, w) float64 guide, the level as a float).
    """
    level = frame_level(frame_low, min_level)
    return (frame_low - plate_low).double() / level, level


def _check_inputs(alpha_low: np.ndarray, frame: np.ndarray, plate: np.ndarray, fg_low: np.ndarray, tile: int) -> None:
    """Raise ValueError when the arrays do not have the documented shapes."""
    if alpha_low.ndim != 2:
        raise ValueError(f"alpha_low: expected (h, w), got {alpha_low.shape}")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame: expected (H, W, 3), got {frame.shape}")
    if plate.shape != frame.shape:
        raise ValueError(f"plate: expected (H, W, 3) = {frame.shape} like the frame, got {plate.shape}")
    if fg_low.shape != alpha_low.shape + (3,):
        raise ValueError(f"fg_low: expected (h, w, 3) = {alpha_low.shape + (3,)} like alpha_low, got {fg_low.shape}")
    if alpha_low.shape[0] > frame.shape[0] or alpha_low.shape[1] > frame.shape[1]:
        raise ValueError(f"alpha_low {alpha_low.shape} is larger than the frame {frame.shape[:2]}")
    if tile < 1:
        raise ValueError(f"tile must be >= 1, got {tile}")


def band_tiles(band: Tensor, size: tuple[int, int], tile: int) -> list[tuple[int, int, int, int]]:
    """The full-resolution tiles whose bilinear footprint in the low-resolution band holds a band pixel.

    Tiles elsewhere upsample to band weight 0 everywhere and are left as the upsampled network
    alpha. The footprints are counted all at once on an integral image of the band.

    Args:
        band: (1, 1, h, w) float32 band mask at low resolution.
        size: full resolution (H, W).
        tile: side of the square tiles.

    Returns:
        (top, left, height, width) of each tile to refine, row by row.
    """
    height, width = size
    low = (band[0, 0] > 0).to(torch.int64).cpu()
    integral = torch.zeros((low.shape[0] + 1, low.shape[1] + 1), dtype=torch.int64)
    integral[1:, 1:] = low.cumsum(0).cumsum(1)

    def footprints(full: int, low_size: int) -> tuple[Tensor, Tensor, Tensor]:
        starts = torch.arange(0, full, tile)
        first = bilinear_taps(full, low_size, starts)[0]
        last = bilinear_taps(full, low_size, (starts + tile).clamp(max=full) - 1)[1]
        return starts, first, last + 1

    tops, row0, row1 = footprints(height, low.shape[0])
    lefts, col0, col1 = footprints(width, low.shape[1])
    counts = (integral[row1][:, col1] - integral[row0][:, col1] - integral[row1][:, col0]
              + integral[row0][:, col0])
    return [(int(tops[i]), int(lefts[j]), min(tile, height - int(tops[i])), min(tile, width - int(lefts[j])))
            for i, j in torch.nonzero(counts).tolist()]


def refined_alpha(upsampled: Tensor, weight: Tensor, image: Tensor, background: Tensor, fg: Tensor,
                  coeff_a: Tensor, coeff_b: Tensor, level: float, channel_dim: int,
                  contrast_scale: float = CONTRAST_SCALE, projection_eps: float = PROJECTION_EPS) -> Tensor:
    """Full-resolution alpha at band pixels: the plate projection where F and B differ, else the guided filter,
    blended into the upsampled network alpha by the band weight.

    Any layout: the channels of the (3-channel) inputs lie along ``channel_dim``; the other inputs
    have that axis removed (the core passes (3, N) pixel lists, the exported graph whole frames).

    Args:
        upsampled: bilinear upsampling of the network alpha.
        weight: the upsampled band weight in [0, 1]; where it is 0 the result is ``upsampled``.
        image, background: working linear frame I and gain-matched plate B.
        fg: the network's foreground F, upsampled.
        coeff_a, coeff_b: the guided filter's coefficients (3 channels and 1), upsampled.
        level: the frame's mean level, the unit of the guide and of the contrast scale.
        channel_dim: the channel axis of the 3-channel inputs.
        contrast_scale, projection_eps: the module's constants.

    Returns:
        alpha in [0, 1], shaped like ``upsampled``.
    """
    difference = image - background
    guided = (_dot3(coeff_a, difference, channel_dim) / level + coeff_b).clamp(0.0, 1.0)
    spread = fg - background
    spread2 = _dot3(spread, spread, channel_dim)
    projected = (_dot3(difference, spread, channel_dim) / (spread2 + (projection_eps * level) ** 2)).clamp(0.0, 1.0)
    confidence = spread2 / (spread2 + (contrast_scale * level) ** 2)
    estimate = confidence * projected + (1.0 - confidence) * guided
    return torch.where(weight > 0, upsampled + weight * (estimate - upsampled), upsampled)


def local_foreground(alpha: Tensor, frame: Tensor, plate: Tensor, fg: Tensor, radius: int = FIT_RADIUS,
                     prior: float = FIT_PRIOR) -> Tensor:
    """The foreground colour that explains the frame best around each pixel, given alpha.

    Least squares of the compositing equation I - (1 - a)B = aF over the (2r+1)^2 window (cut at
    the border), with ``prior`` x the network's foreground added as one more observation at full
    weight, so a window without coverage keeps the network's colour. Equal on a crop with ``radius``
    pixels of context and on the whole frame. One torch function for the core and the exported graph.

    Args:
        alpha: (1, 1, H, W) alpha; frame, plate: (1, 3, H, W) working linear; fg: (1, 3, H, W) the
            network's straight foreground, upsampled.
        radius, prior: the module's FIT_RADIUS and FIT_PRIOR.

    Returns:
        (1, 3, H, W) straight foreground colour.
    """
    explained = frame - (1.0 - alpha) * plate
    return (box_mean(alpha * explained, radius) + prior * fg) / (box_mean(alpha * alpha, radius) + prior)


def band_foreground(alpha_low: Tensor, frame_low: Tensor, plate_low: Tensor, fg_low: Tensor,
                    reduction: int = SEE_THROUGH_REDUCTION, radius: int = CONSISTENT_RADIUS,
                    prior: float = CONSISTENT_PRIOR, low: float = BAND_LOW) -> Tensor:
    """The foreground colour the band is projected onto: the network's, moved towards the colour that
    explains the frame with the network's alpha as far as the plate shows through the subject.

    One torch function for the core and the exported graph (constants are arguments).

    Args:
        alpha_low: (1, 1, h, w) network alpha; frame_low, plate_low: (1, 3, h, w) working linear frame
            and gain-matched plate at the working size; fg_low: (1, 3, h, w) the network's straight
            foreground.
        reduction, radius, prior, low: the module's SEE_THROUGH_REDUCTION, CONSISTENT_RADIUS,
            CONSISTENT_PRIOR and BAND_LOW.

    Returns:
        (1, 3, h, w) straight foreground colour.
    """
    height, width = alpha_low.shape[2], alpha_low.shape[3]
    small_height, small_width = max(1, height // reduction), max(1, width // reduction)
    subject = (downsample_area(alpha_low, small_height, small_width) > low).float()
    seen = plate_transmission(downsample_area(frame_low, small_height, small_width),
                              downsample_area(plate_low, small_height, small_width), subject)
    weight = upsample_bilinear(seen, [height, width]) * (alpha_low > low).float()
    consistent = local_foreground(alpha_low, frame_low, plate_low, fg_low, radius, prior)
    return fg_low + weight * (consistent - fg_low)


def fitted_alpha(upsampled: Tensor, weight: Tensor, image: Tensor, background: Tensor, fg: Tensor,
                   coeff_a: Tensor, coeff_b: Tensor, level: float, fit: bool, radius: int = FIT_RADIUS,
                   fit_contrast_scale: float = FIT_CONTRAST_SCALE, passes: int = FIT_PASSES) -> Tensor:
    """``refined_alpha`` on the network's foreground, then (when ``fit``: the network ran below the
    frame's resolution) ``passes`` times again, each on the `local_foreground` fitted to the alpha
    before it (module docstring).

    All inputs as `refined_alpha` takes them with the channel axis 1: (1, 3, H, W) colours, (1, H, W)
    one-channel maps. With ``fit`` the result is exact on the region ``passes * radius`` pixels inside
    the inputs' edges (or up to the frame's own edges).

    Returns:
        (1, H, W) alpha in [0, 1].
    """
    alpha = refined_alpha(upsampled, weight, image, background, fg, coeff_a, coeff_b, level, 1)
    if not fit:
        return alpha
    for _ in range(passes):
        fitted = local_foreground(alpha.unsqueeze(1), image, background, fg, radius)
        alpha = refined_alpha(upsampled, weight, image, background, fitted, coeff_a, coeff_b, level, 1,
                              contrast_scale=fit_contrast_scale)
    return alpha


def refine_whole_frame(alpha_low: Tensor, frame: Tensor, plate: Tensor, fg_low: Tensor, frame_low: Tensor,
                       plate_low: Tensor, level: float, a: Tensor, b: Tensor) -> Tensor:
    """``refine_alpha`` computed on the whole frame at once, as the exported graph does (the
    Inference node hands it the whole frame; the core's tiles are exact crops of this result).

    Args:
        alpha_low: (1, 1, h, w) network alpha in [0, 1].
        frame, plate: (1, 3, H, W) float32 working linear frame and gain-matched plate.
        fg_low: (1, 3, h, w) working linear straight network foreground.
        frame_low, plate_low: the frame and plate area-downsampled to (h, w), as ``refine_guide`` took them.
        level: the level from ``refine_guide``.
        a, b: the guided filter's coefficients (1, 1, 3, h, w) and (1, 1, h, w), from
            ``guided_filter_coefficients(guide, alpha_low, GUIDE_RADIUS, GUIDE_EPS)`` in float64.

    Returns:
        (1, 1, H, W) float32 alpha in [0, 1].
    """
    size = [frame.shape[2], frame.shape[3]]
    fg_low = band_foreground(alpha_low, frame_low, plate_low, fg_low)
    low = torch.cat([uncertain_band(alpha_low), fg_low, a[:, 0].float(), b.float()], dim=1)
    sampled = upsample_bilinear(low, size)
    fit = size[0] != alpha_low.shape[2] or size[1] != alpha_low.shape[3]
    refined = fitted_alpha(upsample_bilinear(alpha_low, size)[:, 0], sampled[:, 0], frame, plate, sampled[:, 1:4],
                             sampled[:, 4:7], sampled[:, 7], level, fit)
    return refined.unsqueeze(1)


def refine_alpha(alpha_low: np.ndarray, frame: np.ndarray, plate: np.ndarray, fg_low: np.ndarray,
                 tile: int = 256) -> np.ndarray:
    """``refine_band`` of arrays: (h, w) network alpha, (H, W, 3) frame and plate, (h, w, 3) foreground
    -> (H, W) float32 alpha in [0, 1].

    Raises:
        ValueError: If the shapes do not match the above.
    """
    _check_inputs(alpha_low, frame, plate, fg_low, tile)
    return refine_band(as_nchw(alpha_low), as_nchw(frame), as_nchw(plate), as_nchw(fg_low), tile=tile)[0, 0].numpy()


def refine_band(alpha_low: Tensor, frame: Tensor, plate: Tensor, fg_low: Tensor, frame_low: Tensor | None = None,
                plate_low: Tensor | None = None, tile: int | None = None) -> Tensor:
    """Upsample the network alpha to full resolution, refining the uncertain band from the plate.

    Memory: one full-resolution float32 plane (the result) and temporaries bounded by ``tile``,
    whatever the frame size. Only tiles whose footprint holds band pixels are computed, each whole
    (dense tile maths is cheaper than gathering its band pixels one by one); every pixel outside
    the band keeps the bilinear upsampling of ``alpha_low``. The result does not depend on ``tile``.
    Everything runs on the inputs' device; the working-size band goes to the CPU only to decide
    which tiles to visit.

    Args:
        alpha_low: (1, 1, h, w) network alpha in [0, 1] at the working resolution.
        frame: (1, 3, H, W) float32 working linear (ACEScg) frame at full resolution.
        plate: (1, 3, H, W) float32 working linear clean plate, registered and gain-matched.
        fg_low: (1, 3, h, w) working linear straight (unpremultiplied) network foreground.
        frame_low, plate_low: the frame and plate area-downsampled to (h, w), when the caller has
            them (the pipeline's network inputs); else computed here.
        tile: side of the square tiles, in full-resolution pixels; None: 256 on the CPU (cache-sized
            temporaries), the whole frame on other devices (one pass, no per-tile syncs).

    Returns:
        (1, 1, H, W) float32 alpha in [0, 1].
    """
    alpha_low = alpha_low.float()
    height, width = frame.shape[2], frame.shape[3]
    low_size = (alpha_low.shape[2], alpha_low.shape[3])
    tile = (256 if frame.device.type == "cpu" else max(height, width)) if tile is None else tile
    if tile < 1:
        raise ValueError(f"tile must be >= 1, got {tile}")
    alpha = upsample_bilinear(alpha_low, [height, width]) if low_size != (height, width) else alpha_low.clone()
    band = uncertain_band(alpha_low)
    if not bool(band.any()):
        return alpha
    frame_low = downsample_area(frame, *low_size) if frame_low is None else frame_low
    plate_low = downsample_area(plate, *low_size) if plate_low is None else plate_low
    guide_low, level = refine_guide(frame_low, plate_low)
    a, b = guided_filter_coefficients(guide_low, alpha_low.double(), GUIDE_RADIUS, GUIDE_EPS)
    fg_low = band_foreground(alpha_low, frame_low.float(), plate_low.float(), fg_low.float())
    # (1, 9, h, w): network alpha, band weight, foreground, guided-filter coefficients, upsampled
    # tile by tile, with the fitted passes' windows as context (FIT_PASSES * FIT_RADIUS), then cropped.
    low = torch.cat([alpha_low, band, fg_low.float(), a[:, 0].float(), b.float()], dim=1)
    size = (height, width)
    tiles = band_tiles(band, size, tile)
    fit = low_size != size
    context = FIT_PASSES * FIT_RADIUS if fit else 0
    for top, left, rows, cols in tiles:
        y0, x0 = max(top - context, 0), max(left - context, 0)
        y1, x1 = min(top + rows + context, height), min(left + cols + context, width)
        sampled = upsample_bilinear_region(low, size, y0, x0, y1 - y0, x1 - x0)
        refined = fitted_alpha(sampled[:, 0], sampled[:, 1], frame[:, :, y0:y1, x0:x1], plate[:, :, y0:y1, x0:x1],
                                 sampled[:, 2:5], sampled[:, 5:8], sampled[:, 8], level, fit)
        inner = refined[:, None, top - y0:top - y0 + rows, left - x0:left - x0 + cols]
        alpha[:, :, top:top + rows, left:left + cols] = inner
    log.debug("refined %d tiles of %d px", len(tiles), tile)
    return alpha
