"""`bgmatte eval` scores real EXR sequences, writes JSON and a contact sheet, and fails cleanly."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from bgmatte.cli import main
from bgmatte.eval import evaluate_sequence
from bgmatte.eval.contact_sheet import to_display

FRAMES = (1001, 1002, 1003, 1004)
HEIGHT, WIDTH = 48, 64
FG_RGB = np.array([0.5, 0.25, 0.125], dtype=np.float32)  # straight foreground colour, exact in half


def write_exr(path: Path, pixels: np.ndarray, channels: tuple[str, ...]) -> None:
    """Write (H, W, C) pixels as a half-float EXR with the given channel names."""
    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], len(channels), oiio.HALF)
    spec.channelnames = channels
    output = oiio.ImageOutput.create(str(path))
    assert output.open(str(path), spec), output.geterror()
    assert output.write_image(np.ascontiguousarray(pixels, dtype=np.float32)), output.geterror()
    output.close()


def true_alpha(frame: int, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """A subject that moves one pixel right per frame, with a 0.5 column on its left edge."""
    alpha = np.zeros((height, width), dtype=np.float32)
    left = 20 + frame - FRAMES[0]
    alpha[8:40, left + 1:left + 24] = 1.0
    alpha[8:40, left] = 0.5
    return alpha


def premult(alpha: np.ndarray) -> np.ndarray:
    return alpha[..., None] * FG_RGB


@pytest.fixture
def shot(tmp_path: Path) -> Path:
    """truth/alpha.####.exr (single channel A), pred/matte.####.exr (RGBA), src/frame.####.exr (RGB).

    The prediction is the truth plus a 4x4 block of 0.25 alpha (with its premultiplied colour) in
    the background, so each frame's SAD is 16 * 0.25 / 1000.
    """
    for folder in ("truth", "pred", "src"):
        (tmp_path / folder).mkdir()
    for frame in FRAMES:
        alpha = true_alpha(frame)
        write_exr(tmp_path / f"truth/alpha.{frame}.exr", alpha[..., None], ("A",))
        pred = alpha.copy()
        pred[2:6, 2:6] = 0.25
        write_exr(tmp_path / f"pred/matte.{frame}.exr", np.dstack([premult(pred), pred]), ("R", "G", "B", "A"))
        plate = np.full((HEIGHT, WIDTH, 3), 0.18, dtype=np.float32)
        write_exr(tmp_path / f"src/frame.{frame}.exr", premult(alpha) + (1 - alpha[..., None]) * plate, ("R", "G", "B"))
    return tmp_path


def run_eval(shot: Path, *extra: str) -> int:
    return main(["eval", str(shot / "pred/matte.####.exr"), str(shot / "truth/alpha.####.exr"), *extra])


def test_eval_prints_a_table_and_writes_every_metric_to_json(shot, capsys):
    scores = shot / "scores.json"
    assert run_eval(shot, "--json", str(scores)) == 0
    out = capsys.readouterr().out
    assert "SAD" in out and "Conn" in out and "dtSSD" in out and "MESSDdt" in out
    assert "4 frames (1001-1004)" in out
    result = json.loads(scores.read_text())
    assert result["frames"] == list(FRAMES)
    assert set(result["mean"]) == {"whole", "unknown", "fg_mse"}
    assert set(result["mean"]["whole"]) == set(result["mean"]["unknown"]) == {"sad", "mse", "grad", "conn"}
    assert set(result["temporal"]) == {"dtssd", "messddt"}
    assert [entry["frame"] for entry in result["per_frame"]] == list(FRAMES)
    assert set(result["units"]) >= {"sad", "mse", "grad", "conn", "fg_mse", "dtssd", "messddt"}
    assert result["mean"]["whole"]["sad"] == pytest.approx(16 * 0.25 / 1000)
    assert result["mean"]["whole"]["mse"] == pytest.approx(16 * 0.25**2 / (HEIGHT * WIDTH) * 1000)
    assert result["mean"]["unknown"]["sad"] == 0.0  # the error block lies outside the dilated edge band
    assert result["mean"]["fg_mse"] is None  # a single-channel truth has no foreground
    assert result["temporal"]["dtssd"] == 0.0  # the error holds still
    assert result["temporal"]["messddt"] == 0.0


def test_a_perfect_prediction_scores_zero(shot, capsys):
    assert main(["eval", str(shot / "truth/alpha.####.exr"), str(shot / "truth/alpha.####.exr")]) == 0
    zero_row = "".join(f"{0:>10.4g}" for _ in range(4))
    out = capsys.readouterr().out
    assert f"{'whole':<8}{zero_row}" in out
    assert f"{'unknown':<8}{zero_row}" in out


def test_an_rgba_truth_gives_the_premultiplied_foreground_error(shot):
    for frame in FRAMES:
        alpha = true_alpha(frame)
        write_exr(shot / f"truth/rgba.{frame}.exr", np.dstack([premult(alpha) + 0.25 * (alpha > 0)[..., None], alpha]),
                  ("R", "G", "B", "A"))
    result = evaluate_sequence(str(shot / "pred/matte.####.exr"), str(shot / "truth/rgba.####.exr"))
    assert result["mean"]["fg_mse"] == pytest.approx(0.25**2 * 1000)
    assert result["mean"]["whole"]["sad"] == pytest.approx(16 * 0.25 / 1000)


def test_a_trimap_sets_the_unknown_band(shot):
    for frame in FRAMES:
        trimap = np.zeros((HEIGHT, WIDTH, 1), dtype=np.float32)
        trimap[0:10, 0:10] = 0.5  # grey over the error block only
        write_exr(shot / f"truth/trimap.{frame}.exr", trimap, ("Y",))
    result = evaluate_sequence(str(shot / "pred/matte.####.exr"), str(shot / "truth/alpha.####.exr"),
                               frames=[1001, 1002], trimap_pattern=str(shot / "truth/trimap.####.exr"))
    assert result["frames"] == [1001, 1002]
    assert result["mean"]["unknown"]["sad"] == pytest.approx(16 * 0.25 / 1000)
    assert result["mean"]["unknown"]["mse"] == pytest.approx(16 * 0.25**2 / 100 * 1000)
    assert result["per_frame"][0]["unknown_pixels"] == 100


def test_one_frame_has_no_temporal_metrics(shot, capsys):
    scores = shot / "one.json"
    assert run_eval(shot, "--frames", "1002", "--json", str(scores)) == 0
    assert json.loads(scores.read_text())["temporal"] is None
    assert "1 frame (1002)" in capsys.readouterr().out


def test_the_contact_sheet_has_one_row_per_sampled_frame(shot, capsys):
    sheet = shot / "out/sheet.png"
    assert run_eval(shot, "--frame", str(shot / "src/frame.####.exr"), "--sheet", str(sheet)) == 0
    image = oiio.ImageBuf(str(sheet))
    spec = image.spec()
    # 4 rows of 48 px (no enlargement), 3 columns of 64 px, 4 px gaps
    assert (spec.width, spec.height, spec.nchannels) == (3 * 64 + 4 * 4, 4 * 48 + 5 * 4, 3)
    assert spec.format == oiio.UINT8
    pixels = image.get_pixels(oiio.UINT8)
    matte_cell = pixels[4:4 + 48, 4 + 64 + 4:4 + 2 * 64 + 4]
    assert matte_cell[20, 30].tolist() == [255, 255, 255]  # alpha 1 inside the subject
    assert matte_cell[20, 10].tolist() == [0, 0, 0]  # alpha 0 in the background
    comp_cell = pixels[4:4 + 48, 4 + 2 * (64 + 4):4 + 3 * 64 + 8]
    light, dark = (np.round(to_display(np.full((1, 1, 3), grey, np.float32)) * 255)[0, 0] for grey in (0.18, 0.05))
    assert comp_cell[20, 12].tolist() == light.tolist()  # 12 px checkerboard where alpha is 0
    assert comp_cell[20, 0].tolist() == dark.tolist()
    subject = np.round(to_display(FG_RGB[None, None, :]) * 255)[0, 0]
    assert comp_cell[20, 30].tolist() == subject.tolist()  # premultiplied colour where alpha is 1
    assert not list(sheet.parent.glob(".*tmp*"))  # written atomically: no temp left behind


def test_the_contact_sheet_scales_large_frames_to_a_180_pixel_row(tmp_path):
    frame = 1001
    alpha = true_alpha(frame, 200, 256)
    write_exr(tmp_path / "alpha.1001.exr", alpha[..., None], ("A",))
    write_exr(tmp_path / "frame.1001.exr", premult(alpha), ("R", "G", "B"))
    sheet = tmp_path / "sheet.png"
    code = main(["eval", str(tmp_path / "alpha.####.exr"), str(tmp_path / "alpha.####.exr"),
                 "--frame", str(tmp_path / "frame.####.exr"), "--sheet", str(sheet)])
    assert code == 0
    spec = oiio.ImageInput.open(str(sheet)).spec()
    assert (spec.width, spec.height) == (3 * 230 + 4 * 4, 180 + 2 * 4)  # 256 * 180 / 200 = 230.4


def test_a_missing_truth_frame_is_one_error_line_and_exit_2(shot, capsys):
    (shot / "truth/alpha.1003.exr").unlink()
    scores = shot / "scores.json"
    assert run_eval(shot, "--json", str(scores)) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"bgmatte: error: {shot / 'truth/alpha.1003.exr'}: missing truth frame 1003"]
    assert captured.out == ""
    assert not scores.exists()


def test_a_missing_prediction_inside_the_range_is_an_error(shot, capsys):
    (shot / "pred/matte.1002.exr").unlink()
    assert run_eval(shot) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"bgmatte: error: {shot / 'pred/matte.1002.exr'}: missing prediction frame 1002"]


def test_sizes_that_differ_are_an_input_error(shot, capsys):
    write_exr(shot / "truth/alpha.1004.exr", np.zeros((HEIGHT, WIDTH + 1, 1), np.float32), ("A",))
    assert run_eval(shot) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"bgmatte: error: {shot / 'truth/alpha.1004.exr'}: is 65x48, matte.1001.exr is 64x48"]


def test_a_sheet_without_source_frames_is_an_error(shot, capsys):
    assert run_eval(shot, "--sheet", str(shot / "sheet.png")) == 2
    assert capsys.readouterr().err.splitlines() == [
        "bgmatte: error: --sheet: needs --frame PATTERN, the source frames to show"]
    assert not (shot / "sheet.png").exists()


def test_source_frames_for_the_sheet_are_checked_before_scoring(shot, capsys):
    (shot / "src/frame.1004.exr").unlink()
    write_exr(shot / "src/frame.1001.exr", true_alpha(1001)[..., None], ("Y",))
    sheet = shot / "sheet.png"
    assert run_eval(shot, "--frame", str(shot / "src/frame.####.exr"), "--sheet", str(sheet)) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"bgmatte: error: {shot / 'src/frame.1001.exr'}: has channels (Y); the source frame needs R, G and B",
        f"bgmatte: error: {shot / 'src/frame.1004.exr'}: missing source frame 1004"]
    assert captured.out == "" and not sheet.exists()


def test_nan_in_a_prediction_is_a_frame_error(shot, capsys):
    broken = np.dstack([premult(true_alpha(1002)), true_alpha(1002)])
    broken[0, 0, 3] = np.nan
    write_exr(shot / "pred/matte.1002.exr", broken, ("R", "G", "B", "A"))
    assert run_eval(shot) == 3
    assert capsys.readouterr().err.splitlines() == [
        f"bgmatte: error: {shot / 'pred/matte.1002.exr'}: 1 NaN/Inf values; the metrics need finite pixels"]


def test_help_starts_with_the_summary_line(capsys):
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    assert "Score predicted mattes against ground truth" in capsys.readouterr().out
