"""NaN and Inf never reach a matte with exit 0 (issue 13, item 3).

Every input a frame reads (frame, plate, neighbours, roto, garbage and core mattes) follows the same
policy: NaN/Inf fail the frame (exit 3, no output) unless --repair-nonfinite replaces them by 0 with
a warning. Weights with NaN/Inf are refused when they load (exit 2). The output is checked before it
is written: NaN/Inf in any written channel fail the frame; values beyond the half-float range are
clamped to +-65504 with a warning.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest
import torch

from bgmatte.api import Matter
from bgmatte.cli import main
from bgmatte.errors import FrameError
from bgmatte.io import read_header, write_matte
from bgmatte.io.windows import Window
from bgmatte.model import create_model, save_weights
from bgmatte.settings import MatteSettings
from conftest import TEST_MODEL, read_exr, write_exr


def run(capsys, *args: str, model: str = TEST_MODEL) -> tuple[int, list[str]]:
    code = main(["matte", *args, "--model", model, "--progress", "none", "--motion", "none"])
    err = capsys.readouterr().err.strip().splitlines()
    assert not any("Traceback" in line for line in err)
    return code, err


def write_float_exr(path: Path, pixels: np.ndarray) -> Path:
    """A float32 (not half) RGB EXR: it can hold values beyond the half range."""
    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], 3, oiio.FLOAT)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), oiio.geterror()
    assert out.write_image(np.ascontiguousarray(pixels, np.float32))
    out.close()
    return path


@pytest.fixture
def shot(shot_dir):
    return shot_dir / "frame.1001.exr", shot_dir / "clean.exr", shot_dir


@pytest.mark.parametrize("option", ["--seg", "--garbage", "--core"])
def test_one_nan_pixel_in_a_matte_fails_the_frame_unless_repaired(shot, tmp_path, capsys, option):
    frame, clean, shot_dir = shot
    alpha, _ = read_exr(shot_dir / "alpha.1001.exr")
    matte = (alpha[..., 0] > 0.5).astype(np.float32) if option != "--garbage" else (alpha[..., 0] < 1e-3) * 1.0
    matte[30, 40] = np.nan
    matte[2, 3] = np.inf
    bad = write_exr(tmp_path / "matte.exr", matte)
    code, err = run(capsys, str(frame), "--plate", str(clean), option, str(bad), "-o", str(tmp_path / "a.exr"))
    assert code == 3
    assert err == [f"bgmatte: error: {bad}: 2 NaN/Inf pixels (first at x=3, y=2); "
                   "fix the file or pass --repair-nonfinite"]
    assert not (tmp_path / "a.exr").exists()

    code, err = run(capsys, str(frame), "--plate", str(clean), option, str(bad), "-o", str(tmp_path / "b.exr"),
                    "--repair-nonfinite")
    assert code == 0 and err == [f"bgmatte: warning: {bad}: 2 NaN/Inf pixels replaced by 0"]
    repaired, _ = read_exr(tmp_path / "b.exr")
    assert np.isfinite(repaired).all()
    matte[30, 40] = matte[2, 3] = 0
    clean_matte = write_exr(tmp_path / "clean_matte.exr", matte)
    assert run(capsys, str(frame), "--plate", str(clean), option, str(clean_matte), "-o", str(tmp_path / "c.exr"))[0] == 0
    np.testing.assert_array_equal(repaired, read_exr(tmp_path / "c.exr")[0])


def test_nan_in_the_plate_fails_the_frame(shot, tmp_path, capsys):
    frame, clean, _ = shot
    plate, _ = read_exr(clean)
    plate[10, 10, 1] = np.nan
    bad = write_exr(tmp_path / "plate.exr", plate)
    code, err = run(capsys, str(frame), "--plate", str(bad), "-o", str(tmp_path / "a.exr"))
    assert code == 3 and len(err) == 1 and err[0].startswith(f"bgmatte: error: {bad}: 1 NaN/Inf pixels")
    assert not (tmp_path / "a.exr").exists()


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_weights_with_nonfinite_parameters_are_refused_when_they_load(shot, tmp_path, capsys, value):
    frame, clean, _ = shot
    model = create_model("tiny", device="cpu")
    with torch.no_grad():
        name, tensor = next((n, t) for n, t in model.state_dict().items() if t.is_floating_point())
        tensor[(0,) * tensor.ndim] = float(value)
    weights = save_weights(tmp_path / "damaged.pt", model, {"data": "test", "licence": "Apache-2.0"})
    code, err = run(capsys, str(frame), "--plate", str(clean), "-o", str(tmp_path / "a.exr"), model=str(weights))
    assert code == 2
    assert err == [f"bgmatte: error: {weights}: damaged weights: 1 NaN/Inf values in 1 tensors ({name}); "
                   "train or fine-tune them again"]
    assert not (tmp_path / "a.exr").exists()


def test_a_matte_that_comes_out_nan_is_not_written_and_the_frame_fails(shot, tmp_path):
    frame, clean, _ = shot
    matter = Matter(model=TEST_MODEL, device="cpu")
    with torch.no_grad():
        next(matter.model.parameters()).fill_(float("nan"))  # damaged in memory, after the load check
    out = tmp_path / "m.exr"
    report = matter.matte_sequence(str(frame), str(clean), str(out), settings=MatteSettings(motion="none"))
    assert report.exit_code == 3
    assert report.frames[0].status == "failed"
    assert "NaN/Inf values in the matte (channels R, G, B, A" in report.frames[0].reason
    assert not out.exists()


def test_write_matte_refuses_nan_in_any_written_channel_and_keeps_an_existing_file(tmp_path):
    frame = write_exr(tmp_path / "f.exr", np.full((8, 12, 3), 0.5, np.float32))
    source = read_header(frame)
    canvas = Window(0, 0, 12, 8)
    rgba = np.full((8, 12, 4), 0.5, np.float32)
    shadow = np.zeros((8, 12), np.float32)
    shadow[5, 7] = np.nan
    out = tmp_path / "m.exr"
    out.write_bytes(b"previous")
    with pytest.raises(FrameError) as caught:
        write_matte(out, rgba, canvas, source, layers={"shadow": shadow})
    assert caught.value.problem == "1 NaN/Inf values in the matte (channels shadow.Y, first at x=7, y=5); not written"
    assert out.read_bytes() == b"previous" and sorted(p.name for p in tmp_path.iterdir()) == ["f.exr", "m.exr"]
    # NaN outside the written data window does not matter: it is not written.
    cropped = write_exr(tmp_path / "crop.exr", np.full((4, 4, 3), 0.5, np.float32), origin=(0, 0),
                        display=(0, 0, 12, 8))
    write_matte(tmp_path / "crop_m.exr", rgba, canvas, read_header(cropped), layers={"shadow": shadow})
    assert np.isfinite(read_exr(tmp_path / "crop_m.exr")[0]).all()


def test_frame_values_beyond_half_range_are_clamped_with_a_warning_not_written_as_inf(shot, tmp_path, capsys):
    frame, clean, _ = shot
    pixels, _ = read_exr(frame)
    pixels[20:30, 30:40] = 1.0e6  # an unclamped render: light beyond what half floats hold
    bright = write_float_exr(tmp_path / "bright.exr", pixels)
    code, err = run(capsys, str(bright), "--plate", str(clean), "-o", str(tmp_path / "m.exr"), "--layers", "fg")
    assert code == 0
    assert err and all(line.startswith(f"bgmatte: warning: {tmp_path / 'm.exr'}: ") for line in err)
    assert any("beyond the half-float range (+-65504) clamped to it" in line for line in err)
    matte, spec = read_exr(tmp_path / "m.exr")
    assert np.isfinite(matte).all(), "half-float Inf would poison every comp downstream"
    assert matte[..., :3].max() == 65504.0


def test_a_nan_neighbour_is_a_warning_and_the_frame_uses_itself_as_that_cue(shot, tmp_path, capsys):
    _, clean, shot_dir = shot
    folder = tmp_path / "seq"
    shutil.copytree(shot_dir, folder)
    pixels, _ = read_exr(folder / "frame.1002.exr")
    pixels[0, 0] = np.nan
    write_exr(folder / "frame.1002.exr", pixels)
    code = main(["matte", str(folder / "frame.####.exr"), "--plate", str(clean), "-o", str(tmp_path / "o.####.exr"),
                 "--frames", "1001", "--model", TEST_MODEL, "--progress", "none"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 0 and len(err) == 1 and "frame 1001 uses itself as this motion cue" in err[0]
    assert np.isfinite(read_exr(tmp_path / "o.1001.exr")[0]).all()
