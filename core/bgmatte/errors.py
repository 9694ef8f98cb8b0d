"""One error hierarchy: every user-facing failure names a file (or option) and the problem.

The CLI prints ``bgmatte: error: <file>: <problem>`` for each and exits with the class's
``exit_code``; Blender reports it and cancels; Nuke shows it in a message.
"""
from __future__ import annotations

from pathlib import Path

from bgmatte.protocol import EXIT_CANCELLED, EXIT_ERROR, EXIT_FRAMES, EXIT_INPUT


class BgmatteError(Exception):
    """Base class: a problem a user can act on, tied to a file or option."""

    exit_code = EXIT_ERROR

    def __init__(self, subject: str | Path, problem: str) -> None:
        self.subject = str(subject)
        self.problem = problem
        super().__init__(f"{self.subject}: {problem}")


class InputError(BgmatteError):
    """Raised by the checks that run before anything is written (exit 2)."""

    exit_code = EXIT_INPUT


class FrameError(BgmatteError):
    """Raised while one frame is processed; the run goes on with the others (exit 3)."""

    exit_code = EXIT_FRAMES


class CancelledError(BgmatteError):
    """Raised when a host cancels a run; only complete frames stay on disk."""

    exit_code = EXIT_CANCELLED


class InputErrors(InputError):
    """Several pre-write problems found together, reported one line each."""

    def __init__(self, errors: list[InputError]) -> None:
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(first.subject, first.problem)
