"""`--gain-match auto|off|R,G,B`: the user decides the plate's exposure match, and every frame says which it used."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bgmatte.cli import main
from bgmatte.errors import InputError
from bgmatte.settings import MatteSettings
from conftest import TEST_MODEL, read_exr, write_exr


def matte(shot: Path, out: Path, *extra: str) -> int:
    return main(["matte", str(shot / "frame.####.exr"), "--plate", str(shot / "plate.####.exr"), "-o", str(out),
                 "--model", TEST_MODEL, "--progress", "none", "--frames", "1001-1002", *extra])


def plate_gain(path: Path) -> np.ndarray:
    _, spec = read_exr(path)
    return np.float32(spec.getattribute("bgmatte:plate_gain").split())


@pytest.mark.parametrize("value, expected", [("off", (1.0, 1.0, 1.0)), ("1.02,1,0.98", (1.02, 1.0, 0.98)),
                                             ("0.5", (0.5, 0.5, 0.5))])
def test_a_fixed_gain_is_the_one_applied_and_written_in_the_header(shot_dir, tmp_path, value, expected):
    assert matte(shot_dir, tmp_path / "m.####.exr", "--gain-match", value) == 0
    np.testing.assert_allclose(plate_gain(tmp_path / "m.1001.exr"), expected, rtol=1e-5)


def test_a_fixed_gain_changes_the_matte_as_scaling_the_plate_file_would(shot_dir, tmp_path):
    scaled = tmp_path / "scaled"
    scaled.mkdir()
    for frame in (1001, 1002):
        pixels, _ = read_exr(shot_dir / f"plate.{frame}.exr")
        write_exr(scaled / f"plate.{frame}.exr", pixels[..., :3] * np.float32([1.1, 1.0, 0.9]))
        (scaled / f"frame.{frame}.exr").symlink_to(shot_dir / f"frame.{frame}.exr")
    assert matte(shot_dir, tmp_path / "a.####.exr", "--gain-match", "1.1,1,0.9") == 0
    assert matte(scaled, tmp_path / "b.####.exr", "--gain-match", "off") == 0
    a, _ = read_exr(tmp_path / "a.1001.exr")
    b, _ = read_exr(tmp_path / "b.1001.exr")
    np.testing.assert_allclose(a[..., 3], b[..., 3], atol=2e-3)


def test_auto_reports_the_estimated_gain_and_its_support_in_the_header_and_the_report(shot_dir, tmp_path):
    report = tmp_path / "report.json"
    assert matte(shot_dir, tmp_path / "m.####.exr", "--report", str(report)) == 0
    _, spec = read_exr(tmp_path / "m.1001.exr")
    header_gain = plate_gain(tmp_path / "m.1001.exr")
    assert 0.0 <= float(spec.getattribute("bgmatte:plate_gain_support")) <= 1.0
    frames = json.loads(report.read_text())["frames"]
    np.testing.assert_allclose(frames[0]["plate_gain"], header_gain, rtol=1e-4)
    assert 0.0 <= frames[0]["gain_support"] <= 1.0


def test_a_frame_whose_plate_cannot_be_matched_is_named_once_in_a_warning(shot_dir, tmp_path, capsys):
    black = tmp_path / "black"
    black.mkdir()
    for frame in (1001, 1002):
        pixels, _ = read_exr(shot_dir / f"plate.{frame}.exr")
        write_exr(black / f"plate.{frame}.exr", pixels[..., :3] * np.float32(0.0 if frame == 1002 else 1.0))
        (black / f"frame.{frame}.exr").symlink_to(shot_dir / f"frame.{frame}.exr")
    assert matte(black, tmp_path / "m.####.exr") == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "plate gain match skipped" in line]
    assert warnings == [f"bgmatte: warning: {black / 'frame.1002.exr'}: plate gain match skipped, too little of "
                        "the plate agrees with the frame (gain 1 used; --gain-match R,G,B sets it)"]
    np.testing.assert_array_equal(plate_gain(tmp_path / "m.1002.exr"), (1.0, 1.0, 1.0))


@pytest.mark.parametrize("value", ["1,2", "bright", "0,1,1", "-1", "nan,1,1", "inf"])
def test_a_bad_gain_is_one_error_line_and_exit_2_with_nothing_written(shot_dir, tmp_path, capsys, value):
    assert matte(shot_dir, tmp_path / "m.####.exr", "--gain-match", value) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith("bgmatte: error: --gain-match: ")
    assert not list(tmp_path.glob("m.*"))


def test_the_gain_setting_is_part_of_the_settings_that_change_pixels():
    assert MatteSettings(gain_match="off").fingerprint("m", "fp32", "v") != MatteSettings().fingerprint("m", "fp32", "v")
    with pytest.raises(InputError):
        MatteSettings(gain_match="1,1")
