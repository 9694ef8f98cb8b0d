"""`bgmatte matte`: the output contract of the command line (formats, windows, metadata, progress, layers)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from bgmatte.cli import main
from conftest import TEST_MODEL, channel, read_exr, write_exr, write_garbage_outside_subject


def matte(shot: Path, out: Path, *extra: str, plate: str = "plate.####.exr") -> int:
    return main(["matte", str(shot / "frame.####.exr"), "--plate", str(shot / plate), "-o", str(out),
                 "--model", TEST_MODEL, "--progress", "none", *extra])


@pytest.fixture(scope="module")
def matted(shot_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("matted")
    assert matte(shot_dir, out / "matte.####.exr", "--frames", "1001-1004") == 0
    return out


def test_one_premultiplied_rgba_half_exr_per_requested_frame(matted):
    assert sorted(p.name for p in matted.iterdir()) == [f"matte.{f}.exr" for f in range(1001, 1005)]
    pixels, spec = read_exr(matted / "matte.1001.exr")
    assert list(spec.channelnames) == ["R", "G", "B", "A"]
    assert spec.format == oiio.TypeDesc("half")
    assert (spec.width, spec.height) == (96, 64)
    assert np.isfinite(pixels).all()
    alpha = pixels[..., 3]
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0


def test_output_carries_bgmatte_version_model_and_settings(matted):
    _, spec = read_exr(matted / "matte.1002.exr")
    names = {a.name for a in spec.extra_attribs}
    assert {"bgmatte:version", "bgmatte:model", "bgmatte:settings", "bgmatte:colorspace"} <= names
    settings = json.loads(spec.getattribute("bgmatte:settings"))
    assert settings["seg"] == "auto" and settings["motion_gap"] == 1


def test_comp_over_the_plate_reproduces_the_input_where_alpha_is_one_and_at_soft_edges(shot_dir, matted):
    for f in (1001, 1004):
        out, _ = read_exr(matted / f"matte.{f}.exr")
        frame, _ = read_exr(shot_dir / f"frame.{f}.exr")
        plate, _ = read_exr(shot_dir / f"plate.{f}.exr")
        alpha = out[..., 3:4]
        comp = out[..., :3] + (1 - alpha) * plate
        solid = alpha[..., 0] > 0.999
        soft = (alpha[..., 0] > 0.05) & (alpha[..., 0] < 0.95)
        tolerance = 4e-3  # half-float storage of output and input
        assert np.abs(comp - frame)[solid].max(initial=0) < tolerance
        assert np.abs(comp - frame)[soft].mean() < tolerance


def test_a_still_plate_serves_every_frame_and_a_single_frame_works(shot_dir, tmp_path):
    assert matte(shot_dir, tmp_path / "seq" / "m.####.exr", "--frames", "1002-1003", plate="clean.exr") == 0
    assert sorted(p.name for p in (tmp_path / "seq").iterdir()) == ["m.1002.exr", "m.1003.exr"]
    single = main(["matte", str(shot_dir / "frame.1003.exr"), "--plate", str(shot_dir / "clean.exr"),
                   "-o", str(tmp_path / "one.exr"), "--model", TEST_MODEL, "--progress", "none"])
    assert single == 0 and (tmp_path / "one.exr").exists()


def test_progress_json_prints_one_object_per_finished_frame(shot_dir, tmp_path, capsys):
    assert main(["matte", str(shot_dir / "frame.####.exr"), "--plate", str(shot_dir / "clean.exr"),
                 "-o", str(tmp_path / "m.####.exr"), "--frames", "1001-1002", "--model", TEST_MODEL,
                 "--progress", "json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["frame"] for line in lines] == [1001, 1002]
    assert lines[-1]["done"] == lines[-1]["total"] == 2
    assert {"seconds", "output", "status"} <= set(lines[0])


def test_layers_add_straight_foreground_and_shadow(shadow_shot_dir, tmp_path):
    garbage = write_garbage_outside_subject(shadow_shot_dir, tmp_path / "garbage")
    assert matte(shadow_shot_dir, tmp_path / "m.####.exr", "--frames", "1001", "--layers", "fg,shadow",
                 "--garbage", garbage) == 0
    pixels, spec = read_exr(tmp_path / "m.1001.exr")
    names = list(spec.channelnames)
    assert names[:4] == ["R", "G", "B", "A"]
    assert {"fg.R", "fg.G", "fg.B", "shadow.Y"} <= set(names)
    assert np.isfinite(pixels).all()
    shadow = channel(pixels, spec, "shadow.Y")
    assert shadow.min() >= 0 and shadow.max() <= 1
    assert shadow.max() > 0.1, "the cast shadow on the plate shows up in the shadow layer"


def test_data_window_and_display_window_are_kept_unless_flattened(shot_dir, tmp_path):
    frame, _ = read_exr(shot_dir / "frame.1001.exr")
    plate, _ = read_exr(shot_dir / "plate.1001.exr")
    crop = frame[8:56, 10:90]
    src = write_exr(tmp_path / "in" / "f.1001.exr", crop, origin=(10, 8), display=(0, 0, 96, 64),
                    attributes={"vfx:shot": "sq010_sh020", "owner": "unit-7"})
    assert main(["matte", str(src), "--plate", str(shot_dir / "plate.1001.exr"), "-o", str(tmp_path / "kept.exr"),
                 "--model", TEST_MODEL, "--progress", "none"]) == 0
    _, spec = read_exr(tmp_path / "kept.exr")
    assert (spec.x, spec.y, spec.width, spec.height) == (10, 8, 80, 48)
    assert (spec.full_x, spec.full_y, spec.full_width, spec.full_height) == (0, 0, 96, 64)
    assert spec.getattribute("vfx:shot") == "sq010_sh020" and spec.getattribute("Copyright") == "unit-7"
    assert main(["matte", str(src), "--plate", str(shot_dir / "plate.1001.exr"), "-o", str(tmp_path / "flat.exr"),
                 "--model", TEST_MODEL, "--progress", "none", "--flatten"]) == 0
    flat, spec = read_exr(tmp_path / "flat.exr")
    assert (spec.x, spec.y, spec.width, spec.height) == (0, 0, 96, 64)
    assert np.abs(flat[:8]).max() == 0, "outside the input's data window there is nothing"


def test_report_file_lists_frames_done_and_seconds(shot_dir, tmp_path):
    report = tmp_path / "report.json"
    assert matte(shot_dir, tmp_path / "m.####.exr", "--frames", "1001-1002", "--report", str(report)) == 0
    data = json.loads(report.read_text())
    assert data["done"] == [1001, 1002] and data["failed"] == [] and data["seconds_per_frame"] > 0
