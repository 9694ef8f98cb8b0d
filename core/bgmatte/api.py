"""The front door for every host: load a model once, then matte arrays or EXR sequences.

Example:
    >>> from bgmatte import Matter                                  # doctest: +SKIP
    >>> matter = Matter(model="default", device="auto")             # doctest: +SKIP
    >>> report = matter.matte_sequence("shot/plate.####.exr", "shot/clean.####.exr",
    ...                                "out/matte.####.exr", frames="1001-1024")  # doctest: +SKIP
    >>> report.exit_code                                            # doctest: +SKIP
    0
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch

from bgmatte import __version__
from bgmatte.errors import BgmatteError, InputError
from bgmatte.fingerprint import InputFingerprints
from bgmatte.frames import FrameSource
from bgmatte.io import read_complete, remove_stale_temps, write_matte
from bgmatte.io.overlap import ReadAhead, WriteBehind
from bgmatte.model import create_model
from bgmatte.pipeline import FrameInputs, MatteResult, matte_arrays, working_linear
from bgmatte.plan import RunPlan, plan_run
from bgmatte.priors import working_shape
from bgmatte.report import FrameOutcome, Report, check_report_path
from bgmatte.settings import MatteSettings

log = logging.getLogger(__name__)

ProgressCallback = Callable[[FrameOutcome, int, int], None]


MAX_THREADS = 1024
"""The most --threads accepts: far beyond any machine's cores, and below what crashes OpenImageIO."""


def check_threads(count: int) -> None:
    """Raise InputError("--threads", ...) unless ``count`` is a whole number from 1 to MAX_THREADS."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_THREADS:
        raise InputError("--threads", f"must be a whole number from 1 to {MAX_THREADS} (a farm slot's cores), "
                                      f"got {count!r}")


def set_threads(count: int) -> None:
    """Bound the CPU threads of torch, OpenCV and OpenImageIO to a farm slot's share.

    Raises:
        InputError: ("--threads", problem) for a count outside 1..MAX_THREADS.
    """
    check_threads(count)
    import cv2
    import OpenImageIO as oiio

    torch.set_num_threads(count)
    cv2.setNumThreads(count)
    oiio.attribute("threads", count)


def weights_id(model: torch.nn.Module) -> str:
    """A short hash of the model's parameters and config: outputs made by other weights are recomputed."""
    digest = hashlib.sha256(repr(sorted(model.config.to_dict().items())).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:12]


