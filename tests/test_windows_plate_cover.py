"""Frame and plate are matched on the display window; where the plate has no data it is "plate unknown".

Spec for issue 13, item 2: overscan frames with a plate without overscan, a plate whose windows are
offset, a plate covering half the frame, frame data partly or entirely outside the display window,
bounding-box-cropped frames. Each either gives a matte built only from real plate pixels (the rest
is the plate-valid mask the aligned path uses, never black background) or is refused before writing.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from bgmatte.cli import main
from bgmatte.data.synthetic_shot import ShotRecipe, make_shot
from bgmatte.frames import FrameSource
from bgmatte.matte_command import configure_logging
from bgmatte.model import create_model
from bgmatte.pipeline import matte_arrays
from bgmatte.plan import plan_run
from bgmatte.settings import MatteSettings
from conftest import TEST_MODEL, read_exr, write_exr

W, H = 96, 64


def run(capsys, *args: str) -> tuple[int, list[str]]:
    code = main(["matte", *args, "--model", TEST_MODEL, "--progress", "none", "--motion", "none"])
    err = capsys.readouterr().err.strip().splitlines()
    assert not any("Traceback" in line for line in err)
    return code, err


def inputs_of(frame: Path, plate: Path, tmp_path: Path, **settings):
    """The FrameInputs the pipeline gets for a one-file run."""
    configure_logging(quiet=False)  # warnings go to this test's stderr, as in a CLI run
    settings = MatteSettings(motion="none", **settings)
    plan = plan_run(str(frame), str(plate), str(tmp_path / "probe" / "m.exr"), settings)
    return plan, FrameSource(plan, settings, 128).inputs(plan.frames[0])


@pytest.fixture
def shot(shot_dir):
    frame, _ = read_exr(shot_dir / "frame.1001.exr")
    plate, _ = read_exr(shot_dir / "clean.exr")
    return shot_dir, frame, plate


def test_a_plate_with_offset_windows_is_matched_on_the_display_window(shot, tmp_path, capsys):
    shot_dir, _, plate = shot
    moved = write_exr(tmp_path / "moved_plate.exr", plate, origin=(20, 10), display=(20, 10, W, H))
    frame = shot_dir / "frame.1001.exr"
    assert run(capsys, str(frame), "--plate", str(shot_dir / "clean.exr"), "-o", str(tmp_path / "ref.exr"))[0] == 0
    code, err = run(capsys, str(frame), "--plate", str(moved), "-o", str(tmp_path / "moved.exr"))
    assert code == 0 and not err
    reference, _ = read_exr(tmp_path / "ref.exr")
    matte, spec = read_exr(tmp_path / "moved.exr")
    assert (spec.x, spec.y, spec.width, spec.height) == (0, 0, W, H), "the output keeps the frame's windows"
    np.testing.assert_array_equal(matte, reference)


def test_a_matte_with_offset_windows_is_matched_on_the_display_window_too(shot, tmp_path, capsys):
    shot_dir, _, _ = shot
    alpha, _ = read_exr(shot_dir / "alpha.1001.exr")
    garbage = (alpha[..., 0] < 1e-3).astype(np.float32)
    plain = write_exr(tmp_path / "garbage.exr", garbage)
    moved = write_exr(tmp_path / "garbage_moved.exr", garbage, origin=(-7, 30), display=(-7, 30, W, H))
    common = [str(shot_dir / "frame.1001.exr"), "--plate", str(shot_dir / "clean.exr")]
    assert run(capsys, *common, "--garbage", str(plain), "-o", str(tmp_path / "a.exr"))[0] == 0
    assert run(capsys, *common, "--garbage", str(moved), "-o", str(tmp_path / "b.exr"))[0] == 0
    np.testing.assert_array_equal(read_exr(tmp_path / "a.exr")[0], read_exr(tmp_path / "b.exr")[0])


def test_a_plate_covering_half_the_frame_is_plate_unknown_on_the_other_half(shot, tmp_path, capsys):
    shot_dir, _, plate = shot
    half = write_exr(tmp_path / "half_plate.exr", plate[:, 48:], origin=(48, 0), display=(0, 0, W, H))
    frame = shot_dir / "frame.1001.exr"
    _, inputs = inputs_of(frame, half, tmp_path)
    capsys.readouterr()
    assert inputs.plate_valid is not None
    assert inputs.plate_valid[:, 48:].min() == 1 and inputs.plate_valid[:, :48].max() == 0
    assert inputs.plate.min() > 0, "missing plate pixels are never read as black background"
    np.testing.assert_array_equal(inputs.plate[:, 10], inputs.plate[:, 48]), "the plate's edge is repeated"

    code, err = run(capsys, str(frame), "--plate", str(half), "-o", str(tmp_path / "m.exr"))
    assert code == 0
    assert len(err) == 1 and err[0].startswith(f"bgmatte: warning: {half}: the plate has data on 50% of frame 1")
    assert "plate unknown" in err[0]
    matte, spec = read_exr(tmp_path / "m.exr")
    assert np.isfinite(matte).all() and (spec.width, spec.height) == (W, H)


def test_overscan_frames_with_a_plate_without_overscan(shot, tmp_path, capsys):
    shot_dir, frame, plate = shot
    # The frame's picture is the inner 80x48; its data holds 8 pixels of overscan on every side. The
    # plate is only the picture, and its display window starts at (0, 0): matched on the display window.
    over = write_exr(tmp_path / "over.exr", frame, origin=(0, 0), display=(8, 8, 80, 48))
    inner = write_exr(tmp_path / "inner_plate.exr", plate[8:56, 8:88], origin=(0, 0), display=(0, 0, 80, 48))
    plan, inputs = inputs_of(over, inner, tmp_path)
    capsys.readouterr()
    assert (plan.canvas.x, plan.canvas.y, plan.canvas.width, plan.canvas.height) == (0, 0, W, H)
    np.testing.assert_allclose(inputs.plate[8:56, 8:88], plan.color.to_working(plate[8:56, 8:88]), rtol=1e-6)
    valid = inputs.plate_valid
    assert valid[8:56, 8:88].min() == 1 and valid[:8].max() == 0 and valid[:, 88:].max() == 0
    assert inputs.plate[:8].min() > 0 and inputs.plate[:, 88:].min() > 0, "no black plate in the overscan"

    code, err = run(capsys, str(over), "--plate", str(inner), "-o", str(tmp_path / "m.exr"))
    assert code == 0 and len(err) == 1 and "plate unknown" in err[0]
    matte, spec = read_exr(tmp_path / "m.exr")
    assert (spec.x, spec.y, spec.width, spec.height) == (0, 0, W, H), "the overscan is kept"
    assert (spec.full_x, spec.full_y, spec.full_width, spec.full_height) == (8, 8, 80, 48)
    assert np.isfinite(matte).all()
    code, _ = run(capsys, str(over), "--plate", str(inner), "-o", str(tmp_path / "flat.exr"), "--flatten")
    _, spec = read_exr(tmp_path / "flat.exr")
    assert code == 0 and (spec.x, spec.y, spec.width, spec.height) == (8, 8, 80, 48)


def test_a_bounding_box_cropped_frame_is_empty_outside_its_data_and_the_plate_gain_ignores_it(shot, tmp_path,
                                                                                              capsys):
    shot_dir, frame, _ = shot
    cropped = write_exr(tmp_path / "crop.exr", frame[16:48, 20:76], origin=(20, 16), display=(0, 0, W, H))
    clean = shot_dir / "clean.exr"
    _, inputs = inputs_of(cropped, clean, tmp_path)
    np.testing.assert_array_equal(inputs.frame[:16], inputs.plate[:16]), "outside its data the frame is background"
    assert inputs.plate_valid[16:48, 20:76].min() == 1 and inputs.plate_valid[:16].max() == 0

    assert run(capsys, str(shot_dir / "frame.1001.exr"), "--plate", str(clean), "-o", str(tmp_path / "full.exr"))[0] == 0
    code, err = run(capsys, str(cropped), "--plate", str(clean), "-o", str(tmp_path / "crop_m.exr"))
    assert code == 0 and not err
    _, full_spec = read_exr(tmp_path / "full.exr")
    matte, spec = read_exr(tmp_path / "crop_m.exr")
    assert (spec.x, spec.y, spec.width, spec.height) == (20, 16, 56, 32), "the output keeps the input's data window"
    gain_full = np.array(full_spec.getattribute("bgmatte:plate_gain").split(), float)
    gain_crop = np.array(spec.getattribute("bgmatte:plate_gain").split(), float)
    np.testing.assert_allclose(gain_crop, gain_full, atol=0.05), "the empty area is not background that got darker"
    code, _ = run(capsys, str(cropped), "--plate", str(clean), "-o", str(tmp_path / "flat.exr"), "--flatten")
    flat, _ = read_exr(tmp_path / "flat.exr")
    assert code == 0 and np.abs(flat[:16]).max() == 0 and np.abs(flat[:, :20]).max() == 0, "alpha 0 outside the data"


def test_frame_data_partly_outside_the_display_window(shot, tmp_path, capsys):
    shot_dir, frame, plate = shot
    # Data from x=40 to x=136: the picture's right part plus 40 columns beyond the display window.
    data = np.concatenate([frame[:, 40:], np.repeat(frame[:, -1:], 40, axis=1)], axis=1)
    shifted = write_exr(tmp_path / "shifted.exr", data, origin=(40, 0), display=(0, 0, W, H))
    clean = shot_dir / "clean.exr"
    plan, inputs = inputs_of(shifted, clean, tmp_path)
    capsys.readouterr()
    assert (plan.canvas.x, plan.canvas.width) == (0, 136)
    valid = inputs.plate_valid
    assert valid[:, 40:96].min() == 1 and valid[:, :40].max() == 0 and valid[:, 96:].max() == 0
    assert inputs.plate[:, 96:].min() > 0

    code, err = run(capsys, str(shifted), "--plate", str(clean), "-o", str(tmp_path / "m.exr"))
    assert code == 0 and len(err) == 1 and "58% of frame 1" in err[0]
    matte, spec = read_exr(tmp_path / "m.exr")
    assert (spec.x, spec.y, spec.width, spec.height) == (40, 0, 96, H) and np.isfinite(matte).all()
    code, _ = run(capsys, str(shifted), "--plate", str(clean), "-o", str(tmp_path / "flat.exr"), "--flatten")
    flat, spec = read_exr(tmp_path / "flat.exr")
    assert code == 0 and (spec.x, spec.width) == (0, W) and np.abs(flat[:, :40]).max() == 0


def test_frame_data_entirely_outside_the_display_window_is_refused(shot, tmp_path, capsys):
    _, frame, _ = shot
    away = write_exr(tmp_path / "away.exr", frame, origin=(200, 0), display=(0, 0, W, H))
    code, err = run(capsys, str(away), "--plate", str(away), "-o", str(tmp_path / "m.exr"))
    assert code == 2
    assert err == [f"bgmatte: error: {away}: data window (96x64 at (200, 0)) lies entirely outside the display "
                   "window (96x64 at (0, 0)): no pixel of the picture to matte; fix the file's windows"]
    assert not (tmp_path / "m.exr").exists()


def test_a_plate_with_no_data_where_the_frame_has_is_refused_before_writing(shot, tmp_path, capsys):
    shot_dir, frame, plate = shot
    left = write_exr(tmp_path / "left_plate.exr", plate[:, :40], origin=(0, 0), display=(0, 0, W, H))
    right = write_exr(tmp_path / "right_frame.exr", frame[:, 50:], origin=(50, 0), display=(0, 0, W, H))
    code, err = run(capsys, str(right), "--plate", str(left), "-o", str(tmp_path / "m.exr"))
    assert code == 2
    assert err == [f"bgmatte: error: {left}: the plate has no data where frame 1 has: plate data window 40x64 at "
                   "(0, 0) (matched on the display window), frame data window 46x64 at (50, 0)"]
    assert not (tmp_path / "m.exr").exists()


def test_frames_whose_display_windows_disagree_are_refused(shot, tmp_path, capsys):
    shot_dir, frame, _ = shot
    write_exr(tmp_path / "seq" / "f.0001.exr", frame)
    moved = write_exr(tmp_path / "seq" / "f.0002.exr", frame, origin=(5, 0), display=(5, 0, W, H))
    code, err = run(capsys, str(tmp_path / "seq" / "f.####.exr"), "--plate", str(shot_dir / "clean.exr"),
                    "-o", str(tmp_path / "out" / "m.####.exr"))
    assert code == 2
    assert err == [f"bgmatte: error: {moved}: display window is 96x64 at (5, 0), the first frame's is 96x64 at (0, 0)"]
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not (resources.files("bgmatte") / "weights" / "default.pt").is_file(),
                    reason="needs the shipped weights")
def test_where_the_plate_has_data_the_matte_is_as_good_as_with_a_full_plate(tmp_path):
    """Overscan frames, a plate without overscan: the picture's matte must not suffer from the missing border.

    Reading the missing border as black background turned the whole matte to foreground (mean alpha
    error ~0.8 inside the picture with the shipped model); as plate unknown it stays near the full plate's.
    """
    make_shot(tmp_path, ShotRecipe(width=192, height=128, count=1, strands=12, shadow=0.0, speed=3.0, seed=2))
    plate, _ = read_exr(tmp_path / "clean.exr")
    truth = read_exr(tmp_path / "alpha.1001.exr")[0][..., 0]
    frame = tmp_path / "frame.1001.exr"
    inner = write_exr(tmp_path / "inner_plate.exr", plate[16:112, 16:176], origin=(16, 16), display=(0, 0, 192, 128))
    model = create_model("default", device="cpu")
    errors = {}
    for name, path in (("full", tmp_path / "clean.exr"), ("inner", inner)):
        settings = MatteSettings(motion="none")
        plan = plan_run(str(frame), str(path), str(tmp_path / "o.exr"), settings)
        alpha = matte_arrays(model, FrameSource(plan, settings, model.config.working_size).inputs(1)).alpha
        errors[name] = float(np.abs(alpha - truth)[16:112, 16:176].mean())
    assert errors["inner"] < errors["full"] + 0.03, errors


def test_cropped_frames_with_a_plate_sequence_give_the_same_pixels_chunked_or_whole(shot_dir, tmp_path, capsys):
    """Motion cues of cropped neighbours are filled from their own plate: a chunk reads them like a whole run."""
    for frame in range(1001, 1004):
        pixels, _ = read_exr(shot_dir / f"frame.{frame}.exr")
        top = 4 + frame % 3  # the bounding box changes from frame to frame
        write_exr(tmp_path / "in" / f"f.{frame}.exr", pixels[top:60, 6:90], origin=(6, top), display=(0, 0, W, H))
    common = ["matte", str(tmp_path / "in" / "f.####.exr"), "--plate", str(shot_dir / "plate.####.exr"),
              "--model", TEST_MODEL, "--progress", "none"]
    assert main([*common, "-o", str(tmp_path / "whole" / "m.####.exr")]) == 0
    for chunk in ("1001-1001", "1002-1003"):
        assert main([*common, "-o", str(tmp_path / "chunks" / "m.####.exr"), "--within", chunk]) == 0
    assert not capsys.readouterr().err.strip()
    for frame in range(1001, 1004):
        whole, spec = read_exr(tmp_path / "whole" / f"m.{frame}.exr")
        assert (spec.y, spec.height) == (4 + frame % 3, 56 - frame % 3)
        np.testing.assert_array_equal(whole, read_exr(tmp_path / "chunks" / f"m.{frame}.exr")[0])
