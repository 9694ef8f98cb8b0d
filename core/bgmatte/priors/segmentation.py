"""The soft segmentation prior S: a rough soft blob over the subject that the network refines.

The paper runs DeepLabv3+ and then erodes, dilates and blurs its mask so that the network learns
to treat S as a hint, not as the answer. No such weights can be shipped here, so the automatic
prior comes from the frame/plate difference, processed the same way. A user roto goes through
:func:`process_mask` alone; keyer-style garbage and core mattes override the prior and the alpha.
The maths is torch (TorchScript-compatible), one function per step for the core and the exported
graph (``soft_prior``, ``coverage_prior``, ``rough_blob``, ``override_mattes`` are what the pipeline
runs on the model's device); the NumPy functions are their entry points for arrays.

A frame larger than the working size gets its automatic prior from its own resolution
(``coverage_prior``): at the working size a tuft of sparse strands covers part of every pixel, so the
difference mask fills it and the network, which follows its hint, fogs the plate seen between the
strands; found at a higher resolution (COVERAGE_SCALE) and area-averaged, the mask is the share of
each working pixel the subject covers, and the blob's erosion keeps only what is mostly covered, as
for a user roto.
"""
from __future__ import annotations

import logging

import numpy as np
import torch
from torch import Tensor

from bgmatte.color.encoding import decode_from_network, encode_for_network, luminance
from bgmatte.filters import dilate_disc, erode_disc, gaussian_blur, gaussian_kernel, round_even
from bgmatte.priors.components import component_labels, opencv_labels, remove_specks
from bgmatte.priors.resample import as_nchw, downsample_area, working_shape
from bgmatte.priors.see_through import plate_transmission


logger = logging.getLogger(__name__)

# process_mask: amounts like the paper's at a 512 px image (it erodes 10-20 times with a 3x3
# kernel, dilates further, then blurs with a 31 px Gaussian), as fractions of the longest side
# so that the prior looks the same at any working size.
ERODE_FRACTION = 10 / 512
DILATE_FRACTION = 15 / 512
BLUR_SIGMA_FRACTION = 5 / 512

# soft_segmentation: difference smoothing, threshold and clean-up.
DIFFERENCE_BLUR_FRACTION = 1 / 256
# A pixel is subject where the smoothed difference exceeds this many sigmas of the noise that the
# plate itself carries (frame and plate come from the same camera) ...
THRESHOLD_SIGMAS = 8.0
# ... combined with what a misregistration of this many working-size pixels leaves at plate edges.
REGISTRATION_PX = 1.0
# Smallest encoded difference that counts as subject (about 1/6 stop in the ACEScct log range),
# for clean plates where the noise estimate is close to 0.
MIN_THRESHOLD = 0.01
# The plate's noise is measured separately in this many brightness bins (each this large at least).
LEVEL_BINS = 8
MIN_BIN_PIXELS = 64
# The noise statistics are taken on a regular grid of about this many pixels (every pixel at the
# working size; a stride at the coverage prior's size, where the robust medians cost ~0.3 s).
NOISE_SAMPLE_PIXELS = 100_000
# hint_blob: when the blob's erosion deletes every region of the subject mask, the regions of at least
# this share of the image (12 px at 768x432) get a blob of their own. Chosen on the four photographic
# sets (12, 40, 100 px at 768x432, given to every deleted region: mean SAD of seed 5000 10.99 ->
# 10.58, 10.56, 10.68; seed 2000 12.19 -> 11.99, 12.06, 12.17); smaller parts are specks.
SMALL_PART_FRACTION = 12.0 / (768 * 432)
# coverage_prior: the subject mask is found at up to this many times the working size (the frame's
# own size if smaller), with a difference blur of this many pixels there. Chosen on the four
# photographic validation sets: 1.5x, 2x or the frame's size, blur 1 or 2 px all scored within
# 0.5 % of each other (mean SAD of seed 2000 14.42 -> 12.19-12.25, seeds 3000-5000 within +0.5 %
# to -1 %), 1.25x a little worse (seed 2000 12.28); 1.5x costs least.
COVERAGE_SCALE = 1.5
COVERAGE_BLUR_PX = 1.0


