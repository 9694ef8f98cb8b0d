"""Run bgmatte on the rendered inputs: in Nuke's Python when it imports bgmatte, else as a subprocess.

The subprocess is ``<python> -m bgmatte.cli matte ... --progress json``: one JSON object per finished
frame on stdout (frame, done, total, status, seconds, output), error lines on stderr. Both ways
skip frames already complete with the same settings, so pressing Analyse again resumes. Plain
Python (no nuke): progress and cancellation come in as callables.
"""
from __future__ import annotations

import importlib.util
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from .bgmatte_protocol import EXIT_CANCELLED, EXIT_FRAMES, EXIT_INPUT, EXIT_OK, JSON_PROGRESS, error_messages, \
    matte_command_line, parse_progress

ProgressCallback = Callable[[int, int, int, str], None]
"""progress(frame, frames finished, frames requested, status "done" | "skipped" | "failed")."""

LAYERS = ("fg", "shadow")
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class MatteJob:
    """One `bgmatte matte` run: the cache's rendered inputs to its matte sequence."""

    source: str
    plate: str
    output: str
    frames: str
    colorspace: str
    ocio: str
    seg: str
    motion_gap: int
    model: str
    device: str
    garbage: str | None = None
    core: str | None = None

    def settings_keywords(self) -> dict:
        """Keyword arguments of ``bgmatte.settings.MatteSettings`` for this run (ocio "" = $OCIO or the bundled one)."""
        return {"colorspace": self.colorspace, "ocio": self.ocio or None, "seg": self.seg,
                "motion_gap": self.motion_gap, "garbage": self.garbage, "core": self.core, "layers": LAYERS}

    def cli_args(self) -> list[str]:
        """The arguments after ``bgmatte``, with JSON progress on stdout."""
        return matte_command_line(self.settings_keywords(), self.source, self.plate, self.output,
                                  frames=self.frames, skip_existing=True, progress=JSON_PROGRESS,
                                  model=self.model, device=self.device, executable=())


@dataclass
class RunResult:
    """What a run did: the CLI's exit code (0, 2, 3, 130), frames computed and kept, and lines to show."""

    exit_code: int
    done: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def cancelled(self) -> bool:
        return self.exit_code == EXIT_CANCELLED


def core_importable() -> bool:
    """Whether Nuke's own Python can import the bgmatte core."""
    return importlib.util.find_spec("bgmatte") is not None


def run_in_process(job: MatteJob, progress: ProgressCallback, cancelled: Callable[[], bool]) -> RunResult:
    """Run the core's front door in this Python; a cancel stops after the frame in flight."""
    from bgmatte import Matter
    from bgmatte.errors import BgmatteError, InputErrors
    from bgmatte.settings import MatteSettings

    stop = threading.Event()

    def on_frame(outcome, done: int, total: int) -> None:
        progress(outcome.frame, done, total, outcome.status)
        if cancelled():
            stop.set()

    try:
        settings = MatteSettings(**job.settings_keywords())
        report = Matter(model=job.model, device=job.device).matte_sequence(
            job.source, job.plate, job.output, frames=job.frames, settings=settings, skip_existing=True,
            progress=on_frame, cancel=stop)
    except BgmatteError as error:
        items = error.errors if isinstance(error, InputErrors) else [error]
        return RunResult(exit_code=error.exit_code, errors=[f"{e.subject}: {e.problem}" for e in items])
    return RunResult(exit_code=report.exit_code, done=len(report.done), skipped=len(report.skipped),
                     failed=[f"frame {f.frame}: {f.reason}" for f in report.failed])


def _read_lines(stream, sink: queue.Queue) -> None:
    for line in stream:
        sink.put(line)
    sink.put(None)


def _interrupt(process: subprocess.Popen) -> None:
    """Ask bgmatte to stop like Ctrl-C does (it removes its temp file), or terminate on Windows."""
    if os.name == "posix":
        process.send_signal(signal.SIGINT)
    else:
        process.terminate()


def run_external(job: MatteJob, python: str, progress: ProgressCallback, cancelled: Callable[[], bool]) -> RunResult:
    """Run ``python -m bgmatte.cli matte ... --progress json`` and follow its JSON lines."""
    command = [python, "-m", "bgmatte.cli", *job.cli_args()]
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as error:
        return RunResult(exit_code=EXIT_INPUT, errors=[f"{python}: cannot run the external Python: {error.strerror}"])
    lines: queue.Queue = queue.Queue()
    stderr: list[str] = []
    threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
    err_reader = threading.Thread(target=lambda: stderr.extend(process.stderr), daemon=True)
    err_reader.start()
    result = RunResult(exit_code=EXIT_OK)
    interrupted = False
    while True:
        if not interrupted and cancelled():
            _interrupt(process)
            interrupted = True
        try:
            line = lines.get(timeout=POLL_SECONDS)
        except queue.Empty:
            continue
        if line is None:
            break
        event = parse_progress(line)
        if event is None:
            continue
        result.done += event.status == "done"
        result.skipped += event.status == "skipped"
        progress(event.frame, event.done, event.total, event.status)
    result.exit_code = process.wait()
    err_reader.join()
    result.errors = error_messages(stderr)
    if result.exit_code not in (EXIT_OK, EXIT_INPUT, EXIT_FRAMES, EXIT_CANCELLED) and not result.errors:
        result.errors = [line.rstrip() for line in stderr[-5:]] or [f"bgmatte exited with {result.exit_code}"]
    if result.exit_code == EXIT_FRAMES:
        result.failed, result.errors = result.errors, []
    return result


def run_job(job: MatteJob, run_in: str, python: str, progress: ProgressCallback,
            cancelled: Callable[[], bool]) -> RunResult:
    """Run in this Python when allowed and bgmatte imports here, else through ``python``."""
    if run_in == "auto" and core_importable():
        return run_in_process(job, progress, cancelled)
    if not python:
        return RunResult(exit_code=EXIT_INPUT, errors=["external python: bgmatte does not import in Nuke's Python "
                                              f"({sys.version.split()[0]}); set the node's external python "
                                              "(or $BGMATTE_PYTHON) to a Python with bgmatte installed"])
    return run_external(job, python, progress, cancelled)
