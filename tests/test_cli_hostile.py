"""Hostile command lines and environments: one `bgmatte: error:` line and the documented exit code
(or a run that works), never a traceback: over-long names, OCIO configs with a missing LUT,
--threads out of range, symlink loops, --align homography on tiny frames, closed stdout/stderr."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bgmatte.cli import main
from bgmatte.io.atomic import check_target, temp_path_for
from conftest import TEST_MODEL, read_exr, write_exr


def run(capsys, *args: str) -> tuple[int, list[str]]:
    code = main(["matte", *args, "--model", TEST_MODEL, "--progress", "none"])
    err = capsys.readouterr().err.strip().splitlines()
    assert not any("Traceback" in line for line in err), err
    return code, err


def shot_args(shot: Path, output: Path | str, frames: str = "1001-1002") -> list[str]:
    return [str(shot / "frame.####.exr"), "--plate", str(shot / "clean.exr"), "-o", str(output), "--frames", frames,
            "--motion", "none"]


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder)) if folder.exists() else []


# --- over-long names -------------------------------------------------------------------------------

def test_the_temp_of_the_longest_legal_output_name_fits_and_the_frames_are_written(shot_dir, tmp_path, capsys):
    stem = "m" * 246  # m...m.1001.exr is 255 bytes: legal, but ".<name>.<host>-<pid>.tmp.exr" is not
    out = tmp_path / "out"

    code, err = run(capsys, *shot_args(shot_dir, out / f"{stem}.####.exr"))

    assert (code, err) == (0, [])
    assert listing(out) == [f"{stem}.1001.exr", f"{stem}.1002.exr"]


def test_temp_names_are_cut_to_the_limit_with_a_hash_and_keep_the_extension(tmp_path):
    long_a, long_b = tmp_path / ("a" * 240 + "1.exr"), tmp_path / ("a" * 240 + "2.exr")

    temp_a, temp_b = temp_path_for(long_a), temp_path_for(long_b)

    assert len(os.fsencode(temp_a.name)) <= 255 and temp_a.name.startswith(".a") and temp_a.suffix == ".exr"
    assert temp_a != temp_b and temp_a.parent == tmp_path
    assert temp_path_for(tmp_path / "m.1001.exr").name.startswith(".m.1001.exr.")  # short names unchanged


def test_a_cut_temp_left_by_a_dead_process_is_still_found_and_removed(tmp_path, monkeypatch):
    import bgmatte.io.atomic as atomic

    monkeypatch.setattr(atomic.os, "getpid", lambda: 4_000_000)  # no such process
    stale = temp_path_for(tmp_path / ("m" * 246 + ".1001.exr"))
    monkeypatch.undo()
    stale.write_bytes(b"half a frame")

    assert atomic.remove_stale_temps(tmp_path) == [stale]


def test_an_output_name_over_the_limit_is_one_line_exit_2_nothing_written(shot_dir, tmp_path, capsys):
    out = tmp_path / "out"
    name = "m" * 300 + ".####.exr"

    code, err = run(capsys, *shot_args(shot_dir, out / name))

    assert code == 2
    assert err == [f"bgmatte: error: {out / name.replace('####', '1001')}: output file name is 309 bytes; "
                   "the file system allows at most 255"]
    assert listing(out) == []


def test_an_output_folder_name_over_the_limit_is_one_line_exit_2(shot_dir, tmp_path, capsys):
    code, err = run(capsys, *shot_args(shot_dir, tmp_path / ("d" * 300) / "m.####.exr"))

    assert code == 2 and len(err) == 1 and "output folder name" in err[0] and "300 bytes" in err[0]


def test_wider_frame_numbers_are_checked_too(tmp_path):
    with pytest.raises(Exception) as caught:
        check_target(tmp_path / ("m" * 245 + ".100000.exr"))

    assert "file name is 256 bytes" in str(caught.value)


# --- OCIO config with a missing LUT ----------------------------------------------------------------

LUT_CONFIG = """ocio_profile_version: 2
roles:
  default: lin
  scene_linear: lin
  aces_interchange: lin
  cie_xyz_d65_interchange: lin
