"""The checks before writing never hang and grow linearly with the frame count.

Linear is shown by counting file-system calls and header reads for two sequence lengths (no timed
assertions); FIFOs and link loops named like frames fail the checks with one line (exit 2), and a
frame range far beyond the folder fails at once with one summary line.
"""
from __future__ import annotations

import os
import shutil
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import bgmatte.io.exr
from bgmatte.cli import main
from bgmatte.errors import InputErrors
from bgmatte.plan import plan_run
from bgmatte.settings import MatteSettings
from conftest import TEST_MODEL, write_exr


def tiny_shot(folder: Path, count: int) -> Path:
    """``count`` copies of one 8x8 EXR as f.0001.exr ... and a still plate; returns the folder."""
    folder.mkdir(parents=True)
    one = write_exr(folder / "one.exr", np.full((8, 8, 3), 0.5, np.float32))
    for frame in range(1, count + 1):
        shutil.copyfile(one, folder / f"f.{frame:04d}.exr")
    write_exr(folder / "plate.exr", np.full((8, 8, 3), 0.25, np.float32))
    return folder


def counted_plan(monkeypatch, folder: Path, **kwargs) -> tuple[Counter, list]:
    """Plan a run of ``folder``: the stat calls, directory listings and header reads it made, and its errors."""
    calls: Counter = Counter()
    errors: list = []

    def counting(name, real):
        def wrapper(*args, **kw):
            calls[name] += 1
            return real(*args, **kw)
        return wrapper

    with monkeypatch.context() as patch:
        patch.setattr(os, "stat", counting("stat", os.stat))
        patch.setattr(os, "lstat", counting("lstat", os.lstat))
        patch.setattr(os, "scandir", counting("scandir", os.scandir))
        patch.setattr(os, "listdir", counting("listdir", os.listdir))
        patch.setattr(bgmatte.io.exr, "open_exr", counting("header", bgmatte.io.exr.open_exr))
        try:
            plan_run(str(folder / "f.####.exr"), str(folder / "plate.exr"),
                     str(folder.parent / "out" / "m.####.exr"), MatteSettings(), **kwargs)
        except InputErrors as failed:
            errors = failed.errors
    return calls, errors


def test_the_checks_before_writing_grow_linearly_with_the_frame_count(tmp_path, monkeypatch):
    small, small_errors = counted_plan(monkeypatch, tiny_shot(tmp_path / "small" / "shot", 12))
    large, large_errors = counted_plan(monkeypatch, tiny_shot(tmp_path / "large" / "shot", 48))
    assert small_errors == large_errors == []
    assert large["header"] == small["header"] + 36, "one header read per frame (and one for the still plate)"
    assert large["scandir"] + large["listdir"] <= max(2, small["scandir"] + small["listdir"])
    file_calls = large["stat"] + large["lstat"]
    assert file_calls <= 4 * (small["stat"] + small["lstat"]) + 10, \
        f"stat calls grow faster than the frames: {dict(small)} -> {dict(large)}"


def test_a_frame_range_far_beyond_the_folder_fails_at_once_with_one_summary_line(tmp_path, monkeypatch):
    folder = tiny_shot(tmp_path / "shot", 6)
    calls, errors = counted_plan(monkeypatch, folder, frames="1-999999")
    assert len(errors) == 1
    error = errors[0]
    assert error.subject == str(folder / "f.####.exr")
    assert error.problem == "999993 of the 999999 requested frames are missing: 7-999999 (frames on disk: 1-6)"
    assert calls["stat"] + calls["lstat"] < 200 and calls["header"] <= 7, "no file is looked at per missing frame"


def test_a_few_missing_frames_still_get_one_line_each(tmp_path, monkeypatch):
    folder = tiny_shot(tmp_path / "shot", 6)
    _, errors = counted_plan(monkeypatch, folder, frames="1-8")
    lines = [f"{e.subject}: {e.problem}" for e in errors]
    assert lines == [f"{folder / f'f.000{f}.exr'}: missing frame {f} inside the requested range" for f in (7, 8)]


def run_with_deadline(capsys, args: list[str], unblock: list[Path], seconds: float = 60) -> tuple[int, list[str]]:
    """Run the CLI in a thread; fail (after unblocking any FIFO reader) if it does not return in time."""
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(main(args)), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        for fifo in unblock:
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
        thread.join(10)
        pytest.fail("the run hung on a FIFO")
    err = capsys.readouterr().err.strip().splitlines()
    assert not any("Traceback" in line for line in err)
    return result[0], err


def matte_args(folder: Path, out: Path, *extra: str, plate: str = "plate.exr") -> list[str]:
    return ["matte", str(folder / "f.####.exr"), "--plate", str(folder / plate), "-o", str(out / "m.####.exr"),
            "--model", TEST_MODEL, "--progress", "none", *extra]


@pytest.mark.parametrize("where", ["a requested frame", "a motion-cue neighbour", "the plate"])
def test_a_fifo_named_like_an_input_fails_the_checks_with_one_line_and_never_hangs(tmp_path, capsys, where):
    folder = tiny_shot(tmp_path / "shot", 6)
    fifo = {"a requested frame": folder / "f.0003.exr", "a motion-cue neighbour": folder / "f.0004.exr",
            "the plate": folder / "fifo_plate.exr"}[where]
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)
    plate = fifo.name if where == "the plate" else "plate.exr"
    code, err = run_with_deadline(capsys, matte_args(folder, tmp_path / "out", "--frames", "1-2", plate=plate),
                                  [fifo])
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"bgmatte: error: {fifo}: ") and "FIFO" in err[0]
    assert not (tmp_path / "out").exists()


def test_a_symlink_loop_named_like_a_frame_or_as_the_output_is_one_clear_line(tmp_path, capsys):
    folder = tiny_shot(tmp_path / "shot", 4)
    (folder / "f.0002.exr").unlink()
    os.symlink(folder / "f.0002.exr", folder / "f.0002.exr")
    code, err = run_with_deadline(capsys, matte_args(folder, tmp_path / "out"), [])
    assert code == 2 and err == [f"bgmatte: error: {folder / 'f.0002.exr'}: is a symlink loop; remove the link "
                                 "or point it at a file"]

    (folder / "f.0002.exr").unlink()
    shutil.copyfile(folder / "f.0001.exr", folder / "f.0002.exr")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(out / "m.0003.exr", out / "m.0003.exr")
    code, err = run_with_deadline(capsys, matte_args(folder, out), [])
    assert code == 2 and err == [f"bgmatte: error: {out / 'm.0003.exr'}: output is a symlink loop; remove the "
                                 "link or choose another path"]
