"""Reads ahead and writes behind: the same files, report, errors and cancels as one frame at a time,
with at most FRAMES_IN_FLIGHT frames held and no reader or writer thread left behind."""
from __future__ import annotations

import errno
import json
import os
import signal
import sys
import threading
import time
import weakref
from pathlib import Path

import OpenImageIO as oiio
import pytest

import bgmatte.api
import bgmatte.io.write
from bgmatte.api import Matter
from bgmatte.cli import main
from bgmatte.frames import FrameSource
from bgmatte.io import overlap, read_complete
from bgmatte.io.overlap import FRAMES_IN_FLIGHT, READ_AHEAD, ReadAhead, WriteBehind
from bgmatte.settings import MatteSettings
from conftest import TEST_MODEL

pytestmark = pytest.mark.usefixtures("one_torch_thread")

WAIT = 30.0  # seconds a test waits for another thread before calling it stuck


@pytest.fixture(scope="module")
def matter() -> Matter:
    return Matter(model=TEST_MODEL, device="cpu")


def io_threads() -> list[str]:
    """The reader and writer threads still alive."""
    return [t.name for t in threading.enumerate() if t.name.startswith(("bgmatte-read", "bgmatte-write"))]


def listing(folder: Path) -> list[str]:
    """Every name in a folder, hidden temps included."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def matte_cli(capsys, shot: Path, out: Path, *extra: str) -> tuple[int, list[dict], list[str]]:
    """Run `bgmatte matte` with JSON progress: exit code, progress objects (without timings), stderr lines."""
    code = main(["matte", str(shot / "frame.####.exr"), "--plate", str(shot / "clean.exr"), "-o",
                 str(out / "m.####.exr"), "--model", TEST_MODEL, "--progress", "json", *extra])
    captured = capsys.readouterr()
    events = [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in captured.out.splitlines()]
    err = captured.err.strip().splitlines()
    assert not any("Traceback" in line for line in err)
    return code, events, err


def in_both_modes(monkeypatch, run) -> tuple:
    """``run(folder name)`` with overlap, then without: both results."""
    results = []
    for on in (True, False):
        monkeypatch.setattr(overlap, "OVERLAP", on)
        results.append(run("overlap" if on else "serial"))
    return tuple(results)


def as_overlap(serial_events: list[dict], tmp_path: Path) -> list[dict]:
    """Progress objects of the serial run as the overlapped run (in tmp_path/overlap) should print them."""
    def moved(value):
        return value.replace(str(tmp_path / "serial"), str(tmp_path / "overlap")) if isinstance(value, str) else value

    return [{k: moved(v) for k, v in event.items()} for event in serial_events]


def exr_content(path: Path) -> tuple[bytes, dict[str, str], tuple]:
    """An EXR's raw stored pixels, windows and channels, and its attributes but DateTime (the time of writing)."""
    image = oiio.ImageInput.open(str(path))
    assert image is not None, oiio.geterror()
    spec = image.spec()
    pixels = image.read_image(0, 0, 0, spec.nchannels, oiio.UNKNOWN)
    image.close()
    attributes = {a.name: str(a.value) for a in spec.extra_attribs if a.name != "DateTime"}
    layout = (spec.x, spec.y, spec.width, spec.height, spec.full_x, spec.full_y, spec.full_width, spec.full_height,
              tuple(spec.channelnames), str(spec.format))
    return pixels.tobytes(), attributes, layout


def report_summary(report) -> list[tuple]:
    """What a report says per frame, timings left out: order, status, reason, stage names, plate gain."""
    return [(f.frame, f.status, f.reason, sorted(f.stages), f.plate_gain, f.gain_support) for f in report.frames]


# The module on its own