def rough_blob(mask: Tensor, scale: float = 1.0, erode_fraction: float = ERODE_FRACTION,
               dilate_fraction: float = DILATE_FRACTION, blur_fraction: float = BLUR_SIGMA_FRACTION) -> Tensor:
    """Erode, dilate more than eroded, then blur a mask, as the paper does to its DeepLab prior.

    Thin parts and specks vanish, the body grows a little and its border turns soft, so the
    result is a rough blob: a hint for the network, never a finished matte. Kernel sizes are
    fractions of the longest side, so 256 px and 1024 px give the same shape at their scale.

    Args:
        mask: (1, 1, h, w) float mask of the subject, values in [0, 1].
        scale: Multiplier on every kernel size (1 = the paper's amounts; training varies it).
        erode_fraction, dilate_fraction, blur_fraction: the module's constants (arguments because
            TorchScript cannot read module globals; callers leave them).

    Returns:
        A new (1, 1, h, w) float32 soft mask in [0, 1].
    """
    longest = float(max(mask.shape[2], mask.shape[3])) * scale
    result = mask.float().clamp(0.0, 1.0)
    erode_radius = round_even(erode_fraction * longest)
    # The net growth sets the blob's size: round it on its own so sizes agree across resolutions.
    dilate_radius = erode_radius + round_even((dilate_fraction - erode_fraction) * longest)
    if erode_radius > 0:
        result = erode_disc(result, erode_radius)
    if dilate_radius > 0:
        result = dilate_disc(result, dilate_radius)
    sigma = blur_fraction * longest
    if sigma >= 0.3:
        result = gaussian_blur(result, sigma)
    return result.clamp(0.0, 1.0)


