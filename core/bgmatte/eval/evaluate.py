"""Score a predicted matte sequence against ground truth, frame by frame and over time.

Predictions are RGBA EXRs (alpha from A, premultiplied RGB used for the foreground error) or
single-channel mattes; truth is single-channel or RGBA (alpha from A; its RGB, when present, is the
true premultiplied foreground). Each frame is scored over the whole image and over the unknown band
(a trimap file's grey pixels, else the truth's 0 < alpha < 1 dilated); dtSSD and MESSDdt follow
when there are two frames or more. Every cheap problem (missing frames, unreadable headers, sizes
that differ, missing channels) is reported together before any pixel is read.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bgmatte.errors import FrameError, InputError, InputErrors
from bgmatte.eval import metrics
from bgmatte.io import ImageHeader, Window, read_header, read_mask, read_rgb, rgb_channels
from bgmatte.sequence import FramePattern

log = logging.getLogger(__name__)

IMAGE_METRICS = ("sad", "mse", "grad", "conn")
REGIONS = ("whole", "unknown")
UNITS = {
    "sad": "sum |pred - true| / 1000",
    "mse": "mean (pred - true)^2 x 1000",
    "grad": "sum (|grad G1.4 pred| - |grad G1.4 true|)^2 / 1000",
    "conn": "sum |phi pred - phi true| / 1000 (step 0.1)",
    "fg_mse": "mean (premult pred - premult true)^2 over alpha_true > 0 and RGB, x 1000",
    "dtssd": "mean over frame pairs of rms(d pred/dt - d true/dt) x 100",
    "messddt": "mean over frame pairs of mean |E(t) - E(t-1)| x 1000, E = (pred - true)^2, zero motion",
}
ALPHA_RANGE_TOLERANCE = 1e-3  # alphas this far outside [0, 1] are reported before clipping


@dataclass
class EvalPlan:
    """A checked evaluation: which frames, from which files, at which size.

    Attributes:
        pred, truth: the patterns; trimap: optional pattern of trimap files.
        frames: the frames to score, in order (a single file is frame 1).
        width, height: the display window size every file shares.
        pred_has_rgb: the predictions carry premultiplied R, G, B.
        truth_has_rgb: the truth carries premultiplied R, G, B (needed for the foreground error).
    """

    pred: FramePattern
    truth: FramePattern
    trimap: FramePattern | None
    frames: list[int]
    width: int
    height: int
    pred_has_rgb: bool
    truth_has_rgb: bool


@dataclass
class FrameScore:
    """One frame's scores: per region ("whole", "unknown") a dict of metric -> value; fg_mse or None."""

    frame: int
    regions: dict[str, dict[str, float]]
    fg_mse: float | None
    unknown_pixels: int


def _channel_names(header: ImageHeader) -> set[str]:
    """Lower-case channel names without layer prefixes (``rgba.A`` -> ``a``)."""
    return {name.rsplit(".", 1)[-1].lower() for name in header.channels}


def has_rgb(header: ImageHeader) -> bool:
    """The file has one R, G, B set that `bgmatte.io.read_rgb` would read (any layer prefix, any case)."""
    try:
        rgb_channels(header.channels, header.path)
    except InputError:
        return False
    return True


def _has_alpha(header: ImageHeader) -> bool:
    """An alpha can be read: an A (or alpha) channel, or a single channel."""
    return bool({"a", "alpha"} & _channel_names(header)) or len(header.channels) == 1


def _select_frames(pred: FramePattern, frames: list[int] | None) -> list[int]:
    """The frames to score: the given ones, else first to last prediction on disk (a single file is frame 1)."""
    if frames is not None:
        if not frames:
            raise InputError("--frames", "no frames to evaluate")
        return sorted(set(frames))
    if not pred.is_sequence:
        return [1]
    on_disk = pred.frames_on_disk()
    if not on_disk:
        raise InputError(pred.text, "no frames on disk match this pattern")
    return list(range(on_disk[0], on_disk[-1] + 1))


def _checked_header(path: Path, role: str, frame: int, errors: list[InputError]) -> ImageHeader | None:
    """The header of one file, or None with the problem appended to `errors`."""
    if not path.exists():
        errors.append(InputError(path, f"missing {role} frame {frame}"))
        return None
    try:
        return read_header(path)
    except InputError as error:
        errors.append(error)
        return None