displays:
  srgb:
    - !<View> {name: raw, colorspace: lin}
colorspaces:
  - !<ColorSpace>
    name: lin
    isdata: false
  - !<ColorSpace>
    name: graded
    from_scene_reference: !<FileTransform> {src: grade_v003.cube, interpolation: linear}
"""


@pytest.mark.parametrize("option", ["--colorspace", "--output-colorspace"])
def test_a_config_whose_lut_is_missing_names_the_config_and_the_lut_before_writing(
        shot_dir, tmp_path, capsys, option):
    config = tmp_path / "show" / "config.ocio"
    config.parent.mkdir()
    config.write_text(LUT_CONFIG)
    out = tmp_path / "out"

    code, err = run(capsys, *shot_args(shot_dir, out / "m.####.exr"), "--ocio", str(config), option, "graded")

    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"bgmatte: error: {config}: ")
    assert "'grade_v003.cube'" in err[0] and str(config.parent / "grade_v003.cube") in err[0]
    assert listing(out) == []


def test_a_config_with_a_missing_lut_from_ocio_env_is_named_the_same_way(shot_dir, tmp_path, capsys, monkeypatch):
    config = tmp_path / "config.ocio"
    config.write_text(LUT_CONFIG)
    monkeypatch.setenv("OCIO", str(config))

    code, err = run(capsys, *shot_args(shot_dir, tmp_path / "out" / "m.####.exr"), "--colorspace", "graded")

    assert code == 2 and len(err) == 1 and str(config) in err[0] and "grade_v003.cube" in err[0]


def test_a_missing_lut_in_a_colourspace_the_run_does_not_use_does_no_harm(shot_dir, tmp_path, capsys):
    config = tmp_path / "config.ocio"
    config.write_text(LUT_CONFIG)

    code, err = run(capsys, *shot_args(shot_dir, tmp_path / "out" / "m.####.exr"), "--ocio", str(config))

    assert (code, err) == (0, [])


# --- --threads -------------------------------------------------------------------------------------

@pytest.mark.parametrize("threads", ["-1", "0", "1025", "100000"])
def test_threads_out_of_range_is_one_line_exit_2(shot_dir, tmp_path, capsys, threads):
    code, err = run(capsys, *shot_args(shot_dir, tmp_path / "out" / "m.####.exr"), f"--threads={threads}")

    assert code == 2
    assert err == [f"bgmatte: error: --threads: must be a whole number from 1 to 1024 (a farm slot's cores), "
                   f"got {threads}"]
    assert not (tmp_path / "out").exists()


# --- symlink loops ---------------------------------------------------------------------------------

@pytest.fixture
def shot(shot_copy) -> Path:
    """A private copy of the shot that a test may damage."""
    return shot_copy


def test_a_symlink_loop_named_like_a_frame_in_the_input_folder_is_one_line(shot, tmp_path, capsys):
    (shot / "frame.1002.exr").unlink()
    (shot / "frame.1002.exr").symlink_to("frame.1002.exr")

    code, err = run(capsys, *shot_args(shot, tmp_path / "out" / "m.####.exr"))

    assert code == 2 and len(err) == 1 and str(shot / "frame.1002.exr") in err[0]
    assert listing(tmp_path / "out") == []


def test_a_symlink_loop_as_the_plate_is_one_line(shot, tmp_path, capsys):
    (tmp_path / "plate.exr").symlink_to("plate.exr")

    code, err = run(capsys, str(shot / "frame.####.exr"), "--plate", str(tmp_path / "plate.exr"), "-o",
                    str(tmp_path / "out" / "m.####.exr"), "--frames", "1001")

    assert code == 2 and len(err) == 1 and str(tmp_path / "plate.exr") in err[0]


def test_a_symlink_loop_as_the_output_folder_is_refused_before_writing(shot, tmp_path, capsys):
    (tmp_path / "out").symlink_to("out")

    code, err = run(capsys, *shot_args(shot, tmp_path / "out" / "m.####.exr"))

    assert code == 2 and err and all(line.startswith("bgmatte: error: ") for line in err)
    assert any("loop" in line for line in err)


def test_a_symlink_loop_as_an_output_file_is_refused_before_writing(shot, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "m.1002.exr").symlink_to("m.1002.exr")

    code, err = run(capsys, *shot_args(shot, out / "m.####.exr"))

    assert code == 2 and len(err) == 1 and str(out / "m.1002.exr") in err[0] and "loop" in err[0]
    assert listing(out) == ["m.1002.exr"]


# --- --align homography on tiny frames -------------------------------------------------------------

@pytest.mark.parametrize(("height", "width"), [(8, 8), (2, 96), (1, 1)])
def test_align_homography_on_tiny_frames_fails_each_frame_with_one_line(shot_dir, tmp_path, capsys, height, width):
    frame, _ = read_exr(shot_dir / "frame.1001.exr")
    plate, _ = read_exr(shot_dir / "clean.exr")
    small = tmp_path / "small"
    for number in (1001, 1002):
        write_exr(small / f"frame.{number}.exr", np.ascontiguousarray(frame[:height, :width, :3]))
    write_exr(small / "clean.exr", np.ascontiguousarray(plate[:height, :width, :3]))
    out = tmp_path / "out"

    code, err = run(capsys, *shot_args(small, out / "m.####.exr"), "--align", "homography")

    assert code == 3
    assert err == [f"bgmatte: error: {small / f'frame.{n}.exr'}: is {width}x{height}: --align homography needs "
                   "at least 32 pixels a side to find features; use --align none" for n in (1001, 1002)]
    assert listing(out) == []


# --- stdout and stderr that go away ------------------------------------------------------------------

def shell(command: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=timeout)


def matte_command(shot: Path, out: Path, *extra: str) -> str:
    argv = [sys.executable, "-m", "bgmatte.cli", "matte", *shot_args(shot, out / "m.####.exr", "1001-1003"),
            "--model", TEST_MODEL, *extra]
    return shlex.join(argv)


def test_progress_json_piped_into_head_does_not_stop_the_run(shot_dir, tmp_path):
    out = tmp_path / "out"
    status = tmp_path / "status"

    result = shell(f"{matte_command(shot_dir, out, '--progress', 'json')} | head -1; "
                   f"echo ${{PIPESTATUS[0]}} > {shlex.quote(str(status))}")

    assert status.read_text().strip() == "0", result.stderr
    assert json.loads(result.stdout)["frame"] == 1001
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
    assert listing(out) == ["m.1001.exr", "m.1002.exr", "m.1003.exr"]


def test_closed_stderr_does_not_stop_the_run_or_leak_into_stdout(shot_dir, tmp_path):
    out = tmp_path / "out"

    result = shell(f"{matte_command(shot_dir, out, '--progress', 'lines')} 2>&-")

    assert result.returncode == 0
    assert result.stdout == ""
    assert listing(out) == ["m.1001.exr", "m.1002.exr", "m.1003.exr"]


def test_closed_stderr_keeps_the_exit_code_of_a_bad_run(shot_dir, tmp_path):
    result = shell(f"{matte_command(shot_dir, tmp_path / 'out', '--threads', '0')} 2>&-")

    assert result.returncode == 2 and result.stdout == ""


def test_a_reader_of_stderr_that_goes_away_does_not_stop_the_run(shot_dir, tmp_path):
    out = tmp_path / "out"

    result = shell(f"{matte_command(shot_dir, out, '--progress', 'lines')} 2>&1 >/dev/null | head -1; "
                   "exit ${PIPESTATUS[0]}")

    assert result.returncode == 0
    assert result.stdout.startswith("bgmatte: frame 1001 done")
    assert listing(out) == ["m.1001.exr", "m.1002.exr", "m.1003.exr"]
