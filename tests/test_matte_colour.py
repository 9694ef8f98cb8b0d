"""Colour through `bgmatte matte`: the same scene in ACEScg, Linear Rec.709 and ACEScct gives the same alpha,
scene-linear inputs come back in their own space, log inputs are written in scene_linear."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import PyOpenColorIO as ocio
import pytest

from bgmatte.cli import main
from conftest import TEST_MODEL, read_exr, write_exr

STUDIO = "ocio://studio-config-latest"
LIN709 = "Linear Rec.709 (sRGB)"


def convert(pixels: np.ndarray, src: str, dst: str) -> np.ndarray:
    config = ocio.Config.CreateFromBuiltinConfig("studio-config-latest")
    out = np.ascontiguousarray(pixels[..., :3], np.float32).copy()
    config.getProcessor(src, dst).getDefaultCPUProcessor().applyRGB(out)
    return out


@pytest.fixture(scope="module")
def spaces(shot_dir, tmp_path_factory) -> dict[str, Path]:
    """The shot's frames 1001-1002 and plate, stored as Linear Rec.709, ACEScg and ACEScct."""
    root = tmp_path_factory.mktemp("spaces")
    folders = {}
    for space, name in ((LIN709, "lin709"), ("ACEScg", "acescg"), ("ACEScct", "acescct")):
        folder = root / name
        for f in (1001, 1002):
            frame, _ = read_exr(shot_dir / f"frame.{f}.exr")
            write_exr(folder / f"frame.{f}.exr", convert(frame, "ACEScg", space))
        plate, _ = read_exr(shot_dir / "clean.exr")
        write_exr(folder / "clean.exr", convert(plate, "ACEScg", space))
        folders[space] = folder
    return folders


def matte_in(folder: Path, space: str, out: Path) -> list[np.ndarray]:
    code = main(["matte", str(folder / "frame.####.exr"), "--plate", str(folder / "clean.exr"), "-o",
                 str(out / "m.####.exr"), "--colorspace", space, "--ocio", STUDIO, "--model", TEST_MODEL,
                 "--progress", "none"])
    assert code == 0
    return [read_exr(out / f"m.{f}.exr")[0] for f in (1001, 1002)]


def test_acescg_and_linear_rec709_give_the_same_alpha_and_rgb_in_their_own_space(spaces, tmp_path):
    a709 = matte_in(spaces[LIN709], LIN709, tmp_path / "709")
    acg = matte_in(spaces["ACEScg"], "ACEScg", tmp_path / "cg")
    for x, y in zip(a709, acg):
        assert np.abs(x[..., 3] - y[..., 3]).mean() < 0.01
        assert np.abs(convert(y, "ACEScg", LIN709) - x[..., :3]).mean() < 0.01


def test_log_input_gives_the_same_alpha_and_is_written_in_scene_linear(spaces, tmp_path):
    acg = matte_in(spaces["ACEScg"], "ACEScg", tmp_path / "cg")
    cct = matte_in(spaces["ACEScct"], "ACEScct", tmp_path / "cct")
    _, spec = read_exr(tmp_path / "cct" / "m.1001.exr")
    scene_linear = ocio.Config.CreateFromBuiltinConfig("studio-config-latest").getRoleColorSpace("scene_linear")
    assert spec.getattribute("bgmatte:colorspace") == scene_linear
    for x, y in zip(acg, cct):
        assert np.abs(x[..., 3] - y[..., 3]).mean() < 0.01
        assert np.abs(convert(y, scene_linear, "ACEScg") - x[..., :3]).mean() < 0.01


def test_highlights_above_one_and_negative_values_survive(shot_dir, tmp_path):
    frame, _ = read_exr(shot_dir / "frame.1001.exr")
    plate, _ = read_exr(shot_dir / "clean.exr")
    frame[0:4, 0:4] = 250.0
    plate[0:4, 0:4] = 250.0
    frame[60:64, 0:4] = -0.25
    plate[60:64, 0:4] = -0.25
    src = write_exr(tmp_path / "f.exr", frame)
    pl = write_exr(tmp_path / "p.exr", plate)
    # The gain match off: the patches are the same in frame and plate, so nothing but the colour
    # pipeline stands between them and the output (no gain residual to sort into light or shadow).
    assert main(["matte", str(src), "--plate", str(pl), "-o", str(tmp_path / "o.exr"), "--model", TEST_MODEL,
                 "--progress", "none", "--gain-match", "off"]) == 0
    out, _ = read_exr(tmp_path / "o.exr")
    comp = out[..., :3] + (1 - out[..., 3:4]) * plate
    assert np.allclose(comp[0:4, 0:4], 250.0, rtol=2e-3)
    assert np.allclose(comp[60:64, 0:4], -0.25, atol=2e-3)