def test_read_ahead_loads_in_order_on_one_thread_and_at_most_depth_ahead():
    asked = 0
    loads: list[tuple[int, int]] = []
    second_started = threading.Event()

    def load(item: int) -> int:
        assert item <= asked - 1 + READ_AHEAD, f"item {item} loaded with only {asked} asked for"
        loads.append((item, threading.get_ident()))
        if item == 1:
            second_started.set()
        return item * 10

    with ReadAhead(range(5), load) as reads:
        taken = []
        for _ in range(5):
            asked += 1
            taken.append(next(reads))
            if len(taken) == 1:
                assert second_started.wait(WAIT), "item 1 was not read ahead while the caller held item 0"
        asked += 1
        with pytest.raises(StopIteration):
            next(reads)
    assert taken == [0, 10, 20, 30, 40]
    assert [item for item, _ in loads] == [0, 1, 2, 3, 4]
    assert len({ident for _, ident in loads}) == 1 and loads[0][1] != threading.get_ident()
    assert io_threads() == []


def test_a_load_error_is_raised_in_the_caller_at_its_items_turn():
    def load(item: int) -> int:
        if item == 2:
            raise ValueError("item 2 is bad")
        return item

    with ReadAhead(range(4), load) as reads:
        assert [next(reads), next(reads)] == [0, 1]
        with pytest.raises(ValueError, match="item 2 is bad"):
            next(reads)
        assert next(reads) == 3
    assert io_threads() == []


def test_closing_finishes_the_running_load_drops_the_rest_and_joins_the_reader():
    finished: list[int] = []
    running = threading.Event()

    def load(item: int) -> int:
        if item == 1:
            running.set()
            time.sleep(0.2)
        finished.append(item)
        return item

    reads = ReadAhead(range(100), load)
    assert next(reads) == 0
    assert running.wait(WAIT)
    reads.close()
    assert finished == [0, 1]
    assert io_threads() == []


def test_write_behind_runs_off_the_callers_thread_and_wait_returns_or_raises():
    def fail() -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with WriteBehind() as writes:
        assert writes.wait() is None
        writes.submit(threading.get_ident)
        with pytest.raises(RuntimeError):
            writes.submit(threading.get_ident)
        assert writes.wait() != threading.get_ident()
        writes.submit(fail)
        with pytest.raises(OSError, match="No space left"):
            writes.wait()
    assert io_threads() == []


def blocked_in_writer_wait(ident: int) -> bool:
    """Whether the thread ``ident`` is blocked on a condition inside WriteBehind.wait."""
    frame, stack = sys._current_frames().get(ident), []
    while frame is not None:
        stack.append((frame.f_code.co_name, Path(frame.f_code.co_filename).name))
        frame = frame.f_back
    return bool(stack) and stack[0] == ("wait", "threading.py") and ("wait", "overlap.py") in stack


def test_an_interrupt_while_waiting_for_the_writer_leaves_its_job_to_collect():
    caller = threading.get_ident()

    def interrupt_the_waiting_caller() -> str:
        deadline = time.monotonic() + WAIT
        while not blocked_in_writer_wait(caller) and time.monotonic() < deadline:
            time.sleep(0.01)
        signal.pthread_kill(caller, signal.SIGINT)
        return "written"

    with WriteBehind() as writes:
        writes.submit(interrupt_the_waiting_caller)
        with pytest.raises(KeyboardInterrupt):
            writes.wait()
        assert writes.wait() == "written"
        assert writes.wait() is None
    assert io_threads() == []


def test_closing_the_writer_waits_for_the_running_job():
    done = threading.Event()

    def slow() -> None:
        time.sleep(0.2)
        done.set()

    writes = WriteBehind()
    writes.submit(slow)
    writes.close()
    assert done.is_set() and io_threads() == []


def test_with_overlap_off_loads_and_jobs_run_in_the_callers_thread_on_demand(monkeypatch):
    monkeypatch.setattr(overlap, "OVERLAP", False)
    loads: list[tuple[int, int]] = []
    with ReadAhead(range(3), lambda item: loads.append((item, threading.get_ident())) or item) as reads:
        assert next(reads) == 0 and [item for item, _ in loads] == [0]
        assert next(reads) == 1 and [item for item, _ in loads] == [0, 1]
    assert {ident for _, ident in loads} == {threading.get_ident()}
    with WriteBehind() as writes:
        ran = []
        writes.submit(lambda: ran.append(threading.get_ident()))
        assert ran == [threading.get_ident()]
        writes.wait()


