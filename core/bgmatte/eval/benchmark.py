"""Quality benchmark: bgmatte against the classic peers on a held-out validation set, side by side.

Peers' parameters are grid-searched on the set's tune split (lowest mean whole-image SAD, on the
middle frame of each tuning shot); every method is then scored on the test split with the
Composition-1k metrics over the whole image and over the unknown band (truth 0 < alpha < 1
dilated), dtSSD / MESSDdt over the test sequences, and seconds per frame (the pull only: files are
read before the clock starts; Blender's figure is its subprocess wall time per frame, startup included).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bgmatte.data.exr import read_exr
from bgmatte.data.validation import Shot, load_validation
from bgmatte.errors import InputError
from bgmatte.eval import metrics
from bgmatte.eval import peers

log = logging.getLogger(__name__)

METHODS = ("bgmatte", "difference_key", "closed_form", "blender_difference_key")
PEERS = METHODS[1:]
MOTION_GAP = 1


@dataclass
class ShotFrames:
    """A shot's frames in memory: (H, W, 3) float32 ACEScg frames and plate, (H, W) true alphas, EXR paths."""

    shot: Shot
    frames: list[np.ndarray]
    plate: np.ndarray
    alphas: list[np.ndarray]
    frame_paths: list[Path]
    plate_path: Path


def load_shots(folder: Path, split: str) -> list[ShotFrames]:
    """Read every shot of one split ("tune" or "test") of a validation set."""
    loaded = []
    for shot in load_validation(folder):
        if shot.split != split:
            continue
        frame_paths = [folder / shot.frame.replace("####", f"{n:04d}") for n in shot.frames]
        plate_path = folder / shot.plate
        loaded.append(ShotFrames(
            shot=shot,
            frames=[read_exr(path, ("R", "G", "B")) for path in frame_paths],
            plate=read_exr(plate_path, ("R", "G", "B")),
            alphas=[np.clip(read_exr(folder / shot.alpha.replace("####", f"{n:04d}"), ("Y",))[..., 0], 0, 1)
                    for n in shot.frames],
            frame_paths=frame_paths, plate_path=plate_path))
    return loaded


def _neighbours(frames: list[np.ndarray], index: int) -> list[np.ndarray] | None:
    """Frames t-2k, t-k, t+k, t+2k clamped to the shot (None for a still: the pipeline copies the frame)."""
    if len(frames) == 1:
        return None
    last = len(frames) - 1
    return [frames[min(max(index + d * MOTION_GAP, 0), last)] for d in (-2, -1, 1, 2)]


def _middle(shots: list[ShotFrames]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, Path, Path]]:
    """The middle frame of each shot: (frame, plate, true alpha, frame path, plate path)."""
    out = []
    for s in shots:
        i = len(s.frames) // 2
        out.append((s.frames[i], s.plate, s.alphas[i], s.frame_paths[i], s.plate_path))
    return out


def _grid_search(cases: list, candidates: tuple, pull: Callable[[np.ndarray, np.ndarray, object], np.ndarray]):
    """The candidate with the lowest mean whole-image SAD over the cases (the first candidate when none)."""
    if not cases:
        return candidates[0]
    scores = [np.mean([metrics.sad(pull(f, p, c), a) for f, p, a, _, _ in cases]) for c in candidates]
    return candidates[int(np.argmin(scores))]


def _blender_grid() -> tuple[tuple[float, float], ...]:
    """Every (tolerance, falloff) pair searched for Blender's key."""
    return tuple((t, f) for t in peers.BLENDER_TOLERANCES for f in peers.BLENDER_FALLOFFS)


def tune_peers(tune: list[ShotFrames], methods: tuple[str, ...]) -> dict[str, object]:
    """Each peer's best parameters on the tune split: method -> threshold / (low, high) / (tolerance, falloff)."""
    cases = _middle(tune)
    best: dict[str, object] = {}
    if "difference_key" in methods:
        best["difference_key"] = _grid_search(cases, peers.DIFFERENCE_THRESHOLDS, peers.difference_key)
    if "closed_form" in methods:
        best["closed_form"] = _grid_search(cases, peers.TRIMAP_THRESHOLDS,
                                           lambda frame, plate, pair: peers.closed_form(frame, plate, *pair))
    if "blender_difference_key" in methods:
        grid = _blender_grid()
        if cases:
            run = peers.blender_difference_key([peers.KeyJob(fp, pp, grid) for _, _, _, fp, pp in cases])
            scores = [np.mean([metrics.sad(run.mattes[j][c], cases[j][2]) for j in range(len(cases))]) for c in grid]
            best["blender_difference_key"] = grid[int(np.argmin(scores))]
        else:
            best["blender_difference_key"] = grid[0]
    return best