def plan_evaluation(pred_pattern: str, true_pattern: str, frames: list[int] | None = None,
                    trimap_pattern: str | None = None) -> EvalPlan:
    """Run every cheap check of an evaluation and return its plan.

    Args:
        pred_pattern: predicted mattes, e.g. ``out/matte.####.exr`` (RGBA or single channel).
        true_pattern: ground-truth mattes (single channel or RGBA).
        frames: frames to score; default first to last prediction on disk.
        trimap_pattern: optional trimaps (0 / 0.5 / 1) giving the unknown band.

    Raises:
        InputError / InputErrors: one entry per problem (missing frame, unreadable header, size or
            channel mismatch), before any pixel is read.
    """
    pred = FramePattern(pred_pattern)
    truth = FramePattern(true_pattern)
    trimap = FramePattern(trimap_pattern) if trimap_pattern else None
    wanted = _select_frames(pred, frames)
    errors: list[InputError] = []
    size: tuple[int, int] | None = None
    first: Path | None = None
    pred_has_rgb = truth_has_rgb = True
    roles = [("prediction", pred), ("truth", truth)] + ([("trimap", trimap)] if trimap else [])
    for frame in wanted:
        for role, pattern in roles:
            path = pattern.path(frame)
            header = _checked_header(path, role, frame, errors)
            if header is None:
                continue
            display: Window = header.display_window
            if size is None:
                size, first = (display.width, display.height), path
            elif (display.width, display.height) != size:
                errors.append(InputError(path, f"is {display.width}x{display.height}, "
                                               f"{first.name} is {size[0]}x{size[1]}"))
                continue
            if role != "trimap" and not _has_alpha(header):
                errors.append(InputError(path, f"has channels ({', '.join(header.channels)}); "
                                               f"the {role} needs an A channel or a single channel"))
            if role == "prediction":
                pred_has_rgb = pred_has_rgb and has_rgb(header)
            elif role == "truth":
                truth_has_rgb = truth_has_rgb and has_rgb(header)
    if errors:
        raise InputErrors(errors)
    width, height = size
    return EvalPlan(pred=pred, truth=truth, trimap=trimap, frames=wanted, width=width, height=height,
                    pred_has_rgb=pred_has_rgb, truth_has_rgb=truth_has_rgb)


def _check_finite(pixels: np.ndarray, path: Path) -> None:
    """Refuse NaN/Inf pixels: no metric is defined on them."""
    bad = np.count_nonzero(~np.isfinite(pixels))
    if bad:
        raise FrameError(path, f"{bad} NaN/Inf values; the metrics need finite pixels")


def read_alpha(path: Path) -> np.ndarray:
    """An (H, W) float32 alpha in [0, 1] on the file's display window.

    Values outside [0, 1] (filter overshoot) are clipped, since the metrics are defined on [0, 1];
    a warning says how many there were.

    Raises:
        FrameError: the pixels cannot be read or hold NaN/Inf.
    """
    alpha = read_mask(path, read_header(path).display_window)
    _check_finite(alpha, path)
    outside = int(np.count_nonzero((alpha < -ALPHA_RANGE_TOLERANCE) | (alpha > 1.0 + ALPHA_RANGE_TOLERANCE)))
    if outside:
        log.warning("%s: %d alpha values outside [0, 1] clipped", path, outside)
    return np.clip(alpha, 0.0, 1.0)


def read_premult(path: Path) -> np.ndarray:
    """The (H, W, 3) float32 premultiplied RGB of a file, as stored, on its display window.

    Raises:
        FrameError: the pixels cannot be read or hold NaN/Inf.
    """
    rgb = read_rgb(path, read_header(path).display_window)
    _check_finite(rgb, path)
    return rgb