# Sequences through the front door and the CLI


def test_pixels_headers_and_report_are_identical_with_and_without_overlap(matter, shot_dir, tmp_path, monkeypatch):
    def run(name: str):
        return matter.matte_sequence(str(shot_dir / "frame.####.exr"), str(shot_dir / "plate.####.exr"),
                                     str(tmp_path / name / "m.####.exr"), frames="1001-1006",
                                     settings=MatteSettings(layers=("fg", "shadow")))

    overlapped, serial = in_both_modes(monkeypatch, run)

    assert overlapped.exit_code == serial.exit_code == 0
    assert report_summary(overlapped) == report_summary(serial)
    assert [f.frame for f in overlapped.frames] == list(range(1001, 1007))
    assert listing(tmp_path / "overlap") == listing(tmp_path / "serial") == [f"m.{f}.exr" for f in range(1001, 1007)]
    for name in listing(tmp_path / "serial"):
        assert exr_content(tmp_path / "overlap" / name) == exr_content(tmp_path / "serial" / name), name
    assert io_threads() == []


def test_a_corrupt_middle_frame_fails_alone_with_the_same_lines_as_without_overlap(shot_copy, tmp_path, capsys,
                                                                                   monkeypatch):
    data = (shot_copy / "frame.1003.exr").read_bytes()
    (shot_copy / "frame.1003.exr").write_bytes(data[: len(data) // 3])

    overlapped, serial = in_both_modes(
        monkeypatch, lambda name: matte_cli(capsys, shot_copy, tmp_path / name, "--frames", "1001-1005"))

    code, events, err = overlapped
    assert code == serial[0] == 3
    assert events == as_overlap(serial[1], tmp_path)
    assert [(e["frame"], e["done"], e["status"]) for e in events] == [
        (1001, 1, "done"), (1002, 2, "done"), (1003, 3, "failed"), (1004, 4, "done"), (1005, 5, "done")]
    errors = [line for line in err if line.startswith("bgmatte: error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"bgmatte: error: {shot_copy / 'frame.1003.exr'}: ")
    assert errors == [line for line in serial[2] if line.startswith("bgmatte: error: ")]
    assert sorted(err) == sorted(serial[2]), "the same warnings (motion cues falling back), maybe earlier"
    assert listing(tmp_path / "overlap") == ["m.1001.exr", "m.1002.exr", "m.1004.exr", "m.1005.exr"]


def test_cancel_after_the_first_frame_leaves_only_it_and_stops_the_threads(matter, shot_dir, tmp_path):
    cancel = threading.Event()
    seen = []

    def stop_after_one(outcome, done, total):
        seen.append(outcome.frame)
        if done == 1:
            cancel.set()

    report = matter.matte_sequence(str(shot_dir / "frame.####.exr"), str(shot_dir / "clean.exr"),
                                   str(tmp_path / "m.####.exr"), frames="1001-1006", progress=stop_after_one,
                                   cancel=cancel)

    assert report.cancelled and report.exit_code == 130
    assert report.done == [1001] and seen == [1001]
    assert listing(tmp_path) == ["m.1001.exr"]
    assert read_complete(tmp_path / "m.1001.exr") is not None
    assert io_threads() == []


def test_a_cancelled_run_resumes_with_skip_existing_to_the_same_files(matter, shot_dir, tmp_path):
    def run(out: Path, **kwargs):
        return matter.matte_sequence(str(shot_dir / "frame.####.exr"), str(shot_dir / "clean.exr"),
                                     str(out / "m.####.exr"), frames="1001-1006", **kwargs)

    cancel = threading.Event()
    first = run(tmp_path / "resumed", cancel=cancel,
                progress=lambda outcome, done, total: done == 2 and cancel.set())
    again = run(tmp_path / "resumed", skip_existing=True)
    whole = run(tmp_path / "whole")

    assert first.done == [1001, 1002] and first.cancelled
    assert again.skipped == [1001, 1002] and again.done == [1003, 1004, 1005, 1006] and again.exit_code == 0
    assert [f.frame for f in again.frames] == list(range(1001, 1007))
    for frame in range(1001, 1007):
        resumed, fresh = (tmp_path / "resumed" / f"m.{frame}.exr"), (tmp_path / "whole" / f"m.{frame}.exr")
        assert exr_content(resumed) == exr_content(fresh), frame


def test_an_interrupt_mid_run_finishes_and_reports_the_frame_being_written_and_leaves_no_temp(
        shot_dir, tmp_path, capsys, monkeypatch):
    real_matte, real_write = bgmatte.api.matte_arrays, bgmatte.api.write_matte
    computed = []

    def interrupt_the_third(model, inputs, layers):
        computed.append(1)
        if len(computed) == 3:
            raise KeyboardInterrupt
        return real_matte(model, inputs, layers)

    def slow_write(*args, **kwargs):
        time.sleep(0.2)  # still writing frame 1002 when frame 1003's compute is interrupted
        real_write(*args, **kwargs)

    monkeypatch.setattr(bgmatte.api, "matte_arrays", interrupt_the_third)
    monkeypatch.setattr(bgmatte.api, "write_matte", slow_write)
    code, events, err = matte_cli(capsys, shot_dir, tmp_path, "--frames", "1001-1006")

    assert code == 130 and err[-1] == "bgmatte: error: interrupted"
    assert [(e["frame"], e["status"]) for e in events] == [(1001, "done"), (1002, "done")]
    assert listing(tmp_path) == ["m.1001.exr", "m.1002.exr"], "the frames on disk are the frames reported"
    assert all(read_complete(tmp_path / name) is not None for name in listing(tmp_path))
    assert io_threads() == []


def test_a_ctrl_c_or_sigterm_stops_the_command_after_the_frame_in_progress_and_reports_it(
        shot_dir, tmp_path, capsys, monkeypatch):
    real_write = bgmatte.api.write_matte
    for number in (signal.SIGINT, signal.SIGTERM):
        out = tmp_path / signal.Signals(number).name

        def signal_while_writing_the_second(target, *args, **kwargs):
            if Path(target).name == "m.1002.exr":
                os.kill(os.getpid(), number)  # from the writer thread, as a user's or a farm's signal
                time.sleep(0.2)
            real_write(target, *args, **kwargs)

        monkeypatch.setattr(bgmatte.api, "write_matte", signal_while_writing_the_second)
        code, events, err = matte_cli(capsys, shot_dir, out, "--frames", "1001-1006",
                                      "--report", str(tmp_path / f"{out.name}.json"))
        report = json.loads((tmp_path / f"{out.name}.json").read_text())

        assert code == 130 and err[-1] == "bgmatte: error: interrupted", err
        assert any("stopping after the frame in progress" in line for line in err)
        assert [(e["frame"], e["status"]) for e in events] == [(1001, "done"), (1002, "done")]
        assert listing(out) == ["m.1001.exr", "m.1002.exr"], "the frames on disk are the frames reported"
        assert all(read_complete(out / name) is not None for name in listing(out))
        assert report["cancelled"] and report["done"] == [1001, 1002] and report["exit_code"] == 130
        assert signal.getsignal(number) in (signal.default_int_handler, signal.SIG_DFL), "handler restored"
        assert io_threads() == []


def test_frames_in_flight_never_exceed_the_bound_while_reads_run_ahead_of_writes(matter, shot_dir, tmp_path,
                                                                                monkeypatch):
    frames = range(1001, 1007)
    lock = threading.Lock()
    state = {"in_flight": 0, "peak": 0, "stuck": []}
    alive: set[int] = set()
    read_started = {f: threading.Event() for f in frames}
    freed = {f: threading.Event() for f in frames}
    real_inputs, real_write = FrameSource.inputs, bgmatte.api.write_matte

    def forget(frame: int) -> None:
        alive.discard(frame)
        freed[frame].set()

    def counted_inputs(source, frame):
        with lock:
            state["in_flight"] += 1
            state["peak"] = max(state["peak"], state["in_flight"])
        read_started[frame].set()
        inputs = real_inputs(source, frame)
        alive.add(frame)
        weakref.finalize(inputs, forget, frame)
        return inputs

    def write_once_the_next_frames_move_on(path, *args, **kwargs):
        frame = int(Path(path).name.split(".")[1])
        assert len(alive) <= READ_AHEAD + 1, f"input pixels of frames {sorted(alive)} held while writing {frame}"
        for later, event, what in ((frame + 1, freed, "computed and freed"), (frame + 2, read_started, "read")):
            if later in event and not event[later].wait(WAIT):
                state["stuck"].append(f"frame {later} was not {what} while frame {frame} was written")
        real_write(path, *args, **kwargs)
        with lock:
            state["in_flight"] -= 1

    monkeypatch.setattr(FrameSource, "inputs", counted_inputs)
    monkeypatch.setattr(bgmatte.api, "write_matte", write_once_the_next_frames_move_on)
    report = matter.matte_sequence(str(shot_dir / "frame.####.exr"), str(shot_dir / "plate.####.exr"),
                                   str(tmp_path / "m.####.exr"), frames="1001-1006")

    assert report.exit_code == 0 and report.done == list(frames)
    assert state["stuck"] == []
    assert state["peak"] == FRAMES_IN_FLIGHT == 3
    assert state["in_flight"] == 0 and io_threads() == []


def test_a_write_failure_fails_that_frame_as_without_overlap_and_does_not_hang(shot_dir, tmp_path, capsys,
                                                                               monkeypatch):
    real = bgmatte.io.write._write_exr

    def disk_full_on_1002(temp, spec, pixels, path):
        if Path(path).name == "m.1002.exr":
            Path(temp).write_bytes(b"half a frame")
            raise OSError(errno.ENOSPC, "No space left on device")
        real(temp, spec, pixels, path)

    monkeypatch.setattr(bgmatte.io.write, "_write_exr", disk_full_on_1002)

    def run(name: str):
        result = []
        worker = threading.Thread(target=lambda: result.append(
            matte_cli(capsys, shot_dir, tmp_path / name, "--frames", "1001-1003", "--motion", "none")), daemon=True)
        worker.start()
        worker.join(120)
        assert not worker.is_alive(), "the run hung after a write failure"
        return result[0]

    (code, events, err), serial = in_both_modes(monkeypatch, run)

    out = tmp_path / "overlap"
    assert code == serial[0] == 3
    assert err == [f"bgmatte: error: {out / 'm.1002.exr'}: cannot write: no space left on device"]
    assert serial[2] == [f"bgmatte: error: {tmp_path / 'serial' / 'm.1002.exr'}: cannot write: no space left on device"]
    assert [(e["frame"], e["status"]) for e in events] == [(1001, "done"), (1002, "failed"), (1003, "done")]
    assert events == as_overlap(serial[1], tmp_path)
    assert listing(out) == ["m.1001.exr", "m.1003.exr"]
    assert io_threads() == []


def test_an_unexpected_error_in_the_writer_is_raised_in_the_caller_and_stops_the_threads(matter, shot_dir, tmp_path,
                                                                                        monkeypatch):
    def broken_write(*args, **kwargs):
        raise RuntimeError("a bug in the writer")

    monkeypatch.setattr(bgmatte.api, "write_matte", broken_write)
    with pytest.raises(RuntimeError, match="a bug in the writer"):
        matter.matte_sequence(str(shot_dir / "frame.####.exr"), str(shot_dir / "clean.exr"),
                              str(tmp_path / "m.####.exr"), frames="1001-1006")
    assert listing(tmp_path) == [] and io_threads() == []
