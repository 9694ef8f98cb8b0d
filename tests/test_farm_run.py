"""Farm behaviour of `bgmatte matte`: killed chunks, racing chunks, reports and thread bounds."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bgmatte.data.synthetic_shot import ShotRecipe, make_shot
from bgmatte.io import read_complete
from conftest import TEST_MODEL, read_exr

FRAMES = range(1001, 1007)


def bgmatte(shot: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bgmatte.cli", "matte", str(shot / "frame.####.exr"), "--plate",
            str(shot / "clean.exr"), "-o", str(out / "m.####.exr"), "--frames", "1001-1006", "--model", TEST_MODEL,
            "--progress", "none", *extra]


def frame_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if re.fullmatch(r"m\.\d{4}\.exr", p.name)) if folder.exists() else []


@pytest.fixture(scope="module")
def farm_shot(tmp_path_factory) -> Path:
    """Frames big enough (480x272) that a kill lands while a frame is being computed or written."""
    out = tmp_path_factory.mktemp("farm_shot")
    make_shot(out, ShotRecipe(width=480, height=272, count=6, strands=20, plate_per_frame=False))
    return out


@pytest.fixture(scope="module")
def clean_run(farm_shot, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clean_run")
    subprocess.run(bgmatte(farm_shot, out), check=True)
    return out


def assert_same_frames(a: Path, b: Path) -> None:
    for f in FRAMES:
        x, _ = read_exr(a / f"m.{f}.exr")
        y, _ = read_exr(b / f"m.{f}.exr")
        assert np.array_equal(x, y), f"frame {f} differs"


def test_a_chunk_killed_mid_frame_leaves_only_complete_frames_and_a_rerun_equals_a_clean_run(
        farm_shot, clean_run, tmp_path):
    out = tmp_path / "killed"
    process = subprocess.Popen(bgmatte(farm_shot, out))
    deadline = time.monotonic() + 120
    while len(frame_files(out)) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    written = frame_files(out)
    assert 0 < len(written) < len(FRAMES), "the kill should land mid-run"
    assert all(read_complete(path) is not None for path in written)
    subprocess.run(bgmatte(farm_shot, out, "--skip-existing"), check=True)
    assert [p.name for p in frame_files(out)] == [f"m.{f}.exr" for f in FRAMES]
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")], "stale temps are cleaned up"
    assert_same_frames(clean_run, out)


def test_two_processes_on_overlapping_chunks_leave_complete_frames_equal_to_a_whole_run(
        farm_shot, clean_run, tmp_path):
    out = tmp_path / "race"
    chunks = [subprocess.Popen(bgmatte(farm_shot, out, "--within", span, "--skip-existing"))
              for span in ("1001-1004", "1003-1006")]
    assert [chunk.wait() for chunk in chunks] == [0, 0]
    assert [p.name for p in out.iterdir()] and all(p.name.startswith("m.") for p in out.iterdir())
    assert_same_frames(clean_run, out)


def test_the_report_lists_done_and_failed_frames_with_reasons_and_exit_code_3(farm_shot, tmp_path):
    shot = tmp_path / "shot"
    shot.mkdir()
    for path in farm_shot.glob("*.exr"):
        (shot / path.name).write_bytes(path.read_bytes())
    data = (shot / "frame.1004.exr").read_bytes()
    (shot / "frame.1004.exr").write_bytes(data[: len(data) // 3])
    report = tmp_path / "report.json"
    done = subprocess.run(bgmatte(shot, tmp_path / "out", "--report", str(report), "--threads", "1",
                                  "--motion", "none"), capture_output=True, text=True)
    assert done.returncode == 3
    data = json.loads(report.read_text())
    assert data["done"] == [1001, 1002, 1003, 1005, 1006]
    assert [f["frame"] for f in data["failed"]] == [1004]
    assert "frame.1004.exr" in data["failed"][0]["reason"] and data["seconds_per_frame"] > 0
    assert f"bgmatte: error: {shot / 'frame.1004.exr'}: " in done.stderr
