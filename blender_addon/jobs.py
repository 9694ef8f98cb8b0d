"""Run one matte request off Blender's main thread and stream its per-frame progress.

Two engines, one interface: ``InProcessJob`` calls the core's front door (``Matter.matte_sequence``
with a progress callback and a cancel event) in a thread; ``ExternalJob`` runs ``bgmatte matte
--progress json`` and reads one JSON object per finished frame from its stdout. Either way a
cancelled run leaves only complete frames in the cache (the core writes each frame atomically).
"""
from __future__ import annotations

import logging
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .bgmatte_protocol import EXIT_CANCELLED, EXIT_ERROR, EXIT_FRAMES, EXIT_OK, ProgressEvent, error_messages, \
    parse_progress
from .request import MatteRequest

if TYPE_CHECKING:
    from bgmatte.api import Matter
    from bgmatte.report import FrameOutcome

log = logging.getLogger(__name__)

MAX_LINES = 8


@dataclass
class JobResult:
    """How a run ended: the CLI's exit code, ``<subject>: <problem>`` lines, and the frames by outcome."""

    exit_code: int
    errors: list[str] = field(default_factory=list)
    done: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)

    @property
    def has_frames(self) -> bool:
        """True when the cache got or kept at least one frame (so wiring the compositor makes sense)."""
        return bool(self.done or self.skipped)

    def messages(self, request: MatteRequest) -> list[tuple[str, str]]:
        """(level, text) pairs for Blender's report: "ERROR", "WARNING" or "INFO"."""
        folder = Path(request.output).parent
        lines = self.errors[:MAX_LINES]
        if len(self.errors) > MAX_LINES:
            lines.append(f"... and {len(self.errors) - MAX_LINES} more problems")
        if self.exit_code == EXIT_CANCELLED:
            kept = len(self.done) + len(self.skipped)
            return [("WARNING", f"bgmatte: cancelled; {kept} complete frames kept in {folder}")]
        if self.exit_code == EXIT_FRAMES:
            return [("WARNING", line) for line in lines] + [
                ("WARNING", f"bgmatte: {len(self.failed)} frames failed, {len(self.done)} written to {folder}")]
        if self.exit_code != EXIT_OK:
            return [("ERROR", line) for line in lines or [f"bgmatte: failed with exit code {self.exit_code}"]]
        return [("INFO", f"bgmatte: {len(self.done)} frames written, {len(self.skipped)} already in {folder}")]


class MatteJob:
    """A matte run in a background thread; poll ``events`` from the main thread, ``cancel`` to stop it."""

    def __init__(self, request: MatteRequest) -> None:
        self.request = request
        self.result: JobResult | None = None
        self._events: queue.Queue[ProgressEvent] = queue.Queue()
        self._cancel = threading.Event()
        self._frames: dict[str, list[int]] = {"done": [], "skipped": [], "failed": []}
        self._thread = threading.Thread(target=self._thread_main, name="bgmatte", daemon=True)

    @property
    def finished(self) -> bool:
        """True once the run has ended and ``result`` is set."""
        return self.result is not None

    @property
    def cancelling(self) -> bool:
        """True once ``cancel`` was called (the run may still be finishing a frame)."""
        return self._cancel.is_set()

    def start(self) -> MatteJob:
        """Start the run in its thread; returns the job."""
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Stop after the frame in progress (in process) or interrupt it (subprocess); complete frames stay."""
        self._cancel.set()

    def events(self, timeout: float = 0.0) -> list[ProgressEvent]:
        """The frames finished since the last call, waiting up to ``timeout`` seconds for the first."""
        items = []
        try:
            items.append(self._events.get(timeout=timeout) if timeout else self._events.get_nowait())
            while True:
                items.append(self._events.get_nowait())
        except queue.Empty:
            pass
        return items

    def run_to_end(self, on_event: Callable[[ProgressEvent], None]) -> JobResult:
        """Block until the started run ends, passing each finished frame to ``on_event``."""
        while not self.finished:
            for event in self.events(timeout=0.25):
                on_event(event)
        self._thread.join()
        for event in self.events():
            on_event(event)
        return self.result

    def _record(self, event: ProgressEvent) -> None:
        self._frames.setdefault(event.status, []).append(event.frame)
        self._events.put(event)

    def _thread_main(self) -> None:
        try:
            exit_code, errors = self._run()
        except Exception as error:  # a bug, not a user mistake: keep the traceback in the log
            log.exception("bgmatte job failed")
            exit_code, errors = EXIT_ERROR, [f"bgmatte: internal error: {error}"]
        self.result = JobResult(exit_code, errors, self._frames["done"], self._frames["skipped"],
                                self._frames["failed"])

    def _run(self) -> tuple[int, list[str]]:
        raise NotImplementedError


_matters: dict[tuple, Matter] = {}
_matters_lock = threading.Lock()


def loaded_matter(model: str, device: str) -> Matter:
    """The core's ``Matter`` for a model and device, loaded once per Blender session (the last one is kept)."""
    from bgmatte.api import Matter

    stamp = os.path.getmtime(model) if os.path.isfile(model) else None
    key = (model, device, stamp)
    with _matters_lock:
        if key not in _matters:
            _matters.clear()
            _matters[key] = Matter(model=model, device=device)
        return _matters[key]


