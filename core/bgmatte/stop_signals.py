"""Signals that ask a long job to stop at its next safe point instead of interrupting it mid-write.

A KeyboardInterrupt lands between any two bytecodes: between a frame's atomic rename and the
progress line that reports it, or between a checkpoint's parts. A job that turns the signal into
an Event and checks it where stopping is safe keeps what it wrote and what it reported in step.
"""
from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)


@contextlib.contextmanager
def stop_requests(signals: tuple[int, ...], message: str) -> Iterator[threading.Event]:
    """An Event that the first of ``signals`` sets (logging ``message`` as a warning).

    A second SIGINT stops at once (KeyboardInterrupt, as Ctrl-C twice does elsewhere); a repeated
    SIGTERM changes nothing. Handlers are installed only in the main thread (Python delivers
    signals there; a job run in a host's worker thread keeps the host's handlers) and the previous
    ones are restored on exit.
    """
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return

    def handle(signum: int, frame: object) -> None:
        if requested.is_set():
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            return
        log.warning("%s", message)
        requested.set()

    previous = {number: signal.signal(number, handle) for number in signals}
    try:
        yield requested
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