class Matter:
    """A loaded generator and the way to run it on arrays and on sequences of files.

    Args:
        model: a registry name ("default" = the shipped weights) or a path to a weights file.
        device: "auto" (CUDA when present, else CPU), "cpu" or "cuda".
        precision: "auto" (fp16 on CUDA, fp32 on CPU), "fp32" or "fp16".
        threads: bound CPU threads (a farm slot); None leaves the libraries' defaults.
    """

    def __init__(self, model: str = "default", device: str = "auto", precision: str = "auto",
                 threads: int | None = None) -> None:
        if threads is not None:
            set_threads(threads)
        self.model = create_model(model, device=device, precision=precision)
        self.model_name = model
        self.model_id = f"{Path(model).name}@{weights_id(self.model)}"
        param = next(self.model.parameters())
        self.device = str(param.device)
        self.precision = "fp16" if param.dtype == torch.float16 else "fp32"

    def matte_frame(self, frame: np.ndarray, plate: np.ndarray, *, seg: np.ndarray | None = None,
                    neighbours: list[np.ndarray] | None = None, layers: tuple[str, ...] = (),
                    garbage: np.ndarray | None = None, core: np.ndarray | None = None) -> MatteResult:
        """Matte one frame given as working-linear (ACEScg) arrays (H, W, 3); see pipeline.matte_arrays.

        ``neighbours`` are the four full-resolution frames t-2k, t-k, t+k, t+2k (or None for a still).

        Raises:
            InputError: (the argument's name, problem) for an array holding NaN or Inf.
        """
        named = {"frame": frame, "plate": plate, "seg": seg, "garbage": garbage, "core": core,
                 **{f"neighbours[{i}]": n for i, n in enumerate(neighbours or [])}}
        for name, array in named.items():
            if array is not None:
                _check_finite_array(name, array)
        if neighbours is not None:
            size = working_shape(frame.shape[0], frame.shape[1], self.model.config.working_size)
            neighbours = [working_linear(np.asarray(n, np.float32), size) for n in neighbours]
        inputs = FrameInputs(frame=np.ascontiguousarray(frame, np.float32),
                             plate=np.ascontiguousarray(plate, np.float32), seg=seg,
                             neighbours=neighbours, garbage=garbage, core=core)
        return matte_arrays(self.model, inputs, layers)

    def matte_sequence(self, input: str, plate: str, output: str, *, frames: str | list[int] | None = None,
                       within: str | None = None, settings: MatteSettings | None = None,
                       skip_existing: bool = False, progress: ProgressCallback | None = None,
                       cancel: threading.Event | None = None, report_path: str | Path | None = None) -> Report:
        """Matte a frame sequence from files to premultiplied RGBA EXR files.

        Frames are read ahead and written behind on two I/O threads, at most
        ``bgmatte.io.overlap.FRAMES_IN_FLIGHT`` frames at once; progress and cancel are handled in the
        caller's thread, in frame order.

        Args:
            input, plate, output: paths or patterns (``####``, ``%04d``, ``$F4``, ``@``); a plate without
                a pattern is one still for every frame.
            frames: a spec ("1001-1100x2", "1001,1005") or a list; None = every INPUT frame on disk.
            within: keep only the frames inside "START-END" (farm chunks).
            settings: what to do to each frame (colour, priors, layers...).
            skip_existing: skip a frame whose output reads completely and was made with the same settings
                from the same inputs (see bgmatte.fingerprint); any other frame is recomputed.
            progress: called after each frame (once it is on disk, skipped or failed) with (outcome,
                frames finished, frames requested), in frame order, from the caller's thread.
            cancel: set it to stop after the frame being finished; only complete frames stay on disk
                (a frame computed or read ahead meanwhile is dropped).
            report_path: also write the report there as JSON (atomically). The path is checked with
                the other pre-write checks (not an input or output of the run, folder writable...);
                failing to write it at the end logs one error and makes the exit code 3.

        Returns:
            The report; its exit_code is 0 when every frame was written or skipped, 3 when some failed
            (or the report file could not be written).

        Raises:
            InputErrors: a check before writing failed (nothing was written).
        """
        settings = settings or MatteSettings()
        started = time.perf_counter()
        plan = plan_run(input, plate, output, settings, frames=frames, within_spec=within)
        if report_path is not None:
            check_report_path(report_path, plan)
        report = Report(settings=asdict(settings), model=self.model_id, device=self.device)
        remove_stale_temps(plan.output.path(plan.frames[0]).parent)
        steps = _FrameSteps(self, plan, settings, skip_existing)
        _matte_frames(steps, report, progress, cancel)
        report.seconds_total = time.perf_counter() - started
        if report_path is not None:
            report.save(report_path)
        return report


@dataclass
class _Failed:
    """A frame that failed in some step, on any thread; the caller logs and records it, in frame order."""

    frame: int
    error: BgmatteError
    seconds: float


@dataclass
class _Read:
    """A frame's inputs as the reader thread loaded them, with their fingerprint attributes."""

    frame: int
    inputs: FrameInputs
    attributes: dict[str, str]
    read_seconds: float
    seconds: float


@dataclass
class _Matted:
    """A computed frame waiting for the writer thread: the result and what its header needs."""

    frame: int
    result: MatteResult
    attributes: dict[str, str]
    read_seconds: float
    seconds: float


