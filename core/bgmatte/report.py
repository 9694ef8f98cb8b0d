"""What a run did, frame by frame: the return value of matte_sequence and the --report JSON."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bgmatte.io import atomic_output


@dataclass
class FrameOutcome:
    """One requested frame: "done", "skipped" or "failed" (with the reason)."""

    frame: int
    status: str
    output: str
    seconds: float = 0.0
    reason: str = ""
    stages: dict[str, float] = field(default_factory=dict)


@dataclass
class Report:
    """The outcome of a run; ``exit_code`` follows the CLI contract (0 all written or skipped, 3 some failed)."""

    frames: list[FrameOutcome] = field(default_factory=list)
    cancelled: bool = False
    settings: dict = field(default_factory=dict)
    model: str = ""
    device: str = ""
    seconds_total: float = 0.0

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
        if self.cancelled:
            return 130
        return 3 if self.failed else 0

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
        """Write the report as JSON, atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as tmp:
            Path(tmp).write_text(json.dumps(self.to_dict(), indent=2) + "\n")
