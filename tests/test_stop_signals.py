"""A long job's first signal is a request to stop at a safe point; only a second Ctrl-C stops at once."""
from __future__ import annotations

import os
import signal
import threading

import pytest

from bgmatte.stop_signals import stop_requests


def test_the_first_signal_sets_the_request_and_a_second_ctrl_c_interrupts(caplog):
    before = signal.getsignal(signal.SIGINT)
    with stop_requests((signal.SIGINT,), "stopping soon") as stop:
        assert not stop.is_set()
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.is_set() and "stopping soon" in caplog.text
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def test_a_repeated_sigterm_only_repeats_the_request():
    before = signal.getsignal(signal.SIGTERM)
    with stop_requests((signal.SIGTERM,), "checkpointing") as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.is_set()
    assert signal.getsignal(signal.SIGTERM) is before


def test_outside_the_main_thread_the_hosts_handlers_stay():
    seen = []

    def in_a_worker() -> None:
        with stop_requests((signal.SIGINT,), "unused") as stop:
            seen.append((signal.getsignal(signal.SIGINT), stop.is_set()))

    worker = threading.Thread(target=in_a_worker)
    worker.start()
    worker.join()
    assert seen == [(signal.getsignal(signal.SIGINT), False)]
