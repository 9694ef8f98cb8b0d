"""Matte quality metrics: Composition-1k (SAD, MSE, Grad, Conn), foreground error, video coherence.

Image metrics follow the Composition-1k evaluation of Xu et al. 2017 ("Deep Image Matting"), with
Grad and Conn from Rhemann et al. 2009 ("A Perceptually Motivated Online Benchmark for Image
Matting"); temporal metrics follow Erofeev et al. 2015 ("Perceptually Motivated Benchmark for Video
Matting"). Every alpha is a float (H, W) array in [0, 1] (the reference code's 8-bit alphas divided
by 255). Each metric takes an optional boolean (H, W) `mask` (e.g. the trimap's unknown band) and
counts only its pixels; filters and connected components always see the whole frame, as in the
reference. A mask without pixels gives 0 (no pixels, no error).

The maths uses OpenCV (a core dependency) rather than SciPy, so `bgmatte eval` runs without extras.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import cv2
import numpy as np

# Scales that make the numbers readable, as the published tables print them.
SAD_SCALE = 1e-3  # Composition-1k: SAD in thousands
MSE_SCALE = 1e3  # Composition-1k tables print MSE x 1000
GRAD_SCALE = 1e-3  # Composition-1k: Grad in thousands
CONN_SCALE = 1e-3  # Composition-1k: Conn in thousands
FG_SCALE = 1e3  # foreground MSE x 1000, like alpha MSE
DTSSD_SCALE = 1e2  # dtSSD x 100, as later video-matting tables (RVM) print it
MESSDDT_SCALE = 1e3  # MESSDdt averages squared alpha errors like MSE, so x 1000 like MSE

GRAD_SIGMA = 1.4  # Composition-1k's Gaussian derivative sigma
GRAD_KERNEL_EPSILON = 1e-2  # kernel half-width: where the Gaussian falls below this (reference)
CONN_STEP = 0.1  # threshold step of the connectivity error
CONN_MIN_DISTANCE = 0.15  # Rhemann et al.: distances below this count as connected
UNKNOWN_BAND_RADIUS = 10  # pixels the 0 < alpha < 1 band is dilated by when no trimap is given


def _as_alpha(alpha: np.ndarray, name: str) -> np.ndarray:
    """Return `alpha` as a float64 (H, W) array; float64 keeps threshold tests exact."""
    array = np.asarray(alpha, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be an (H, W) alpha, got shape {array.shape}")
    return array


def _pair(pred: np.ndarray, true: np.ndarray,
          mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Check that prediction, truth and mask share one (H, W) shape; return float64 copies."""
    pred = _as_alpha(pred, "pred")
    true = _as_alpha(true, "true")
    if pred.shape != true.shape:
        raise ValueError(f"pred shape {pred.shape} differs from true shape {true.shape}")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != pred.shape:
            raise ValueError(f"mask shape {mask.shape} differs from alpha shape {pred.shape}")
    return pred, true, mask


def _masked_sum(error_map: np.ndarray, mask: np.ndarray | None) -> float:
    """Sum an (H, W[, C]) error map over the mask's pixels (all pixels without a mask)."""
    return float(error_map.sum() if mask is None else error_map[mask].sum())


def _masked_mean(error_map: np.ndarray, mask: np.ndarray | None) -> float:
    """Mean of an (H, W[, C]) error map over the mask's pixels; 0 when the mask is empty."""
    values = error_map if mask is None else error_map[mask]
    return float(values.mean()) if values.size else 0.0