def process_mask(mask: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """``rough_blob`` of an (h, w) float32 or bool mask in [0, 1]: a new (h, w) float32 soft mask."""
    if mask.ndim != 2:
        raise ValueError(f"expected an (h, w) mask, got shape {mask.shape}")
    blob = rough_blob(as_nchw(mask), scale)
    return blob[0, 0].numpy()


def subject_mask(frame_enc: Tensor, plate_enc: Tensor, blur_fraction: float = DIFFERENCE_BLUR_FRACTION,
                 sample_pixels: int = NOISE_SAMPLE_PIXELS) -> Tensor:
    """Where the frame differs from its plate by more than the plate's noise and edges explain.

    The per-channel difference is blurred against noise and thresholded where it exceeds what the
    plate's own noise (measured per brightness level, since the encoding amplifies the noise of dark
    areas) and a slight misregistration at the plate's edges can explain (:func:`noise_threshold`).
    Nothing is measured on the frame, so the subject may cover any share of it, from none to all.

    Args:
        frame_enc: (1, 3, h, w) float32 frame in the network encoding, at working size.
        plate_enc: (1, 3, h, w) float32 gain-matched plate in the network encoding, same size.
        blur_fraction: the difference blur as a fraction of the longest side (at least 1 px).
        sample_pixels: the module's NOISE_SAMPLE_PIXELS.

    Returns:
        (h, w) bool.
    """
    sigma = max(1.0, blur_fraction * max(frame_enc.shape[2], frame_enc.shape[3]))
    difference = gaussian_blur(frame_enc - plate_enc, sigma)
    magnitude = torch.sqrt((difference * difference).sum(dim=1))[0]
    stride = 1  # integer maths only (the op set of the exported graph)
    while (stride + 1) * (stride + 1) * sample_pixels <= frame_enc.shape[2] * frame_enc.shape[3]:
        stride += 1
    return magnitude > noise_threshold(plate_enc, gaussian_kernel(sigma, plate_enc.device), stride=stride)


def soft_prior(frame_enc: Tensor, plate_enc: Tensor) -> Tensor:
    """The automatic prior: where the frame differs from its plate, processed like the paper's S.

    :func:`subject_mask`, then specks removed (labelled by OpenCV, see
    :mod:`bgmatte.priors.components`), then :func:`hint_blob`. Enclosed gaps stay background.

    Args:
        frame_enc: (1, 3, h, w) float32 frame in the network encoding, at working size, any device.
        plate_enc: (1, 3, h, w) float32 gain-matched plate in the network encoding, same size.

    Returns:
        (1, 1, h, w) float32 soft segmentation in [0, 1], on their device.
    """
    if frame_enc.shape != plate_enc.shape or frame_enc.dim() != 4 or frame_enc.shape[1] != 3:
        raise ValueError(f"frame and plate must both be (1, 3, h, w), got {tuple(frame_enc.shape)} "
                         f"and {tuple(plate_enc.shape)}")
    subject = subject_mask(frame_enc.float(), plate_enc.float())
    labels = opencv_labels(subject)
    subject = remove_specks(subject, labels)
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("soft segmentation: %.1f%% subject", 100.0 * float(subject.double().mean()))
    return hint_blob(subject.float()[None, None], frame_enc, plate_enc, labels)


def coverage_prior(frame_lin: Tensor, plate_lin: Tensor, frame_enc: Tensor, plate_enc: Tensor) -> Tensor:
    """The automatic prior of a frame larger than the working size (module docstring): its
    :func:`coverage_mask`, then :func:`hint_blob` with the mostly covered regions labelled by OpenCV.

    Args:
        frame_lin, plate_lin: (1, 3, H, W) working-linear frame and gain-matched plate at full resolution.
        frame_enc, plate_enc: (1, 3, h, w) the same, downsampled to the working size and encoded.

    Returns:
        (1, 1, h, w) float32 prior in [0, 1].
    """
    coverage = coverage_mask(frame_lin, plate_lin, frame_enc)
    return hint_blob(coverage, frame_enc, plate_enc, opencv_labels(coverage[0, 0] >= 0.5))


def scripted_coverage_prior(frame_lin: Tensor, plate_lin: Tensor, frame_enc: Tensor, plate_enc: Tensor) -> Tensor:
    """``coverage_prior`` with the labelling TorchScript runs (``component_labels``), for the exported graph."""
    coverage = coverage_mask(frame_lin, plate_lin, frame_enc)
    return hint_blob(coverage, frame_enc, plate_enc, component_labels(coverage[0, 0] >= 0.5))


def coverage_mask(frame_lin: Tensor, plate_lin: Tensor, frame_enc: Tensor, scale: float = COVERAGE_SCALE,
                  blur_px: float = COVERAGE_BLUR_PX) -> Tensor:
    """The share of each working pixel that the subject covers: :func:`subject_mask` at ``scale``
    times the working size (at most the frame's own size; a ``blur_px`` difference blur there),
    area-averaged to the working size. Specks need no labelling here: an isolated pixel covers a
    small share of a working pixel and the blob's erosion removes it.

    Args:
        frame_lin, plate_lin: (1, 3, H, W) working-linear frame and gain-matched plate at full resolution.
        frame_enc: (1, 3, h, w) the frame at the working size (its shape is the output's).
        scale, blur_px: the module's COVERAGE_SCALE and COVERAGE_BLUR_PX.

    Returns:
        (1, 1, h, w) float32 in [0, 1].
    """
    longest = round_even(scale * float(max(frame_enc.shape[2], frame_enc.shape[3])))
    height, width = working_shape(frame_lin.shape[2], frame_lin.shape[3], longest)
    if height != frame_lin.shape[2] or width != frame_lin.shape[3]:
        frame_lin = downsample_area(frame_lin, height, width)
        plate_lin = downsample_area(plate_lin, height, width)
    subject = subject_mask(encode_for_network(frame_lin.float()), encode_for_network(plate_lin.float()),
                           blur_px / float(max(height, width)))
    return downsample_area(subject.float()[None, None], frame_enc.shape[2], frame_enc.shape[3])


def soft_segmentation(frame_enc: np.ndarray, plate_enc: np.ndarray) -> np.ndarray:
    """``soft_prior`` of (h, w, 3) float32 encoded frame and plate: the (h, w) float32 prior in [0, 1]."""
    if frame_enc.shape != plate_enc.shape or frame_enc.ndim != 3:
        raise ValueError(f"frame and plate must both be (h, w, 3), got {frame_enc.shape} and {plate_enc.shape}")
    return soft_prior(as_nchw(frame_enc), as_nchw(plate_enc))[0, 0].numpy()


def scripted_soft_segmentation(frame_enc: Tensor, plate_enc: Tensor) -> Tensor:
    """``soft_segmentation`` of (1, 3, h, w) tensors with the labelling TorchScript runs
    (``component_labels``), for the exported graph: (1, 1, h, w) float32."""
    subject = subject_mask(frame_enc, plate_enc)
    labels = component_labels(subject)
    subject = remove_specks(subject, labels)
    return hint_blob(subject.float()[None, None], frame_enc, plate_enc, labels)


def hint_blob(subject: Tensor, frame_enc: Tensor, plate_enc: Tensor, labels: Tensor) -> Tensor:
    """The subject's rough blob, with its small parts kept, times (1 - transmission): lowered where
    the plate's detail shows.

    The network follows its hint: a veil hinted as solid comes out too opaque, and the blob's
    dilated, blurred border over the plate (around an edge, between sparse strands) turns into
    fog. The transmission (:func:`bgmatte.priors.see_through.plate_transmission`) is about 0
    behind opaque parts, so their hint stays whole. When the blob's erosion deletes every region (a
    small subject, or one that shows only in fragments, as a plate-coloured one does), the regions
    get a blob of their own (:func:`small_parts`), or the network would get no hint at all; beside
    a surviving body they get none (rings of curly strands near it measured worse hinted).

    Args:
        subject: (1, 1, h, w) float share of each pixel that is subject, in [0, 1] (:func:`subject_mask`
            without specks, or its area average from a higher resolution); the transmission and the
            regions count the pixels at least half covered as the subject's.
        frame_enc, plate_enc: (1, 3, h, w) encoded frame and gain-matched plate at the same size.
        labels: (h, w) int64 labels of the 8-connected regions of ``subject >= 0.5`` (any labelling
            of them, or of a mask that contains them, region by region, such as before specks were removed).

    Returns:
        (1, 1, h, w) float32 prior in [0, 1].
    """
    mask = subject.float()
    inside = (mask >= 0.5).float()
    transmission = plate_transmission(decode_from_network(frame_enc.float()), decode_from_network(plate_enc.float()),
                                      inside)
    blob = rough_blob(mask)
    if float(blob.max()) <= 0.5:
        blob = small_parts(inside, labels)
    return blob * (1.0 - transmission)


def small_parts(inside: Tensor, labels: Tensor, fraction: float = SMALL_PART_FRACTION,
                erode_fraction: float = ERODE_FRACTION, dilate_fraction: float = DILATE_FRACTION) -> Tensor:
    """A blob of the regions of ``inside`` of at least ``fraction`` of the image, for when the rough
    blob's erosion deletes them all: opened by one pixel (a strand of the difference blur's width
    goes), grown by the rough blob's net growth and blurred, not eroded further.

    Args:
        inside: (1, 1, h, w) float 0/1 subject mask; labels: (h, w) int64 labels of its regions.
        fraction, erode_fraction, dilate_fraction: the module's constants.

    Returns:
        (1, 1, h, w) float32 in [0, 1].
    """
    flat = labels.reshape(-1)
    member = inside.reshape(-1)
    areas = torch.bincount(flat, weights=member.double(), minlength=flat.numel() + 1)
    kept = areas >= fraction * float(flat.numel())
    kept[0] = False
    parts = erode_disc((kept[flat].float() * member).view(inside.shape), 1)
    return rough_blob(dilate_disc(parts, 1), erode_fraction=0.0, dilate_fraction=dilate_fraction - erode_fraction)


def noise_threshold(plate_enc: Tensor, blur_kernel: Tensor, bins: int = LEVEL_BINS,
                    min_bin_pixels: int = MIN_BIN_PIXELS, sigmas: float = THRESHOLD_SIGMAS,
                    registration_px: float = REGISTRATION_PX, minimum: float = MIN_THRESHOLD,
                    stride: int = 1) -> Tensor:
    """Per-pixel threshold of the blurred difference magnitude, from the plate alone.

    The plate's noise per channel is estimated with Immerkaer's mask (a second difference that
    ignores smooth shading and ramps), robustly (median), in ``bins`` equal-count brightness bins;
    the blurred difference of two such images has ``2 sigma^2 sum(k^2)`` variance per channel. A
    misregistration of ``registration_px`` adds that many pixels of the plate's gradient. One
    TorchScript-compatible function for the core and the exported graph.

    Args:
        plate_enc: (1, 3, h, w) gain-matched plate in the network encoding.
        blur_kernel: (k,) the separable Gaussian that smooths the difference.
        bins, min_bin_pixels, sigmas, registration_px, minimum: the module's constants
            (arguments because TorchScript cannot read module globals; callers leave them).
        stride: the noise is measured on every ``stride``-th pixel of every ``stride``-th row.

    Returns:
        (h, w) float32 thresholds.
    """
    plate = plate_enc.to(torch.float64)
    height, width = plate.shape[2], plate.shape[3]
    # The statistics are float64; the per-pixel maps float32, as is the difference they threshold.
    level = luminance(plate_enc.float())[0, 0]
    noise_power = torch.zeros_like(level)
    if height >= 3 and width >= 3:
        mask = torch.tensor([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]], dtype=torch.float64,
                            device=plate.device)
        response = torch.abs(torch.nn.functional.conv2d(plate, mask.view(1, 1, 3, 3).repeat(3, 1, 1, 1),
                                                        stride=stride, groups=3))[0]
        inner = luminance(plate[:, :, 1:-1:stride, 1:-1:stride])[0, 0].reshape(-1)
        response = response.reshape(3, -1)
        edges = torch.quantile(inner, torch.linspace(0.0, 1.0, bins + 1, dtype=torch.float64, device=plate.device))
        centres: list[float] = []
        powers: list[float] = []
        for index in range(bins):
            in_bin = (inner >= edges[index]) & (inner <= edges[index + 1])
            if int(in_bin.sum()) >= min_bin_pixels:
                sigma = 1.4826 / 6.0 * torch.median(response[:, in_bin], dim=1)[0]
                centres.append(0.5 * float(edges[index] + edges[index + 1]))
                powers.append(float((sigma * sigma).sum()))
        if len(centres) > 0:
            noise_power = _interpolate(level, centres, powers)
    kernel = blur_kernel.to(torch.float64)
    noise_power = noise_power * (2.0 * float((kernel * kernel).sum()) ** 2)
    plate = plate_enc.float()
    rows = torch.cat([plate[:, :, 1:2] - plate[:, :, 0:1], 0.5 * (plate[:, :, 2:] - plate[:, :, :-2]),
                      plate[:, :, -1:] - plate[:, :, -2:-1]], dim=2) if height >= 2 else torch.zeros_like(plate)
    cols = torch.cat([plate[:, :, :, 1:2] - plate[:, :, :, 0:1], 0.5 * (plate[:, :, :, 2:] - plate[:, :, :, :-2]),
                      plate[:, :, :, -1:] - plate[:, :, :, -2:-1]], dim=3) if width >= 2 else torch.zeros_like(plate)
    edge_power = (registration_px ** 2) * (rows * rows + cols * cols).sum(dim=1)[0]
    threshold = torch.sqrt(sigmas * sigmas * noise_power + edge_power)
    return threshold.clamp(min=minimum)