class InProcessJob(MatteJob):
    """Runs the core's front door inside Blender's Python."""

    def _run(self) -> tuple[int, list[str]]:
        from bgmatte.errors import BgmatteError, InputErrors
        from bgmatte.settings import MatteSettings

        request = self.request
        try:
            settings = MatteSettings(**request.settings_keywords())
            report = loaded_matter(request.model, request.device).matte_sequence(
                request.input, request.plate, request.output, frames=request.frames, settings=settings,
                skip_existing=True, progress=self._progress, cancel=self._cancel)
        except InputErrors as error:
            return error.exit_code, [f"{item.subject}: {item.problem}" for item in error.errors]
        except BgmatteError as error:
            return error.exit_code, [f"{error.subject}: {error.problem}"]
        return report.exit_code, [outcome.reason for outcome in report.failed]

    def _progress(self, outcome: FrameOutcome, done: int, total: int) -> None:
        self._record(ProgressEvent(outcome.frame, done, total, outcome.status, outcome.seconds, outcome.output))


class ExternalJob(MatteJob):
    """Runs ``bgmatte matte --progress json`` as a subprocess and parses its stdout and stderr lines."""

    def __init__(self, request: MatteRequest, command: list[str]) -> None:
        super().__init__(request)
        self.command = request.command_line(command)
        self._process: subprocess.Popen | None = None
        self._stderr: list[str] = []

    def cancel(self) -> None:
        """Interrupt the subprocess: the core finishes the frame it was writing, keeps only complete frames, exits 130."""
        super().cancel()
        process = self._process
        if process is not None and process.poll() is None:
            if sys.platform == "win32":
                process.terminate()
            else:
                process.send_signal(signal.SIGINT)

    def _run(self) -> tuple[int, list[str]]:
        log.info("running %s", subprocess.list2cmdline(self.command))
        try:
            self._process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                             stderr=subprocess.PIPE, text=True, bufsize=1)
        except OSError as error:
            return EXIT_ERROR, [f"{self.command[0]}: cannot run: {(error.strerror or str(error)).lower()}"]
        if self._cancel.is_set():
            self.cancel()
        reader = threading.Thread(target=self._read_stderr, daemon=True)
        reader.start()
        for line in self._process.stdout:
            self._read_progress(line)
        exit_code = self._process.wait()
        reader.join()
        errors = error_messages(self._stderr)
        if exit_code not in (EXIT_OK, EXIT_CANCELLED) and not errors:
            last = self._stderr[-1] if self._stderr else "no message"
            errors = [f"{self.command[0]}: exited with code {exit_code}: {last}"]
        return exit_code, errors

    def _read_progress(self, line: str) -> None:
        event = parse_progress(line)
        if event is None:
            log.info("bgmatte: %s", line.rstrip())
            return
        self._record(event)

    def _read_stderr(self) -> None:
        for line in self._process.stderr:
            line = line.rstrip()
            if line:
                log.info("%s", line)
                self._stderr.append(line)


def start_job(request: MatteRequest, in_process: bool, command: list[str] | None = None) -> MatteJob:
    """A started job on the chosen engine (``command`` is the external bgmatte when not in process)."""
    job = InProcessJob(request) if in_process else ExternalJob(request, command or [])
    return job.start()