def sad(pred: np.ndarray, true: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Sum of absolute differences, in thousands (Composition-1k SAD).

    Args:
        pred: (H, W) predicted alpha in [0, 1].
        true: (H, W) ground-truth alpha in [0, 1].
        mask: optional (H, W) bool; only its pixels count.

    Returns:
        sum |pred - true| / 1000.
    """
    pred, true, mask = _pair(pred, true, mask)
    return _masked_sum(np.abs(pred - true), mask) * SAD_SCALE


def mse(pred: np.ndarray, true: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean squared error over the mask's pixels, times 1000 (as Composition-1k tables print it).

    Args:
        pred: (H, W) predicted alpha in [0, 1].
        true: (H, W) ground-truth alpha in [0, 1].
        mask: optional (H, W) bool; the mean is over its pixels.

    Returns:
        mean (pred - true)^2 * 1000; an alpha off by 0.1 everywhere gives 10.
    """
    pred, true, mask = _pair(pred, true, mask)
    return _masked_mean((pred - true) ** 2, mask) * MSE_SCALE


def gaussian_derivative_kernels(sigma: float = GRAD_SIGMA) -> tuple[np.ndarray, np.ndarray]:
    """1-D kernels whose outer product is the reference's first-order Gaussian derivative filter.

    The Composition-1k filter along x is G_sigma(y) * dG_sigma(x)/dx on a (2h+1)^2 grid, with h the
    offset where the Gaussian drops below `GRAD_KERNEL_EPSILON`, scaled to unit L2 norm. That 2-D
    kernel is separable, and its L2 norm is the product of the two 1-D norms, so each 1-D kernel is
    normalised on its own (h = 4 for sigma = 1.4).

    Returns:
        (smooth, derivative): float64 (2h+1,) kernels, each with unit L2 norm.
    """
    half = math.ceil(sigma * math.sqrt(-2.0 * math.log(math.sqrt(2.0 * math.pi) * sigma * GRAD_KERNEL_EPSILON)))
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    smooth = np.exp(-(offsets**2) / (2.0 * sigma**2)) / (sigma * math.sqrt(2.0 * math.pi))
    derivative = -offsets / sigma**2 * smooth
    return smooth / np.linalg.norm(smooth), derivative / np.linalg.norm(derivative)


def gradient_magnitude(alpha: np.ndarray, sigma: float = GRAD_SIGMA) -> np.ndarray:
    """|grad G_sigma * alpha| of an (H, W) alpha, edges replicated as in the reference; float64 (H, W)."""
    smooth, derivative = gaussian_derivative_kernels(sigma)
    alpha = _as_alpha(alpha, "alpha")
    grad_x = cv2.sepFilter2D(alpha, cv2.CV_64F, derivative, smooth, borderType=cv2.BORDER_REPLICATE)
    grad_y = cv2.sepFilter2D(alpha, cv2.CV_64F, smooth, derivative, borderType=cv2.BORDER_REPLICATE)
    return np.hypot(grad_x, grad_y)


def gradient_error(pred: np.ndarray, true: np.ndarray, mask: np.ndarray | None = None,
                   sigma: float = GRAD_SIGMA) -> float:
    """Gradient error (Rhemann et al. 2009, Composition-1k Grad), in thousands.

    Both alphas are used as given in [0, 1]. The reference code stretches each 8-bit matte to
    [0, 1] by its own min and max (`mat2gray`); for any matte that holds both 0 and 1 that is the
    same as dividing by 255, and skipping it keeps a faint, flat matte from being blown up.

    Args:
        pred: (H, W) predicted alpha in [0, 1].
        true: (H, W) ground-truth alpha in [0, 1].
        mask: optional (H, W) bool; only its pixels count.
        sigma: Gaussian sigma of the derivative filters (1.4 in Composition-1k).

    Returns:
        sum (|grad G pred| - |grad G true|)^2 / 1000.
    """
    pred, true, mask = _pair(pred, true, mask)
    return _masked_sum(_gradient_error_map(pred, true, sigma), mask) * GRAD_SCALE


def _gradient_error_map(pred: np.ndarray, true: np.ndarray, sigma: float = GRAD_SIGMA) -> np.ndarray:
    """Per-pixel (|grad G pred| - |grad G true|)^2 of two checked (H, W) alphas."""
    return (gradient_magnitude(pred, sigma) - gradient_magnitude(true, sigma)) ** 2


def _largest_component(region: np.ndarray) -> np.ndarray:
    """The largest 4-connected component of a bool (H, W) region, as a bool (H, W) map."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(region.astype(np.uint8), connectivity=4)
    if count <= 1:
        return np.zeros_like(region)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == largest


def connectivity_error(pred: np.ndarray, true: np.ndarray, mask: np.ndarray | None = None,
                       step: float = CONN_STEP) -> float:
    """Connectivity error (Rhemann et al. 2009, Composition-1k Conn), in thousands.

    For thresholds t = step, 2 step, ..., 1, the largest 4-connected component of
    (pred >= t) & (true >= t) is found; a pixel's level l is the last threshold before the one at
    which it leaves that component (1 if it never does). The degree of connectivity is
    phi = 1 - d * [d >= 0.15] with d = alpha - l, so an error on a pixel that stays connected to the
    subject is forgiven and the same error on a detached blob is not.

    Args:
        pred: (H, W) predicted alpha in [0, 1].
        true: (H, W) ground-truth alpha in [0, 1].
        mask: optional (H, W) bool; only its pixels count.
        step: threshold step (0.1 in Composition-1k).

    Returns:
        sum |phi(pred) - phi(true)| / 1000.
    """
    pred, true, mask = _pair(pred, true, mask)
    return _masked_sum(_connectivity_error_map(pred, true, step), mask) * CONN_SCALE


def _connectivity_error_map(pred: np.ndarray, true: np.ndarray, step: float = CONN_STEP) -> np.ndarray:
    """Per-pixel |phi(pred) - phi(true)| of two checked (H, W) alphas (see `connectivity_error`)."""
    count = round(1.0 / step)
    thresholds = np.arange(count + 1, dtype=np.float64) / count  # i / n: exact decimals, no drift
    level = np.ones_like(pred)
    still_connected = np.ones(pred.shape, dtype=bool)
    for previous, threshold in zip(thresholds[:-1], thresholds[1:]):
        component = _largest_component((pred >= threshold) & (true >= threshold))
        leaving = still_connected & ~component
        level[leaving] = previous
        still_connected &= component
    pred_distance = pred - level
    true_distance = true - level
    pred_phi = 1.0 - pred_distance * (pred_distance >= CONN_MIN_DISTANCE)
    true_phi = 1.0 - true_distance * (true_distance >= CONN_MIN_DISTANCE)
    return np.abs(pred_phi - true_phi)


def image_scores(pred: np.ndarray, true: np.ndarray,
                 regions: Mapping[str, np.ndarray | None]) -> dict[str, dict[str, float]]:
    """SAD, MSE, Grad and Conn of one frame for several regions, filtering and labelling only once.

    Each value equals `sad` / `mse` / `gradient_error` / `connectivity_error` with that region's mask.

    Args:
        pred: (H, W) predicted alpha in [0, 1].
        true: (H, W) ground-truth alpha in [0, 1].
        regions: name -> (H, W) bool mask, or None for the whole frame.

    Returns:
        region name -> {"sad", "mse", "grad", "conn"} -> value, in the units of those functions.
    """
    pred, true, _ = _pair(pred, true, None)
    absolute = np.abs(pred - true)
    grad_map = _gradient_error_map(pred, true)
    conn_map = _connectivity_error_map(pred, true)
    scores = {}
    for name, mask in regions.items():
        _, _, mask = _pair(pred, true, mask)
        scores[name] = {
            "sad": _masked_sum(absolute, mask) * SAD_SCALE,
            "mse": _masked_mean(absolute**2, mask) * MSE_SCALE,
            "grad": _masked_sum(grad_map, mask) * GRAD_SCALE,
            "conn": _masked_sum(conn_map, mask) * CONN_SCALE,
        }
    return scores


def foreground_error(pred_premult: np.ndarray, true_premult: np.ndarray, alpha_true: np.ndarray) -> float:
    """Mean squared error of the premultiplied foreground where the true alpha is above 0, x 1000.

    The mean runs over those pixels and the three channels. Both images must be in the same
    colourspace (compared as stored: scene-linear values above 1 count in full).

    Args:
        pred_premult: (H, W, 3) predicted premultiplied RGB.
        true_premult: (H, W, 3) ground-truth premultiplied RGB, same colourspace.
        alpha_true: (H, W) ground-truth alpha in [0, 1].

    Returns:
        mean (pred - true)^2 over pixels with alpha_true > 0, times 1000; 0 when there are none.
    """
    pred = np.asarray(pred_premult, dtype=np.float64)
    true = np.asarray(true_premult, dtype=np.float64)
    alpha = _as_alpha(alpha_true, "alpha_true")
    if pred.shape != true.shape or pred.shape != alpha.shape + (3,):
        raise ValueError("expected (H, W, 3) foregrounds and an (H, W) alpha, "
                         f"got {pred.shape}, {true.shape}, {alpha.shape}")
    return _masked_mean((pred - true) ** 2, alpha > 0.0) * FG_SCALE


def dtssd_step(pred: np.ndarray, pred_previous: np.ndarray, true: np.ndarray, true_previous: np.ndarray) -> float:
    """dtSSD of one frame pair: RMS difference of the temporal derivatives, x 100.

    sqrt(mean_p ((pred_t - pred_t-1) - (true_t - true_t-1))^2) * 100. The mean over pixels makes
    proxies and full-resolution frames comparable; x 100 is the scale later video-matting tables use
    (Lin et al. 2021, RVM). All inputs (H, W) in [0, 1].
    """
    pred, true, _ = _pair(pred, true, None)
    pred_previous, true_previous, _ = _pair(pred_previous, true_previous, None)
    if pred.shape != pred_previous.shape:
        raise ValueError(f"frame shape {pred.shape} differs from previous frame shape {pred_previous.shape}")
    change_error = (pred - pred_previous) - (true - true_previous)
    return math.sqrt(float(np.mean(change_error**2))) * DTSSD_SCALE


def _warp_previous(error_previous: np.ndarray, flow: np.ndarray | None) -> np.ndarray:
    """Sample the previous frame's (H, W) error map at p + v_p; no flow means zero motion."""
    if flow is None:
        return error_previous
    flow = np.asarray(flow, dtype=np.float32)
    height, width = error_previous.shape
    if flow.shape != (height, width, 2):
        raise ValueError(f"flow must be (H, W, 2) = {(height, width, 2)}, got {flow.shape}")
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    return cv2.remap(error_previous, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def messddt_step(
    pred: np.ndarray,
    pred_previous: np.ndarray,
    true: np.ndarray,
    true_previous: np.ndarray,
    flow: np.ndarray | None = None,
) -> float:
    """MESSDdt of one frame pair: how much the squared error changes along the motion, x 1000.

    mean_p |E_p(t) - E_{p+v_p}(t-1)| * 1000 with E = (pred - true)^2 and v the motion of the true
    matte from frame t back to t-1. Without `flow` the motion is zero: a static camera and subject
    are measured exactly; anything that moves is counted as if it flickered.

    Args:
        pred, pred_previous, true, true_previous: (H, W) alphas in [0, 1] at frames t and t-1.
        flow: optional float (H, W, 2) displacement (dx, dy) in pixels from each pixel of frame t
            to where it was in frame t-1.
    """
    pred, true, _ = _pair(pred, true, None)
    pred_previous, true_previous, _ = _pair(pred_previous, true_previous, None)
    if pred.shape != pred_previous.shape:
        raise ValueError(f"frame shape {pred.shape} differs from previous frame shape {pred_previous.shape}")
    error = (pred - true) ** 2
    error_previous = _warp_previous((pred_previous - true_previous) ** 2, flow)
    return float(np.mean(np.abs(error - error_previous))) * MESSDDT_SCALE


def _frame_pairs(pred_seq: Sequence[np.ndarray], true_seq: Sequence[np.ndarray]) -> list[tuple[np.ndarray, ...]]:
    """(pred_t, pred_t-1, true_t, true_t-1) for t = 1..T-1; raises ValueError on a length mismatch."""
    if len(pred_seq) != len(true_seq):
        raise ValueError(f"pred has {len(pred_seq)} frames, true has {len(true_seq)}")
    if len(pred_seq) < 2:
        raise ValueError("temporal metrics need at least 2 frames")
    return [(pred_seq[t], pred_seq[t - 1], true_seq[t], true_seq[t - 1]) for t in range(1, len(pred_seq))]


def dtssd(pred_seq: Sequence[np.ndarray], true_seq: Sequence[np.ndarray]) -> float:
    """dtSSD of a sequence (Erofeev et al. 2015): the mean of `dtssd_step` over consecutive frames.

    Args:
        pred_seq: T >= 2 predicted (H, W) alphas (a list or a (T, H, W) array).
        true_seq: the T ground-truth (H, W) alphas.
    """
    return float(np.mean([dtssd_step(*pair) for pair in _frame_pairs(pred_seq, true_seq)]))


def messddt(pred_seq: Sequence[np.ndarray], true_seq: Sequence[np.ndarray],
            flow: Iterable[np.ndarray] | None = None) -> float:
    """MESSDdt of a sequence (Erofeev et al. 2015): the mean of `messddt_step` over consecutive frames.

    Args:
        pred_seq: T >= 2 predicted (H, W) alphas (a list or a (T, H, W) array).
        true_seq: the T ground-truth (H, W) alphas.
        flow: optional T-1 (H, W, 2) backward flows, flow[t-1] from frame t to frame t-1; without
            it the motion is taken as zero (see `messddt_step`).
    """
    pairs = _frame_pairs(pred_seq, true_seq)
    flows = [None] * len(pairs) if flow is None else list(flow)
    if len(flows) != len(pairs):
        raise ValueError(f"expected {len(pairs)} flow fields, got {len(flows)}")
    return float(np.mean([messddt_step(*pair, flow=step_flow) for pair, step_flow in zip(pairs, flows)]))


def trimap_unknown(true_alpha: np.ndarray, radius: int = UNKNOWN_BAND_RADIUS) -> np.ndarray:
    """The unknown band of a ground-truth matte: pixels with 0 < alpha < 1, dilated by a disc.

    Args:
        true_alpha: (H, W) ground-truth alpha in [0, 1].
        radius: dilation radius in pixels (0 keeps the band as is).

    Returns:
        bool (H, W), True in the unknown band.
    """
    alpha = _as_alpha(true_alpha, "true_alpha")
    band = ((alpha > 0.0) & (alpha < 1.0)).astype(np.uint8)
    if radius > 0:
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        band = cv2.dilate(band, disc)
    return band.astype(bool)


def unknown_from_trimap(trimap: np.ndarray) -> np.ndarray:
    """The unknown region of a trimap image: its grey (0.5) pixels.

    Values strictly between 0.25 and 0.75 count, so float trimaps (0.5) and 8-bit ones
    (127/255 or 128/255) both work.

    Args:
        trimap: (H, W) trimap, 0 = background, 0.5 = unknown, 1 = foreground.

    Returns:
        bool (H, W), True where the trimap is unknown.
    """
    values = np.asarray(trimap)
    return (values > 0.25) & (values < 0.75)