def score_frame(plan: EvalPlan, frame: int, pred_alpha: np.ndarray, true_alpha: np.ndarray) -> FrameScore:
    """Image metrics of one frame over the whole image and the unknown band, plus the foreground error."""
    if plan.trimap is not None:
        trimap_path = plan.trimap.path(frame)
        unknown = metrics.unknown_from_trimap(read_mask(trimap_path, read_header(trimap_path).display_window))
    else:
        unknown = metrics.trimap_unknown(true_alpha)
    regions = metrics.image_scores(pred_alpha, true_alpha, {"whole": None, "unknown": unknown})
    fg_mse = None
    if plan.pred_has_rgb and plan.truth_has_rgb:
        pred_premult = read_premult(plan.pred.path(frame))
        fg_mse = metrics.foreground_error(pred_premult, read_premult(plan.truth.path(frame)), true_alpha)
    return FrameScore(frame=frame, regions=regions, fg_mse=fg_mse, unknown_pixels=int(np.count_nonzero(unknown)))


def _mean(values: list[float | None]) -> float | None:
    """Mean of the values, or None when any is missing."""
    if not values or any(v is None for v in values):
        return None
    return float(np.mean(values))


def evaluate_plan(plan: EvalPlan, progress: Callable[[int], None] | None = None) -> dict:
    """Score a checked evaluation; `progress(frame)` is called after each frame.

    Returns:
        The JSON-ready result of `evaluate_sequence`.

    Raises:
        FrameError: a file's pixels cannot be read or hold NaN/Inf.
    """
    scores: list[FrameScore] = []
    dtssd: list[float] = []
    messddt: list[float] = []
    previous: tuple[np.ndarray, np.ndarray] | None = None
    for frame in plan.frames:
        pred_alpha = read_alpha(plan.pred.path(frame))
        true_alpha = read_alpha(plan.truth.path(frame))
        scores.append(score_frame(plan, frame, pred_alpha, true_alpha))
        if previous is not None:
            dtssd.append(metrics.dtssd_step(pred_alpha, previous[0], true_alpha, previous[1]))
            messddt.append(metrics.messddt_step(pred_alpha, previous[0], true_alpha, previous[1]))
        previous = (pred_alpha, true_alpha)
        if progress is not None:
            progress(frame)
    mean = {region: {name: _mean([s.regions[region][name] for s in scores]) for name in IMAGE_METRICS}
            for region in REGIONS}
    mean["fg_mse"] = _mean([s.fg_mse for s in scores])
    unknown_source = (f"trimap {plan.trimap.text} (grey pixels)" if plan.trimap is not None
                      else f"truth 0 < alpha < 1 dilated by {metrics.UNKNOWN_BAND_RADIUS} px")
    return {
        "pred": plan.pred.text,
        "truth": plan.truth.text,
        "trimap": plan.trimap.text if plan.trimap is not None else None,
        "unknown_region": unknown_source,
        "size": [plan.width, plan.height],
        "frames": list(plan.frames),
        "mean": mean,
        "temporal": {"dtssd": _mean(dtssd), "messddt": _mean(messddt)} if len(plan.frames) > 1 else None,
        "per_frame": [{"frame": s.frame, **s.regions, "fg_mse": s.fg_mse, "unknown_pixels": s.unknown_pixels}
                      for s in scores],
        "units": UNITS,
    }


def evaluate_sequence(pred_pattern: str, true_pattern: str, frames: list[int] | None = None,
                      trimap_pattern: str | None = None) -> dict:
    """Score predicted mattes against ground truth: Composition-1k metrics per frame, means, coherence.

    Args:
        pred_pattern: predicted mattes, e.g. ``out/matte.####.exr`` (RGBA or single channel).
        true_pattern: ground-truth mattes (single channel, or RGBA with premultiplied RGB).
        frames: frames to score; default first to last prediction on disk.
        trimap_pattern: optional trimaps; default unknown band = truth's 0 < alpha < 1 dilated.

    Returns:
        JSON-ready dict: ``mean`` -> {"whole": {sad, mse, grad, conn}, "unknown": {...}, "fg_mse"},
        ``temporal`` -> {dtssd, messddt} (None for one frame), ``per_frame`` -> one entry per frame,
        plus the inputs, frames, size and the ``units`` of each metric. fg_mse is None unless both
        prediction and truth carry RGB.

    Raises:
        InputError / InputErrors: before any pixel is read (exit 2).
        FrameError: a file's pixels cannot be read or hold NaN/Inf (exit 3).
    """
    return evaluate_plan(plan_evaluation(pred_pattern, true_pattern, frames, trimap_pattern))