class _FrameSteps:
    """The steps of each frame of one run, each on its own thread (see bgmatte.io.overlap).

    ``read`` runs on the reader thread in plan order (it alone touches the FrameSource caches and the
    input fingerprints), ``compute`` on the caller's thread, ``write`` on the writer thread. Failures
    come back as values: ``outcome`` logs them and removes stale outputs on the caller's thread, in
    frame order. A frame's ``seconds`` is the time its own steps took, waits for other frames excluded.
    """

    def __init__(self, matter: Matter, plan: RunPlan, settings: MatteSettings, skip_existing: bool) -> None:
        self.model = matter.model
        self.plan = plan
        self.settings = settings
        self.skip_existing = skip_existing
        self.fingerprint = settings.fingerprint(matter.model_id, matter.precision, __version__)
        self.attributes = {
            "bgmatte:version": __version__,
            "bgmatte:model": matter.model_id,
            "bgmatte:settings": settings.to_json(),
            "bgmatte:fingerprint": self.fingerprint,
            "bgmatte:colorspace": plan.color.output_colorspace,
            "bgmatte:input_colorspace": plan.color.input_colorspace,
            "bgmatte:ocio_config": plan.color.describe()["config"],
        }
        self.source = FrameSource(plan, settings, matter.model.config.working_size)
        self.signed = InputFingerprints(plan, settings, matter.model_id, getattr(matter.model, "weights_file", None))

    def read(self, frame: int) -> _Read | FrameOutcome | _Failed:
        """Skip a frame whose output is current, else sign and load its inputs (reader thread, plan order)."""
        started = time.perf_counter()
        try:
            if self.skip_existing and self._current(frame):
                self.source.skip(frame)
                return FrameOutcome(frame=frame, status="skipped", output=str(self.plan.output.path(frame)))
            attributes = self.signed.attributes(frame)  # before any of its pixels are read
            t0 = time.perf_counter()
            inputs = self.source.inputs(frame)
            read_seconds = time.perf_counter() - t0
        except BgmatteError as error:
            return _Failed(frame, error, time.perf_counter() - started)
        return _Read(frame, inputs, attributes, read_seconds, time.perf_counter() - started)

    def _current(self, frame: int) -> bool:
        """Whether the output on disk reads completely and was made with these settings from these inputs."""
        existing = read_complete(self.plan.output.path(frame))
        return (existing is not None and existing.get("bgmatte:fingerprint") == self.fingerprint
                and self.signed.unchanged(frame, existing))

    def compute(self, read: _Read | FrameOutcome | _Failed) -> _Matted | FrameOutcome | _Failed:
        """Matte a loaded frame (caller's thread); a skipped or failed read passes through."""
        if not isinstance(read, _Read):
            return read
        started = time.perf_counter()
        try:
            result = matte_arrays(self.model, read.inputs, self.settings.layers)
        except BgmatteError as error:
            return _Failed(read.frame, error, read.seconds + time.perf_counter() - started)
        if result.gain_support == 0.0:  # after the second pass too: the gain the frame was matted with
            log.warning("%s: plate gain match skipped, too little of the plate agrees with the frame (gain 1 "
                        "used; --gain-match R,G,B sets it)", self.plan.input.path(read.frame))
        return _Matted(read.frame, result, read.attributes, read.read_seconds,
                       read.seconds + time.perf_counter() - started)

    def write(self, matted: _Matted) -> FrameOutcome | _Failed:
        """Convert a computed frame to the output colourspace and write it atomically (writer thread)."""
        plan, result, target = self.plan, matted.result, self.plan.output.path(matted.frame)
        t0 = time.perf_counter()
        try:
            premult = plan.color.from_working(result.premult)
            layers = dict(result.layers)
            if "fg" in layers:
                layers["fg"] = plan.color.from_working(layers["fg"])
            rgba = np.concatenate([premult, result.alpha[..., None]], axis=-1)
            frame_attributes = dict(self.attributes)
            frame_attributes.update(matted.attributes)
            frame_attributes["bgmatte:plate_gain"] = " ".join(f"{g:.5f}" for g in result.gain)
            frame_attributes["bgmatte:plate_gain_support"] = f"{result.gain_support:.3f}"
            write_matte(target, rgba, plan.canvas, plan.headers[matted.frame], layers=layers,
                        attributes=frame_attributes, flatten=self.settings.flatten)
        except BgmatteError as error:
            return _Failed(matted.frame, error, matted.seconds + time.perf_counter() - t0)
        write_seconds = time.perf_counter() - t0
        stages = {"read+colour": matted.read_seconds, **result.timings, "write": write_seconds}
        return FrameOutcome(frame=matted.frame, status="done", output=str(target),
                            seconds=matted.seconds + write_seconds,
                            stages={k: round(v, 4) for k, v in stages.items()},
                            plate_gain=[round(float(g), 5) for g in result.gain],
                            gain_support=round(result.gain_support, 3))

    def outcome(self, step: FrameOutcome | _Failed) -> FrameOutcome:
        """A finished frame's report entry; a failure is logged and its stale output removed (caller's thread)."""
        if isinstance(step, FrameOutcome):
            return step
        target = self.plan.output.path(step.frame)
        problem = step.error.problem + _remove_stale_output(target)  # a frame that fails mid-run fails alone
        log.error("%s: %s", step.error.subject, problem)
        return FrameOutcome(frame=step.frame, status="failed", output=str(target), seconds=step.seconds,
                            reason=f"{step.error.subject}: {problem}")


