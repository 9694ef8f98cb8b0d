"""Re-runs never keep a stale matte: --skip-existing skips a frame only when every input its pixels
depend on is unchanged (frame, motion-cue neighbours, plate, roto/garbage/core, weights, OCIO config),
and a frame that fails on a re-run loses the previous run's output.
"""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from bgmatte.cli import main
from bgmatte.color import bundled_config_path
from bgmatte.fingerprint import CONTENT_ATTRIBUTE, INPUTS_ATTRIBUTE, file_signature
from conftest import TEST_MODEL, read_exr, write_exr

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def shot(shot_dir, tmp_path) -> Path:
    """A private copy of the 6-frame shot (1001-1006) that a test may change."""
    target = tmp_path / "shot"
    shutil.copytree(shot_dir, target)
    return target


def matte(capsys, shot: Path, out: Path, *extra: str, plate: str = "clean.exr") -> tuple[int, list[str]]:
    code = main(["matte", str(shot / "frame.####.exr"), "--plate", str(shot / plate), "-o", str(out / "m.####.exr"),
                 "--model", TEST_MODEL, "--progress", "none", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert not any("Traceback" in line for line in err)
    return code, err


def stamps(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(out.iterdir())}


def recomputed(before: dict[str, int], out: Path) -> list[str]:
    after = stamps(out)
    return sorted(name for name in after if before.get(name) != after[name])


def replace_keeping_mtime(path: Path, pixels: np.ndarray) -> None:
    """Rewrite an EXR in place and put its old modification time back (as cp -p, rsync -t or some NFS do)."""
    info = path.stat()
    write_exr(path, pixels)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert path.stat().st_mtime_ns == info.st_mtime_ns


def test_unchanged_or_identically_rewritten_inputs_are_skipped_and_the_header_holds_the_fingerprints(
        shot, tmp_path, capsys):
    out = tmp_path / "out"
    assert matte(capsys, shot, out, "--frames", "1001-1003")[0] == 0
    _, spec = read_exr(out / "m.1002.exr")
    assert len(spec.get_string_attribute(INPUTS_ATTRIBUTE)) == len(spec.get_string_attribute(CONTENT_ATTRIBUTE)) == 32
    before = stamps(out)
    assert matte(capsys, shot, out, "--frames", "1001-1003", "--skip-existing")[0] == 0
    assert recomputed(before, out) == []
    # a host that renders its inputs again (Nuke's Analyse) writes the same bytes with a new time
    data = (shot / "frame.1002.exr").read_bytes()
    (shot / "frame.1002.exr").unlink()
    (shot / "frame.1002.exr").write_bytes(data)
    assert matte(capsys, shot, out, "--frames", "1001-1003", "--skip-existing")[0] == 0
    assert recomputed(before, out) == [], "same content: the content fingerprint matches"


def test_a_replaced_frame_recomputes_itself_and_the_frames_that_use_it_as_a_motion_cue(shot, tmp_path, capsys):
    out = tmp_path / "out"
    assert matte(capsys, shot, out)[0] == 0
    before = stamps(out)
    pixels, _ = read_exr(shot / "frame.1003.exr")
    replace_keeping_mtime(shot / "frame.1003.exr", pixels * 0.5)
    assert matte(capsys, shot, out, "--skip-existing")[0] == 0
    # motion cues t-2, t-1, t+1, t+2, clamped at 1001 and 1006: only 1006 does not read 1003
    assert recomputed(before, out) == [f"m.{f}.exr" for f in range(1001, 1006)]


def test_a_plate_replaced_in_place_or_switched_recomputes_every_frame(shot, tmp_path, capsys):
    out = tmp_path / "out"
    args = ("--frames", "1001-1002", "--motion", "none", "--skip-existing")
    assert matte(capsys, shot, out, *args)[0] == 0
    before = stamps(out)
    plate, _ = read_exr(shot / "clean.exr")
    replace_keeping_mtime(shot / "clean.exr", plate * 1.5)
    assert matte(capsys, shot, out, *args)[0] == 0
    assert recomputed(before, out) == ["m.1001.exr", "m.1002.exr"], "plate content changed"

    before = stamps(out)
    shutil.copy2(shot / "clean.exr", shot / "clean_copy.exr")
    assert matte(capsys, shot, out, *args, plate="clean_copy.exr")[0] == 0
    assert recomputed(before, out) == ["m.1001.exr", "m.1002.exr"], "another plate file"

    before = stamps(out)
    assert matte(capsys, shot, out, *args, plate="plate.####.exr")[0] == 0
    assert recomputed(before, out) == ["m.1001.exr", "m.1002.exr"], "a per-frame plate"
    before = stamps(out)
    assert matte(capsys, shot, out, *args, plate="plate.####.exr")[0] == 0
    assert recomputed(before, out) == []


@pytest.mark.parametrize("option", ["--seg", "--garbage", "--core"])
def test_a_fixed_roto_garbage_or_core_matte_recomputes_its_frame(shot, tmp_path, capsys, option):
    for frame in (1001, 1002):
        truth, _ = read_exr(shot / f"alpha.{frame}.exr")
        write_exr(tmp_path / "mattes" / f"m.{frame}.exr", truth[..., 0])
    out = tmp_path / "out"
    args = ("--frames", "1001-1002", "--motion", "none", "--skip-existing", option,
            str(tmp_path / "mattes" / "m.####.exr"))
    assert matte(capsys, shot, out, *args)[0] == 0
    before = stamps(out)
    fixed, _ = read_exr(tmp_path / "mattes" / "m.1002.exr")
    replace_keeping_mtime(tmp_path / "mattes" / "m.1002.exr", np.clip(fixed[..., 0] * 0.5 + 0.25, 0, 1))
    assert matte(capsys, shot, out, *args)[0] == 0
    assert recomputed(before, out) == ["m.1002.exr"]


def test_the_ocio_config_from_ocio_env_is_part_of_the_fingerprint(shot, tmp_path, capsys, monkeypatch):
    first, second = tmp_path / "a" / "config.ocio", tmp_path / "b" / "config.ocio"
    for path in (first, second):
        path.parent.mkdir()
        shutil.copy2(bundled_config_path(), path)
        luts = bundled_config_path().parent / "luts"
        if luts.is_dir():
            shutil.copytree(luts, path.parent / "luts")
    out = tmp_path / "out"
    args = ("--frames", "1001", "--motion", "none", "--skip-existing")
    monkeypatch.setenv("OCIO", str(first))
    assert matte(capsys, shot, out, *args)[0] == 0
    before = stamps(out)
    assert matte(capsys, shot, out, *args)[0] == 0
    assert recomputed(before, out) == []
    monkeypatch.setenv("OCIO", str(second))
    assert matte(capsys, shot, out, *args)[0] == 0
    assert recomputed(before, out) == ["m.1001.exr"], "$OCIO names another config"
    before = stamps(out)
    info = second.stat()
    second.write_text(second.read_text() + "\n# edited\n")
    os.utime(second, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert matte(capsys, shot, out, *args)[0] == 0
    assert recomputed(before, out) == ["m.1001.exr"], "the config was edited in place"


@pytest.mark.parametrize("skip", [True, False])
def test_a_frame_that_fails_on_a_rerun_loses_its_previous_output(shot, tmp_path, capsys, skip):
    out = tmp_path / "out"
    args = ("--frames", "1001-1003", "--motion", "none") + (("--skip-existing",) if skip else ())
    assert matte(capsys, shot, out, *args)[0] == 0
    data = (shot / "frame.1002.exr").read_bytes()
    (shot / "frame.1002.exr").write_bytes(data[: len(data) // 3])
    code, err = matte(capsys, shot, out, *args)
    assert code == 3
    assert sorted(p.name for p in out.iterdir()) == ["m.1001.exr", "m.1003.exr"]
    failed = [line for line in err if line.startswith(f"bgmatte: error: {shot / 'frame.1002.exr'}: ")]
    assert len(failed) == 1 and f"removed the previous output {out / 'm.1002.exr'}" in failed[0]


def test_the_nuke_analyse_path_recomputes_after_the_plate_changes(shot, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "nuke_gizmo"))
    from bgmatte_nuke.runner import MatteJob, run_in_process

    job = MatteJob(source=(shot / "frame.####.exr").as_posix(), plate=(shot / "clean.exr").as_posix(),
                   output=(tmp_path / "cache" / "matte.####.exr").as_posix(), frames="1001-1002",
                   colorspace="ACEScg", ocio="", seg="auto", motion_gap=1, model=TEST_MODEL, device="cpu")
    first = run_in_process(job, lambda *a: None, lambda: False)
    again = run_in_process(job, lambda *a: None, lambda: False)
    assert (first.done, again.done, again.skipped) == (2, 0, 2)
    plate, _ = read_exr(shot / "clean.exr")
    replace_keeping_mtime(shot / "clean.exr", plate * 0.7)
    changed = run_in_process(job, lambda *a: None, lambda: False)
    assert (changed.exit_code, changed.done, changed.skipped) == (0, 2, 0)


def test_a_file_signature_sees_same_size_same_mtime_edits_and_never_opens_a_fifo(tmp_path):
    path = write_exr(tmp_path / "f.exr", np.full((8, 8, 3), 0.25, np.float32))
    before = file_signature(path)
    replace_keeping_mtime(path, np.full((8, 8, 3), 0.5, np.float32))
    assert path.stat().st_size == int(before.split("|")[1])
    assert file_signature(path) != before
    assert file_signature(tmp_path / "none.exr").startswith("missing|")

    fifo = tmp_path / "fifo.exr"
    os.mkfifo(fifo)
    result: list[str] = []

    def sign() -> None:
        try:
            file_signature(fifo)
        except Exception as error:  # noqa: BLE001 - the test reports what happened
            result.append(f"{type(error).__name__}: {error}")

    thread = threading.Thread(target=sign, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():  # unblock the reader before failing
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("file_signature blocked on a FIFO")
    assert result and result[0].startswith("InputError: ") and "FIFO" in result[0]


def test_frames_skipped_on_a_rerun_keep_nothing_cached(shot_dir):
    from bgmatte.frames import FrameSource
    from bgmatte.plan import plan_run
    from bgmatte.settings import MatteSettings

    settings = MatteSettings()
    plan = plan_run(str(shot_dir / "frame.####.exr"), str(shot_dir / "plate.####.exr"),
                    str(shot_dir.parent / "unused" / "m.####.exr"), settings)
    source = FrameSource(plan, settings, working_size=64)
    source.inputs(1001)  # reads frames 1002 and 1003 ahead as motion cues, kept for their own turn
    assert source._frames

    for frame in plan.frames[1:]:
        source.skip(frame)

    assert not source._frames and not source._plates and not source._pending