def _frame_puller(method: str, params: object, model: str) -> Callable[[ShotFrames, int], np.ndarray]:
    """A function (shot, frame index) -> (H, W) alpha for bgmatte or one of the in-process peers."""
    if method == "bgmatte":
        from bgmatte.api import Matter

        matter = Matter(model=model, device="cpu")

        def pull(shot: ShotFrames, i: int) -> np.ndarray:
            return matter.matte_frame(shot.frames[i], shot.plate, neighbours=_neighbours(shot.frames, i)).alpha
    elif method == "difference_key":
        def pull(shot: ShotFrames, i: int) -> np.ndarray:
            return peers.difference_key(shot.frames[i], shot.plate, params)
    else:
        def pull(shot: ShotFrames, i: int) -> np.ndarray:
            return peers.closed_form(shot.frames[i], shot.plate, *params)
    return pull


def _pull_test(method: str, test: list[ShotFrames], params: object,
               model: str) -> tuple[list[list[np.ndarray]], list[float]]:
    """Every test frame's alpha from one method, per shot, and the seconds per frame."""
    if method == "blender_difference_key":
        jobs = [peers.KeyJob(path, s.plate_path, (params,)) for s in test for path in s.frame_paths]
        started = time.perf_counter()
        run = peers.blender_difference_key(jobs)
        seconds = (time.perf_counter() - started) / max(1, len(jobs))
        flat = iter(m[params] for m in run.mattes)
        return [[next(flat) for _ in s.frames] for s in test], [seconds] * len(jobs)
    pull = _frame_puller(method, params, model)
    alphas, seconds = [], []
    for s in test:
        shot_alphas = []
        for i in range(len(s.frames)):
            started = time.perf_counter()
            shot_alphas.append(np.clip(pull(s, i), 0.0, 1.0).astype(np.float32))
            seconds.append(time.perf_counter() - started)
        alphas.append(shot_alphas)
    return alphas, seconds


def _score(test: list[ShotFrames], alphas: list[list[np.ndarray]]) -> dict:
    """Mean image metrics (whole, unknown) over the test frames, per shot, and temporal metrics over sequences."""
    per_frame, per_shot = [], {}
    dtssd, messddt = [], []
    for s, predicted in zip(test, alphas):
        shot_frames = [metrics.image_scores(pred, true, {"whole": None, "unknown": metrics.trimap_unknown(true)})
                       for pred, true in zip(predicted, s.alphas)]
        per_shot[s.shot.name] = _mean_scores(shot_frames)
        per_frame += shot_frames
        if len(predicted) > 1:
            dtssd.append(metrics.dtssd(predicted, s.alphas))
            messddt.append(metrics.messddt(predicted, s.alphas))
    temporal = {"dtssd": float(np.mean(dtssd)), "messddt": float(np.mean(messddt))} if dtssd else None
    return {"mean": _mean_scores(per_frame), "per_shot": per_shot, "temporal": temporal, "frames": len(per_frame)}


def _mean_scores(frames: list[dict]) -> dict:
    """{region: {metric: mean}} over per-frame `metrics.image_scores` results."""
    return {region: {name: float(np.mean([f[region][name] for f in frames])) for name in ("sad", "mse", "grad", "conn")}
            for region in ("whole", "unknown")}


def _write_sheet(path: Path, test: list[ShotFrames], model: str) -> None:
    """bgmatte on the middle frame of every test shot: frame | matte | comp over a checkerboard, one row each."""
    from bgmatte.api import Matter
    from bgmatte.eval.contact_sheet import write_contact_sheet

    matter = Matter(model=model, device="cpu")
    rows = []
    for s in test:
        i = len(s.frames) // 2
        result = matter.matte_frame(s.frames[i], s.plate, neighbours=_neighbours(s.frames, i))
        rows.append((s.frames[i], result.alpha, result.premult))
    write_contact_sheet(path, rows)