def _matte_frames(steps: _FrameSteps, report: Report, progress: ProgressCallback | None,
                  cancel: threading.Event | None) -> None:
    """Matte the planned frames with reads ahead and writes behind, recording each frame in plan order.

    Frame t is computed while t-1 is written and t+1 read. Frame t goes to the writer only once t-1
    is on disk and reported (progress), and only if no cancel came by then: a cancel leaves exactly
    the frames reported so far (a frame computed meanwhile is dropped, one read ahead discarded).
    An interrupt (KeyboardInterrupt) or an error finishes and reports the frame being written before
    it propagates, so the frames on disk are always the frames reported (hosts count on it).
    """
    total = len(steps.plan.frames)

    def finish(step: FrameOutcome | _Failed | None) -> None:
        """Record a finished frame in the report and tell the host (nothing for None)."""
        if step is not None:
            report.frames.append(steps.outcome(step))
            if progress is not None:
                progress(report.frames[-1], len(report.frames), total)

    with ReadAhead(steps.plan.frames, steps.read) as reads, WriteBehind() as writes:
        try:
            for read in reads:
                if _cancelled(cancel, report):
                    break
                step = steps.compute(read)
                del read  # free the frame's input pixels now, not after waiting for the writer
                finish(writes.wait())
                if _cancelled(cancel, report):
                    break
                if isinstance(step, _Matted):
                    writes.submit(partial(steps.write, step))
                else:
                    finish(step)
        finally:  # also on an interrupt: the frame being written is finished and reported
            finish(writes.wait())


def _cancelled(cancel: threading.Event | None, report: Report) -> bool:
    """True when the host asked to stop; the report is then marked cancelled."""
    if cancel is None or not cancel.is_set():
        return False
    report.cancelled = True
    return True


def _check_finite_array(name: str, array: np.ndarray) -> None:
    """Refuse an array argument holding NaN or Inf: the matte would be NaN without a word."""
    nonfinite = ~np.isfinite(np.asarray(array, np.float32))
    bad = int(np.count_nonzero(nonfinite.any(axis=-1) if nonfinite.ndim == 3 else nonfinite))
    if bad:
        raise InputError(name, f"{bad} NaN/Inf pixels; Matter.matte_frame needs finite pixels "
                               "(bgmatte.io.repair_nonfinite replaces them by 0)")


def _remove_stale_output(target: Path) -> str:
    """Remove an earlier run's output of a frame that just failed, so it is not taken for this run's.

    The plan has checked that ``target`` is not an input; only a regular file is removed (one
    ``unlink``, atomic: a reader sees the old file or none). Returns the note for the error line.
    """
    try:
        if not target.is_file():
            return ""
        target.unlink()
    except FileNotFoundError:
        return ""
    except OSError as error:
        return f"; the previous output {target} could not be removed ({(error.strerror or str(error)).lower()}) " \
               "and is stale"
    return f"; removed the previous output {target}, which this run could not replace"


def matte_sequence(input: str, plate: str, output: str, *, model: str = "default", device: str = "auto",
                   precision: str = "auto", threads: int | None = None, **kwargs) -> Report:
    """One-call convenience: load the model and matte a sequence (see Matter.matte_sequence)."""
    return Matter(model=model, device=device, precision=precision, threads=threads).matte_sequence(
        input, plate, output, **kwargs)
