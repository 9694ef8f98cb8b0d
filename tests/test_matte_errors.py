"""Bad input: one `bgmatte: error: <file>: <problem>` line, the right exit code, nothing partial, inputs untouched."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bgmatte.cli import main
from conftest import TEST_MODEL, read_exr, write_exr


def run(capsys, *args: str) -> tuple[int, list[str]]:
    code = main(["matte", *args, "--model", TEST_MODEL, "--progress", "none"])
    err = capsys.readouterr().err.strip().splitlines()
    assert not any("Traceback" in line for line in err)
    return code, err


def mtimes(folder: Path) -> dict[Path, float]:
    return {p: p.stat().st_mtime for p in folder.iterdir()}


@pytest.fixture
def copy(shot_copy) -> Path:
    """A private copy of the shot that a test may damage."""
    return shot_copy


def assert_nothing_written(out: Path) -> None:
    assert not out.exists() or not any(out.iterdir())


def test_a_missing_frame_inside_the_range_is_named_and_nothing_is_written(copy, tmp_path, capsys):
    (copy / "frame.1003.exr").unlink()
    before = mtimes(copy)
    code, err = run(capsys, str(copy / "frame.####.exr"), "--plate", str(copy / "clean.exr"),
                    "-o", str(tmp_path / "out" / "m.####.exr"), "--frames", "1001-1005")
    assert code == 2
    assert err == [f"bgmatte: error: {copy / 'frame.1003.exr'}: missing frame 1003 inside the requested range"]
    assert_nothing_written(tmp_path / "out")
    assert mtimes(copy) == before


def test_a_plate_of_another_size_is_refused_before_writing(copy, tmp_path, capsys):
    plate, _ = read_exr(copy / "clean.exr")
    small = write_exr(tmp_path / "small_plate.exr", plate[:40, :50])
    code, err = run(capsys, str(copy / "frame.####.exr"), "--plate", str(small), "-o", str(tmp_path / "out" / "m.####.exr"))
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"bgmatte: error: {small}: plate is 50x40")
    assert_nothing_written(tmp_path / "out")


def test_a_file_that_is_not_an_exr_is_named(tmp_path, shot_dir, capsys):
    text = tmp_path / "text.exr"
    text.write_text("not an image\n")
    code, err = run(capsys, str(text), "--plate", str(shot_dir / "clean.exr"), "-o", str(tmp_path / "out.exr"))
    assert code == 2 and len(err) == 1 and str(text) in err[0]
    assert not (tmp_path / "out.exr").exists()


def test_a_truncated_frame_fails_alone_and_the_others_are_written(copy, tmp_path, capsys):
    data = (copy / "frame.1002.exr").read_bytes()
    (copy / "frame.1002.exr").write_bytes(data[: len(data) // 3])
    out = tmp_path / "out"
    code, err = run(capsys, str(copy / "frame.####.exr"), "--plate", str(copy / "clean.exr"), "-o",
                    str(out / "m.####.exr"), "--frames", "1001-1003", "--motion", "none")
    assert code in (2, 3)
    assert any(str(copy / "frame.1002.exr") in line and line.startswith("bgmatte: error: ") for line in err)
    names = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert "m.1002.exr" not in names
    if code == 3:
        assert names == ["m.1001.exr", "m.1003.exr"]


def test_nan_pixels_fail_the_frame_unless_repair_is_asked_for(copy, tmp_path, capsys):
    frame, _ = read_exr(copy / "frame.1001.exr")
    frame[5:9, 5:9] = np.nan
    frame[20, 20] = np.inf
    bad = write_exr(tmp_path / "nan" / "f.1001.exr", frame)
    code, err = run(capsys, str(bad), "--plate", str(copy / "clean.exr"), "-o", str(tmp_path / "a.exr"))
    assert code == 3 and len(err) == 1
    assert err[0].startswith(f"bgmatte: error: {bad}: 17 NaN/Inf pixels")
    assert not (tmp_path / "a.exr").exists()
    code, err = run(capsys, str(bad), "--plate", str(copy / "clean.exr"), "-o", str(tmp_path / "b.exr"),
                    "--repair-nonfinite")
    assert code == 0 and any("warning" in line and "17" in line for line in err)
    assert np.isfinite(read_exr(tmp_path / "b.exr")[0]).all()


def test_rgb_only_input_works_and_single_channel_input_is_refused(copy, tmp_path, capsys):
    frame, _ = read_exr(copy / "frame.1001.exr")
    rgb = write_exr(tmp_path / "rgb.exr", frame[..., :3])
    code, _ = run(capsys, str(rgb), "--plate", str(copy / "clean.exr"), "-o", str(tmp_path / "rgb_out.exr"))
    assert code == 0
    grey = write_exr(tmp_path / "grey.exr", frame[..., 1])
    code, err = run(capsys, str(grey), "--plate", str(copy / "clean.exr"), "-o", str(tmp_path / "grey_out.exr"))
    assert code == 2 and len(err) == 1 and str(grey) in err[0] and "R, G and B" in err[0]
    assert not (tmp_path / "grey_out.exr").exists()


def test_an_unknown_colourspace_is_named(shot_dir, tmp_path, capsys):
    code, err = run(capsys, str(shot_dir / "frame.####.exr"), "--plate", str(shot_dir / "clean.exr"),
                    "-o", str(tmp_path / "m.####.exr"), "--colorspace", "NoSuchSpace")
    assert code == 2 and len(err) == 1 and "NoSuchSpace" in err[0]
    assert not list(tmp_path.glob("m.*"))


def test_a_config_without_interchange_roles_names_the_missing_roles(shot_dir, tmp_path, capsys):
    config = tmp_path / "v1.ocio"
    config.write_text(
        "ocio_profile_version: 1\nsearch_path: .\nroles:\n  scene_linear: studio_lin\n  default: studio_lin\n"
        "displays:\n  sRGB:\n    - !<View> {name: Raw, colorspace: studio_lin}\n"
        "colorspaces:\n  - !<ColorSpace>\n    name: studio_lin\n    family: ''\n    bitdepth: 32f\n"
        "    isdata: false\n")
    code, err = run(capsys, str(shot_dir / "frame.####.exr"), "--plate", str(shot_dir / "clean.exr"),
                    "-o", str(tmp_path / "m.####.exr"), "--ocio", str(config))
    assert code == 2 and len(err) == 1
    assert "aces_interchange" in err[0] or "cie_xyz_d65_interchange" in err[0]


def test_an_output_that_would_overwrite_an_input_is_refused(copy, capsys):
    before = mtimes(copy)
    code, err = run(capsys, str(copy / "frame.####.exr"), "--plate", str(copy / "clean.exr"),
                    "-o", str(copy / "frame.####.exr"), "--frames", "1001-1002")
    assert code == 2 and len(err) == 1 and "overwrite an input" in err[0]
    assert mtimes(copy) == before


def test_an_unwritable_output_folder_is_named(shot_dir, tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the output folder should be")
    code, err = run(capsys, str(shot_dir / "frame.####.exr"), "--plate", str(shot_dir / "clean.exr"),
                    "-o", str(blocker / "sub" / "m.####.exr"), "--frames", "1001")
    assert code == 2 and len(err) == 1 and str(blocker) in err[0]


def test_several_problems_are_reported_together_one_line_each(copy, tmp_path, capsys):
    (copy / "frame.1002.exr").unlink()
    code, err = run(capsys, str(copy / "frame.####.exr"), "--plate", str(copy / "clean.exr"),
                    "-o", str(tmp_path / "m.####.exr"), "--frames", "1001-1003", "--colorspace", "NoSuchSpace")
    assert code == 2 and len(err) == 2
    assert all(line.startswith("bgmatte: error: ") for line in err)


def test_skip_existing_recomputes_only_missing_or_foreign_frames(copy, tmp_path, capsys):
    out = tmp_path / "out"
    args = [str(copy / "frame.####.exr"), "--plate", str(copy / "clean.exr"), "-o", str(out / "m.####.exr"),
            "--frames", "1001-1004"]
    assert run(capsys, *args)[0] == 0
    (out / "m.1002.exr").unlink()
    data = (out / "m.1003.exr").read_bytes()
    (out / "m.1003.exr").write_bytes(data[: len(data) // 2])
    stamp = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert run(capsys, *args, "--skip-existing")[0] == 0
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert after["m.1001.exr"] == stamp["m.1001.exr"] and after["m.1004.exr"] == stamp["m.1004.exr"]
    assert after["m.1003.exr"] != stamp["m.1003.exr"] and "m.1002.exr" in after
    assert run(capsys, *args, "--skip-existing", "--motion-gap", "2")[0] == 0
    changed = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert changed["m.1001.exr"] != after["m.1001.exr"], "other settings: the frame is recomputed"