def run_benchmark(folder: Path, model: str = "default", methods: tuple[str, ...] = METHODS,
                  progress: Callable[[str], None] | None = None, sheet: Path | None = None) -> dict:
    """Tune the peers on tune/, then score every method on test/ of a validation set.

    Args:
        folder: A set written by ``bgmatte data --validation``.
        model: bgmatte weights (registry name or path).
        methods: Which of METHODS to run.
        progress: Called with a short line as each stage starts.
        sheet: Where to write a contact sheet PNG of bgmatte on each test shot (None: none).

    Returns:
        JSON-ready dict: ``methods`` -> {mean, per_shot, temporal, frames, seconds_per_frame, params},
        ``ratios`` -> bgmatte's SAD and Grad over the best peer's per region, and the set's summary.

    Raises:
        InputError: the folder is not a validation set, has no test shots, or a method is unknown.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise InputError("--methods", f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    say = progress or (lambda line: None)
    test = load_shots(folder, "test")
    if not test:
        raise InputError(folder, "the validation set has no test shots")
    tune = load_shots(folder, "tune")
    say(f"tuning peers on {len(tune)} shot(s)")
    params = tune_peers(tune, tuple(m for m in methods if m in PEERS))
    results = {}
    for method in methods:
        say(f"running {method} on {len(test)} test shot(s)")
        alphas, seconds = _pull_test(method, test, params.get(method), model)
        results[method] = {**_score(test, alphas), "seconds_per_frame": float(np.mean(seconds)),
                           "params": params.get(method)}
    ratios = {}
    ran_peers = [m for m in methods if m in PEERS]
    if "bgmatte" in results and ran_peers:
        for region in ("whole", "unknown"):
            for name in ("sad", "grad"):
                best = min(results[m]["mean"][region][name] for m in ran_peers)
                ratios[f"{name}_{region}"] = results["bgmatte"]["mean"][region][name] / max(best, 1e-12)
    if sheet is not None:
        say(f"writing the contact sheet {sheet}")
        _write_sheet(sheet, test, model)
    return {"set": str(folder), "model": model, "test_shots": [s.shot.name for s in test],
            "tune_shots": [s.shot.name for s in tune], "methods": results, "ratios": ratios,
            "units": {"sad": "/1000", "mse": "x1000", "grad": "/1000", "conn": "/1000",
                      "dtssd": "x100", "messddt": "x1000"}}


def format_table(result: dict) -> str:
    """The benchmark as one plain-text table plus the ratio lines."""
    head = (f"{'method':<24}{'SAD':>8}{'MSE':>8}{'Grad':>8}{'Conn':>8} |{'SAD-u':>8}{'MSE-u':>8}{'Grad-u':>8}"
            f"{'Conn-u':>8} |{'dtSSD':>8}{'MESSDdt':>9} |{'s/frame':>9}  params")
    lines = [head, "-" * len(head)]
    for method, r in result["methods"].items():
        w, u, t = r["mean"]["whole"], r["mean"]["unknown"], r["temporal"]
        temporal = f"{t['dtssd']:>8.2f}{t['messddt']:>9.3f}" if t else f"{'-':>8}{'-':>9}"
        lines.append(f"{method:<24}{w['sad']:>8.3f}{w['mse']:>8.3f}{w['grad']:>8.3f}{w['conn']:>8.3f} |"
                     f"{u['sad']:>8.3f}{u['mse']:>8.3f}{u['grad']:>8.3f}{u['conn']:>8.3f} |{temporal} |"
                     f"{r['seconds_per_frame']:>9.3f}  {r['params'] if r['params'] is not None else ''}")
    lines += _per_shot_lines(result)
    missing = [m for m in METHODS if m not in result["methods"]]
    if missing:
        lines.append(f"not run: {', '.join(missing)}")
    for key, value in result["ratios"].items():
        lines.append(f"bgmatte / best peer, {key.replace('_', ' ')}: {value:.3f}")
    lines.append("units: SAD, Grad, Conn /1000; MSE x1000; dtSSD x100; MESSDdt x1000; -u = unknown band")
    return "\n".join(lines)


def _per_shot_lines(result: dict) -> list[str]:
    """Whole-image SAD / Grad of every method on every test shot (where each method wins or fails)."""
    methods = list(result["methods"])
    head = f"{'shot (SAD / Grad, whole)':<26}" + "".join(f"{m[:18]:>19}" for m in methods)
    lines = ["", head, "-" * len(head)]
    for shot in result["test_shots"]:
        cells = [result["methods"][m]["per_shot"][shot]["whole"] for m in methods]
        lines.append(f"{shot:<26}" + "".join(f"{c['sad']:>10.2f} /{c['grad']:>7.2f}" for c in cells))
    lines.append("")
    return lines
