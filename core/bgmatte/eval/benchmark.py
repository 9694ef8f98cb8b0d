"""Quality benchmark: bgmatte against the classic peers on a held-out validation set, side by side.

Peers' parameters are grid-searched on the set's tune split (lowest mean whole-image SAD, on the
middle frame of each tuning shot); every method is then scored on the test split with the
Composition-1k metrics over the whole image and over the unknown band (truth 0 < alpha < 1
dilated), dtSSD / MESSDdt over the test sequences, and seconds per frame (the pull only: files are
read before the clock starts; Blender's figure is its subprocess wall time per frame, startup included).
The same scores are also reported per class (the shot's ``class`` in a photographic set, made by
``bgmatte data --validation --photographic``; the element kind in a procedural one) and per frame
size (e.g. 320x320 and 1920x1080, whose SADs are not comparable), each with bgmatte's ratio to the
best peer. Closed-form matting solves a frame whose trimap has more than
``peers.CLOSED_FORM_MAX_UNKNOWN`` unknown pixels on a 2x-downsampled copy (``downsampled_frames``
in the result, a line under the table), so a full-resolution close-up takes seconds, not minutes.
Every test frame where bgmatte's SAD is more than twice the best peer's on that frame is listed
(one of the targets of the photographic set). The peers' results of an earlier run on the same set
(its JSON, checked by the set's ``index.json`` digest) can stand in for running them again, so new
weights are compared in the time bgmatte alone takes.
"""
from __future__ import annotations

import hashlib
import json
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
WORSE_FACTOR = 2.0
"""A test frame is listed when bgmatte's whole-image SAD exceeds this multiple of the best peer's on it."""


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


def _frame_puller(method: str, params: object, model: str,
                  notes: dict | None = None) -> Callable[[ShotFrames, int], np.ndarray]:
    """A function (shot, frame index) -> (H, W) alpha for bgmatte or one of the in-process peers.

    Closed-form matting runs through ``peers.closed_form_bounded``: a frame whose trimap has more
    unknown pixels than ``peers.CLOSED_FORM_MAX_UNKNOWN`` is solved on a downsampled copy; such
    frames are listed in ``notes`` (shot name -> downsampling factor per frame)."""
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
            alpha, factor = peers.closed_form_bounded(shot.frames[i], shot.plate, *params)
            if factor > 1 and notes is not None:
                notes.setdefault(shot.shot.name, []).append(factor)
            return alpha
    return pull


def _pull_test(method: str, test: list[ShotFrames], params: object, model: str,
               notes: dict | None = None) -> tuple[list[list[np.ndarray]], list[float]]:
    """Every test frame's alpha from one method, per shot, and the seconds per frame."""
    if method == "blender_difference_key":
        jobs = [peers.KeyJob(path, s.plate_path, (params,)) for s in test for path in s.frame_paths]
        started = time.perf_counter()
        run = peers.blender_difference_key(jobs)
        wall = time.perf_counter() - started
        flat = iter(m[params] for m in run.mattes)
        # Per frame: its own render time inside Blender, scaled so that the frames share the
        # subprocess wall time (startup included) in proportion; the mean is wall / frames.
        inside = np.maximum(np.asarray(run.seconds_per_render, np.float64), 1e-9)
        seconds = list(inside * wall / inside.sum()) if len(inside) == len(jobs) else [wall / max(1, len(jobs))] * len(jobs)
        return [[next(flat) for _ in s.frames] for s in test], seconds
    pull = _frame_puller(method, params, model, notes)
    alphas, seconds = [], []
    for s in test:
        shot_alphas = []
        for i in range(len(s.frames)):
            started = time.perf_counter()
            shot_alphas.append(np.clip(pull(s, i), 0.0, 1.0).astype(np.float32))
            seconds.append(time.perf_counter() - started)
        alphas.append(shot_alphas)
    return alphas, seconds


def size_label(shot: ShotFrames) -> str:
    """A shot's frame size as ``WxH`` (the benchmark's per-resolution group)."""
    height, width = shot.frames[0].shape[:2]
    return f"{width}x{height}"


