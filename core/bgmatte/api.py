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
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from bgmatte import __version__
from bgmatte.errors import BgmatteError, InputError
from bgmatte.fingerprint import InputFingerprints
from bgmatte.frames import FrameSource
from bgmatte.io import read_complete, remove_stale_temps, write_matte
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
        """
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

        Args:
            input, plate, output: paths or patterns (``####``, ``%04d``, ``$F4``, ``@``); a plate without
                a pattern is one still for every frame.
            frames: a spec ("1001-1100x2", "1001,1005") or a list; None = every INPUT frame on disk.
            within: keep only the frames inside "START-END" (farm chunks).
            settings: what to do to each frame (colour, priors, layers...).
            skip_existing: skip a frame whose output reads completely and was made with the same settings
                from the same inputs (see bgmatte.fingerprint); any other frame is recomputed.
            progress: called after each frame with (outcome, frames finished, frames requested).
            cancel: set it to stop after the current frame; only complete frames stay on disk.
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
        fingerprint = settings.fingerprint(self.model_id, self.precision, __version__)
        attributes = {
            "bgmatte:version": __version__,
            "bgmatte:model": self.model_id,
            "bgmatte:settings": settings.to_json(),
            "bgmatte:fingerprint": fingerprint,
            "bgmatte:colorspace": plan.color.output_colorspace,
            "bgmatte:input_colorspace": plan.color.input_colorspace,
            "bgmatte:ocio_config": plan.color.describe()["config"],
        }
        report = Report(settings=asdict(settings), model=self.model_id, device=self.device)
        remove_stale_temps(plan.output.path(plan.frames[0]).parent)
        source = FrameSource(plan, settings, self.model.config.working_size)
        signed = InputFingerprints(plan, settings, self.model_id, getattr(self.model, "weights_file", None))
        total = len(plan.frames)
        for index, frame in enumerate(plan.frames):
            if cancel is not None and cancel.is_set():
                report.cancelled = True
                break
            outcome = self._one_frame(plan, source, signed, frame, settings, attributes, fingerprint, skip_existing)
            report.frames.append(outcome)
            if progress is not None:
                progress(outcome, index + 1, total)
        report.seconds_total = time.perf_counter() - started
        if report_path is not None:
            report.save(report_path)
        return report

    def _one_frame(self, plan: RunPlan, source: FrameSource, signed: InputFingerprints, frame: int,
                   settings: MatteSettings, attributes: dict[str, str], fingerprint: str,
                   skip_existing: bool) -> FrameOutcome:
        target = plan.output.path(frame)
        started = time.perf_counter()
        try:
            if skip_existing:
                existing = read_complete(target)
                if (existing is not None and existing.get("bgmatte:fingerprint") == fingerprint
                        and signed.unchanged(frame, existing)):
                    source.skip(frame)
                    return FrameOutcome(frame=frame, status="skipped", output=str(target))
            inputs_attributes = signed.attributes(frame)  # before any of its pixels are read
            t0 = time.perf_counter()
            inputs = source.inputs(frame)
            read_seconds = time.perf_counter() - t0
            result = matte_arrays(self.model, inputs, settings.layers)
            t0 = time.perf_counter()
            premult = plan.color.from_working(result.premult)
            layers = dict(result.layers)
            if "fg" in layers:
                layers["fg"] = plan.color.from_working(layers["fg"])
            rgba = np.concatenate([premult, result.alpha[..., None]], axis=-1)
            frame_attributes = dict(attributes)
            frame_attributes.update(inputs_attributes)
            frame_attributes["bgmatte:plate_gain"] = " ".join(f"{g:.5f}" for g in result.gain)
            frame_attributes["bgmatte:plate_gain_support"] = f"{result.gain_support:.3f}"
            write_matte(target, rgba, plan.canvas, plan.headers[frame], layers=layers,
                        attributes=frame_attributes, flatten=settings.flatten)
            write_seconds = time.perf_counter() - t0
        except BgmatteError as error:  # a frame that fails mid-run fails alone (exit 3), with no output
            problem = error.problem + _remove_stale_output(target)
            log.error("%s: %s", error.subject, problem)
            return FrameOutcome(frame=frame, status="failed", output=str(target),
                                seconds=time.perf_counter() - started, reason=f"{error.subject}: {problem}")
        stages = {"read+colour": read_seconds, **result.timings, "write": write_seconds}
        return FrameOutcome(frame=frame, status="done", output=str(target), seconds=time.perf_counter() - started,
                            stages={k: round(v, 4) for k, v in stages.items()},
                            plate_gain=[round(float(g), 5) for g in result.gain],
                            gain_support=round(result.gain_support, 3))


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
