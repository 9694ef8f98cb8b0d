"""What a run did, frame by frame: the return value of matte_sequence and the --report JSON."""
from __future__ import annotations

import json
import logging
import os
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bgmatte.errors import BgmatteError, InputError
from bgmatte.io.atomic import check_target, check_writable, write_text_atomic
from bgmatte.protocol import EXIT_CANCELLED, EXIT_FRAMES, EXIT_OK

if TYPE_CHECKING:
    from bgmatte.plan import RunPlan

log = logging.getLogger(__name__)

# An existing file at the report path is replaced only if it is empty or reads as a bgmatte report;
# a report is small, so a bigger file is something else.
_MAX_REPORT_BYTES = 64 * 1024 * 1024


@dataclass
class FrameOutcome:
    """One requested frame: "done", "skipped" or "failed" (with the reason)."""

    frame: int
    status: str
    output: str
    seconds: float = 0.0
    reason: str = ""
    stages: dict[str, float] = field(default_factory=dict)
    plate_gain: list[float] = field(default_factory=list)
    gain_support: float | None = None


@dataclass
class Report:
    """The outcome of a run; ``exit_code`` follows the CLI contract (0 all written or skipped, 3 some failed)."""

    frames: list[FrameOutcome] = field(default_factory=list)
    cancelled: bool = False
    settings: dict = field(default_factory=dict)
    model: str = ""
    device: str = ""
    seconds_total: float = 0.0
    report_error: str = ""

    def _with(self, status: str) -> list[FrameOutcome]:
        return [f for f in self.frames if f.status == status]

    @property
    def done(self) -> list[int]:
        return [f.frame for f in self._with("done")]

    @property
    def skipped(self) -> list[int]:
        return [f.frame for f in self._with("skipped")]

    @property
    def failed(self) -> list[FrameOutcome]:
        return self._with("failed")

    @property
    def exit_code(self) -> int:
        """130 cancelled; 3 some frames failed, or the --report file could not be written; else 0."""
        if self.cancelled:
            return EXIT_CANCELLED
        return EXIT_FRAMES if self.failed or self.report_error else EXIT_OK

    def seconds_per_frame(self) -> float:
        """Mean seconds of the frames computed in this run (0 when none were)."""
        done = self._with("done")
        return sum(f.seconds for f in done) / len(done) if done else 0.0

    def to_dict(self) -> dict:
        """Plain JSON-ready data: counts, per-frame outcomes, seconds per frame, settings."""
        return {
            "done": self.done,
            "skipped": self.skipped,
            "failed": [{"frame": f.frame, "reason": f.reason, "output": f.output} for f in self.failed],
            "cancelled": self.cancelled,
            "seconds_per_frame": round(self.seconds_per_frame(), 4),
            "seconds_total": round(self.seconds_total, 3),
            "model": self.model,
            "device": self.device,
            "settings": self.settings,
            "frames": [asdict(f) for f in self.frames],
            "exit_code": self.exit_code,
        }

    def write_json(self, path: str | os.PathLike) -> None:
        """Write the report as JSON, atomically (temp file in the same folder, then rename).

        Raises:
            InputError: the folder cannot be created.
            OSError: the file cannot be written (nothing is left at ``path`` then).
        """
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    def save(self, path: str | os.PathLike) -> bool:
        """Write the report at the end of a run; a failure is one error line, never an exception.

        The frames are written by then: a report that cannot be written sets ``report_error`` (exit
        code 3, so a farm retries the chunk; with --skip-existing the retry only writes the report).

        Returns:
            True when the report was written.
        """
        try:
            self.write_json(path)
        except BgmatteError as error:
            self.report_error = f"{error.subject}: {error.problem}"
        except OSError as error:
            self.report_error = f"{path}: cannot write the report: {(error.strerror or str(error)).lower()}"
        else:
            return True
        log.error("%s (the frames are written)", self.report_error)
        return False


def check_report_path(path: str | os.PathLike, plan: RunPlan) -> None:
    """The pre-write checks of a --report path, given the run's plan; nothing is written.

    Refused: a folder; a name or path the file system cannot hold (temp file included); a folder
    that cannot be created or written; a path that is one of this run's outputs or inputs (frames,
    motion-cue neighbours on disk, plate, roto, garbage and core mattes); any other existing file
    unless it is empty or an earlier bgmatte report; anything that is not a regular file.

    Raises:
        InputError: (the report path, problem).
    """
    path = Path(path)
    check_target(path, what="--report")
    try:
        check_writable(path.parent)
    except InputError as error:
        raise InputError(path, error.problem.replace("output folder", "--report folder", 1)) from None
    if _is_output(path, plan):
        raise InputError(path, "--report would overwrite an output of this run; choose another report path")
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as error:
        raise InputError(path, f"cannot use the report path: {(error.strerror or str(error)).lower()}") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError(path, "--report path exists and is not a regular file; choose another report path")
    if _is_report_file(path, info):  # an earlier report (never an input: those are images)
        return
    role = _input_role(info, plan)
    if role:
        raise InputError(path, f"--report would overwrite an input of this run ({role}); choose another report path")
    raise InputError(path, "--report would overwrite a file that is not a bgmatte report; "
                           "choose another report path or remove the file")


def _real_folder(path: Path) -> str:
    return os.path.normcase(os.path.realpath(path.parent))


def _is_output(path: Path, plan: RunPlan) -> bool:
    """True when ``path`` names one of the run's output files (existing or not)."""
    names = {plan.output.path(frame).name for frame in plan.frames}
    if path.name not in names:
        return False
    return _real_folder(path) == _real_folder(plan.output.path(plan.frames[0]))


def _input_role(info: os.stat_result, plan: RunPlan) -> str:
    """Which input of the run is the file ``info`` describes ("frame", "plate", ...), or ""."""
    wanted = (info.st_dev, info.st_ino)
    groups = [("frame", plan.input, plan.disk_frames or plan.frames), ("plate", plan.plate, plan.frames)]
    groups += [(name, pattern, plan.frames) for name, pattern in
               (("--seg", plan.seg), ("--garbage", plan.garbage), ("--core", plan.core)) if pattern is not None]
    for role, pattern, frames in groups:
        for frame in (frames if pattern.is_sequence else frames[:1]):
            try:
                other = os.stat(pattern.path(frame))
            except OSError:
                continue
            if (other.st_dev, other.st_ino) == wanted:
                return role
    return ""


def _is_report_file(path: Path, info: os.stat_result) -> bool:
    """True for an empty file or one that reads as a JSON report this class wrote."""
    if info.st_size == 0:
        return True
    if info.st_size > _MAX_REPORT_BYTES:
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and {"frames", "exit_code"} <= data.keys()