def _score(test: list[ShotFrames], alphas: list[list[np.ndarray]]) -> dict:
    """Mean image metrics (whole, unknown) over the test frames, per shot, per class (the shot's
    ``class``, else its element kind), per frame size, and temporal metrics over sequences."""
    per_frame, per_shot, frame_sad = [], {}, {}
    per_class: dict[str, list[dict]] = {}
    per_size: dict[str, list[dict]] = {}
    dtssd, messddt = [], []
    for s, predicted in zip(test, alphas):
        shot_frames = [metrics.image_scores(pred, true, {"whole": None, "unknown": metrics.trimap_unknown(true)})
                       for pred, true in zip(predicted, s.alphas)]
        per_shot[s.shot.name] = _mean_scores(shot_frames)
        frame_sad[s.shot.name] = [f["whole"]["sad"] for f in shot_frames]
        per_class.setdefault(s.shot.group, []).extend(shot_frames)
        per_size.setdefault(size_label(s), []).extend(shot_frames)
        per_frame += shot_frames
        if len(predicted) > 1:
            dtssd.append(metrics.dtssd(predicted, s.alphas))
            messddt.append(metrics.messddt(predicted, s.alphas))
    temporal = {"dtssd": float(np.mean(dtssd)), "messddt": float(np.mean(messddt))} if dtssd else None
    return {"mean": _mean_scores(per_frame), "per_shot": per_shot, "per_frame_sad": frame_sad, "temporal": temporal,
            "frames": len(per_frame),
            "per_class": {name: _mean_scores(frames) for name, frames in per_class.items()},
            "per_size": {name: _mean_scores(frames) for name, frames in per_size.items()}}


def _ratios(results: dict, peers_run: list[str], pick: Callable[[dict], dict]) -> dict[str, float]:
    """bgmatte's SAD and Grad over the best peer's, whole and unknown band, on the scores ``pick`` selects."""
    ratios = {}
    for region in ("whole", "unknown"):
        for name in ("sad", "grad"):
            best = min(pick(results[m])[region][name] for m in peers_run)
            ratios[f"{name}_{region}"] = pick(results["bgmatte"])[region][name] / max(best, 1e-12)
    return ratios


def _mean_scores(frames: list[dict]) -> dict:
    """{region: {metric: mean}} over per-frame `metrics.image_scores` results."""
    return {region: {name: float(np.mean([f[region][name] for f in frames])) for name in ("sad", "mse", "grad", "conn")}
            for region in ("whole", "unknown")}


def sheet_paths(path: Path, test: list[ShotFrames]) -> dict[str, Path]:
    """Where the contact sheet of each frame size goes: the first size at ``path``, any other
    (e.g. a photographic set's 1920x1080 shots) next to it as ``<stem>_<W>x<H>.png``."""
    sizes = list(dict.fromkeys(size_label(s) for s in test))
    return {z: path if k == 0 else path.with_name(f"{path.stem}_{z}{path.suffix}") for k, z in enumerate(sizes)}


def _write_sheet(path: Path, test: list[ShotFrames], model: str) -> list[Path]:
    """bgmatte on the middle frame of every test shot: frame | matte | comp over a checkerboard, one
    row each; one sheet per frame size (see ``sheet_paths``). Returns the files written."""
    from bgmatte.api import Matter
    from bgmatte.eval.contact_sheet import write_contact_sheet

    matter = Matter(model=model, device="cpu")
    rows: dict[str, list] = {}
    for s in test:
        i = len(s.frames) // 2
        result = matter.matte_frame(s.frames[i], s.plate, neighbours=_neighbours(s.frames, i))
        rows.setdefault(size_label(s), []).append((s.frames[i], result.alpha, result.premult))
    paths = sheet_paths(path, test)
    for size, size_rows in rows.items():
        write_contact_sheet(paths[size], size_rows)
    return [paths[size] for size in rows]


def set_digest(folder: Path) -> str:
    """The sha256 of a validation set's ``index.json``: which set a result was measured on."""
    return hashlib.sha256((folder / "index.json").read_bytes()).hexdigest()


def reused_peers(previous: dict, source: Path, digest: str, methods: tuple[str, ...]) -> dict[str, dict]:
    """The results of the peers among ``methods`` from an earlier benchmark result of the same set.

    Raises:
        InputError (naming ``source``): the result is of another set or from a bgmatte that did not
            record which set it measured, or lacks a peer that ``methods`` asks for.
    """
    if "set_index_sha256" not in previous:
        raise InputError(source, "was written by an older bgmatte (no set digest); run the peers again")
    if previous["set_index_sha256"] != digest:
        raise InputError(source, "was measured on another validation set (its index.json digest differs); "
                                 "run the peers again without --peers-from")
    wanted = [m for m in methods if m in PEERS]
    missing = [m for m in wanted if m not in previous.get("methods", {})]
    if missing:
        raise InputError(source, f"holds no result of {', '.join(missing)}; leave it out of --methods or run it")
    return {m: previous["methods"][m] for m in wanted}