def _interpolate(x: Tensor, xp: list[float], fp: list[float]) -> Tensor:
    """``np.interp`` for increasing ``xp``: piecewise linear, constant beyond the ends."""
    points = torch.tensor(xp, dtype=x.dtype, device=x.device)
    values = torch.tensor(fp, dtype=x.dtype, device=x.device)
    if points.numel() == 1:
        return torch.full_like(x, fp[0])
    upper = torch.bucketize(x.clamp(points[0], points[-1]), points).clamp(1, points.numel() - 1)
    lower = upper - 1
    span = (points[upper] - points[lower]).clamp(min=1e-12)
    t = ((x - points[lower]) / span).clamp(0.0, 1.0)
    return values[lower] + t * (values[upper] - values[lower])


def combine_mattes(
    seg: np.ndarray, garbage: np.ndarray | None = None, core: np.ndarray | None = None
) -> np.ndarray:
    """The prior with keyer-style overrides: ``garbage`` forces it to 0, ``core`` to 1.

    Args:
        seg: (h, w) float32 soft segmentation in [0, 1]; left untouched.
        garbage: Optional (h, w) [0, 1] matte of what is surely background.
        core: Optional (h, w) [0, 1] matte of what is surely subject.

    Returns:
        A new (h, w) float32 prior (see :func:`apply_overrides` for the rule).
    """
    return apply_overrides(seg.astype(np.float32, copy=True), garbage, core)


def apply_overrides(
    alpha: np.ndarray, garbage: np.ndarray | None = None, core: np.ndarray | None = None
) -> np.ndarray:
    """``override_mattes`` of an (H, W) float32 matte, in place, with (H, W) [0, 1] overrides.

    Returns:
        ``alpha`` itself.
    """
    for name, override in (("core", core), ("garbage", garbage)):
        if override is not None and override.shape != alpha.shape:
            raise ValueError(f"{name} matte is {override.shape}, the matte it overrides is {alpha.shape}")
    override_mattes(torch.from_numpy(alpha)[None, None], None if garbage is None else as_nchw(garbage),
                    None if core is None else as_nchw(core))
    return alpha


def override_mattes(alpha: Tensor, garbage: Tensor | None = None, core: Tensor | None = None) -> Tensor:
    """Force a matte to 1 inside ``core`` and then to 0 inside ``garbage``, softly, in place.

    ``m = m + (1 - m) * core`` then ``m = m * (1 - garbage)``: soft override edges blend, and
    where both overlap the garbage matte wins (a garbage matte is drawn to remove things).
    In place because the final alpha is full resolution (4K and beyond).

    Args:
        alpha: (1, 1, H, W) float32 matte in [0, 1], modified in place.
        garbage: Optional (1, 1, H, W) [0, 1] matte of what is surely background.
        core: Optional (1, 1, H, W) [0, 1] matte of what is surely subject.

    Returns:
        ``alpha`` itself.
    """
    for name, override in (("core", core), ("garbage", garbage)):
        if override is not None and override.shape != alpha.shape:
            raise ValueError(f"{name} matte is {tuple(override.shape)}, the matte it overrides is {tuple(alpha.shape)}")
    if core is not None:
        alpha += (1.0 - alpha) * core.clamp(0.0, 1.0)
    if garbage is not None:
        alpha *= 1.0 - garbage.clamp(0.0, 1.0)
    return alpha