def frames_worse_than_peers(results: dict, test: list[ShotFrames], peers_run: list[str],
                            factor: float = WORSE_FACTOR) -> list[dict]:
    """Every test frame where bgmatte's whole-image SAD exceeds ``factor`` x the best peer's on that
    frame: shot, frame number, bgmatte's SAD, the best peer and its SAD."""
    worse = []
    for s in test:
        name = s.shot.name
        for k, number in enumerate(s.shot.frames):
            best = min(peers_run, key=lambda m: results[m]["per_frame_sad"][name][k])
            best_sad = results[best]["per_frame_sad"][name][k]
            sad = results["bgmatte"]["per_frame_sad"][name][k]
            if sad > factor * best_sad:
                worse.append({"shot": name, "frame": int(number), "sad": sad, "best_peer": best, "best_sad": best_sad})
    return worse


def run_benchmark(folder: Path, model: str = "default", methods: tuple[str, ...] = METHODS,
                  progress: Callable[[str], None] | None = None, sheet: Path | None = None,
                  peers_from: Path | None = None) -> dict:
    """Tune the peers on tune/, then score every method on test/ of a validation set.

    Args:
        folder: A set written by ``bgmatte data --validation``.
        model: bgmatte weights (registry name or path).
        methods: Which of METHODS to run.
        progress: Called with a short line as each stage starts.
        sheet: Where to write a contact sheet PNG of bgmatte on each test shot (None: none).
        peers_from: An earlier result (JSON) on the same set whose peers' results are taken instead
            of running the peers among ``methods`` again (their tuned parameters come with them).

    Returns:
        JSON-ready dict: ``methods`` -> {mean, per_shot, per_frame_sad, temporal, frames,
        seconds_per_frame, params}, ``ratios`` -> bgmatte's SAD and Grad over the best peer's per
        region, ``worse_frames`` (see `frames_worse_than_peers`), and the set's summary.

    Raises:
        InputError: the folder is not a validation set, has no test shots, a method is unknown, or
            ``peers_from`` is unreadable or does not fit (`reused_peers`).
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise InputError("--methods", f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    say = progress or (lambda line: None)
    test = load_shots(folder, "test")
    if not test:
        raise InputError(folder, "the validation set has no test shots")
    digest = set_digest(folder)
    results: dict[str, dict] = {}
    if peers_from is not None:
        try:
            previous = json.loads(Path(peers_from).read_text())
        except (OSError, ValueError) as error:
            raise InputError(peers_from, f"cannot be read as a benchmark result ({error})") from error
        results = reused_peers(previous, Path(peers_from), digest, methods)
        say(f"peers {', '.join(results) or '(none)'} taken from {peers_from}")
    to_tune = tuple(m for m in methods if m in PEERS and m not in results)
    tune = load_shots(folder, "tune") if to_tune else []  # pixels only when a peer is tuned here
    if to_tune:
        say(f"tuning peers on {len(tune)} shot(s)")
    params = {**tune_peers(tune, to_tune), **{m: r["params"] for m, r in results.items()}}
    frame_sizes = [size_label(s) for s in test for _ in s.frames]
    for method in methods:
        if method in results:
            continue
        say(f"running {method} on {len(test)} test shot(s)")
        notes: dict[str, list[int]] = {}
        alphas, seconds = _pull_test(method, test, params.get(method), model, notes)
        results[method] = {**_score(test, alphas), "seconds_per_frame": float(np.mean(seconds)),
                           "seconds_per_frame_per_size": {
                               z: float(np.mean([t for t, label in zip(seconds, frame_sizes) if label == z]))
                               for z in dict.fromkeys(frame_sizes)},
                           "params": params.get(method)}
        if method == "closed_form":
            results[method]["downsampled_frames"] = notes
    results = {m: results[m] for m in methods}
    ratios, ratios_per_class, ratios_per_size, worse = {}, {}, {}, []
    ran_peers = [m for m in methods if m in PEERS]
    classes = list(dict.fromkeys(s.shot.group for s in test))
    sizes = list(dict.fromkeys(size_label(s) for s in test))
    if "bgmatte" in results and ran_peers:
        ratios = _ratios(results, ran_peers, lambda r: r["mean"])
        ratios_per_class = {c: _ratios(results, ran_peers, lambda r, c=c: r["per_class"][c]) for c in classes}
        ratios_per_size = {z: _ratios(results, ran_peers, lambda r, z=z: r["per_size"][z]) for z in sizes}
        worse = frames_worse_than_peers(results, test, ran_peers)
    if sheet is not None:
        say(f"writing the contact sheet {', '.join(str(p) for p in sheet_paths(sheet, test).values())}")
        _write_sheet(sheet, test, model)
    return {"set": str(folder), "set_index_sha256": digest, "model": model, "test_shots": [s.shot.name for s in test],
            "tune_shots": [s.name for s in load_validation(folder) if s.split == "tune"], "methods": results, "ratios": ratios,
            "worse_frames": worse, "test_frames": len(frame_sizes),
            "classes": {c: [s.shot.name for s in test if s.shot.group == c] for c in classes},
            "sizes": {z: [s.shot.name for s in test if size_label(s) == z] for z in sizes},
            "ratios_per_class": ratios_per_class, "ratios_per_size": ratios_per_size,
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
    lines += _group_lines(result, "class", result.get("classes", {}), result.get("ratios_per_class", {}))
    lines += _group_lines(result, "size", result.get("sizes", {}), result.get("ratios_per_size", {}))
    if result.get("sizes"):
        for size in result["sizes"]:
            cells = [f"{m} {r['seconds_per_frame_per_size'][size]:.3f}" for m, r in result["methods"].items()
                     if size in r.get("seconds_per_frame_per_size", {})]
            lines.append(f"s/frame at {size}: " + ", ".join(cells))
    reduced = result["methods"].get("closed_form", {}).get("downsampled_frames")
    if reduced:
        shots = ", ".join(f"{name} (1/{max(factors)})" for name, factors in reduced.items())
        lines.append(f"closed_form ran downsampled (more than {peers.CLOSED_FORM_MAX_UNKNOWN} unknown trimap "
                     f"pixels; alpha upsampled, known pixels kept) on: {shots}")
    missing = [m for m in METHODS if m not in result["methods"]]
    if missing:
        lines.append(f"not run: {', '.join(missing)}")
    for key, value in result["ratios"].items():
        lines.append(f"bgmatte / best peer, {key.replace('_', ' ')}: {value:.3f}")
    if result["ratios"]:
        worse = result.get("worse_frames", [])
        listed = "; ".join(f"{w['shot']} {w['frame']} ({w['sad']:.2f} vs {w['best_peer']} {w['best_sad']:.2f})"
                           for w in worse)
        lines.append(f"frames where bgmatte's SAD is over {WORSE_FACTOR:g}x the best peer's: {len(worse)} of "
                     f"{result.get('test_frames', '?')}" + (f": {listed}" if listed else ""))
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


def _group_lines(result: dict, key: str, groups: dict[str, list[str]], ratios: dict[str, dict]) -> list[str]:
    """Per class (or frame size): every method's SAD / Grad over the whole image and the unknown band
    (mean over the group's test frames), then bgmatte over the best peer for each."""
    if not groups:
        return []
    methods = list(result["methods"])
    label = f"{key} (shots)"
    head = (f"{label:<22}" + "".join(f"{m[:26]:>27}" for m in methods)
            + ("   bgmatte/best SAD Grad SAD-u Grad-u" if ratios else ""))
    sub = f"{'':<22}" + f"{'SAD  Grad | SAD-u Grad-u':>27}" * len(methods)
    lines = [head, sub, "-" * len(head)]
    for name, shots in groups.items():
        cells = [result["methods"][m][f"per_{key}"][name] for m in methods]
        row = f"{f'{name} ({len(shots)})':<22}" + "".join(
            f"{c['whole']['sad']:>7.2f}{c['whole']['grad']:>6.2f} |{c['unknown']['sad']:>6.2f}{c['unknown']['grad']:>6.2f}"
            for c in cells)
        if name in ratios:
            r = ratios[name]
            row += f"   {r['sad_whole']:>15.2f}{r['grad_whole']:>5.2f}{r['sad_unknown']:>6.2f}{r['grad_unknown']:>7.2f}"
        lines.append(row)
    lines.append("")
    return lines
