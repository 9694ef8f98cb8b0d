"""Specification of `bgmatte export --format torchscript`: the file Nuke's Inference node runs.

One packed input [1, 6, H, W] (source RGB then plate RGB, linear, the script's working space), one
output [1, 4, H, W] (premultiplied RGBA), and the alpha of `bgmatte matte --seg auto --motion none`.
Loading it in Nuke itself is not verified here (Nuke cannot be installed).
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

from bgmatte.cli import main
from bgmatte.color import ColorPipeline, resolve_config
from bgmatte.data.synthetic_shot import ShotRecipe, make_shot
from bgmatte.model import create_model
from bgmatte.pipeline import FrameInputs, matte_arrays
from conftest import TEST_MODEL, channel, read_exr

SHOT = Path(__file__).resolve().parents[1] / "samples" / "shot"
REC709 = "Linear Rec.709 (sRGB)"
# The default model is checked too once its trained weights are installed (they come from training).
MODELS = [TEST_MODEL] + (["default"] if (resources.files("bgmatte") / "weights" / "default.pt").is_file() else [])


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def export(path: Path, *args: str) -> Path:
    assert main(["export", "--format", "torchscript", "-o", str(path), *args]) == 0
    return path


def rgb(path: Path) -> np.ndarray:
    return read_exr(path)[0][..., :3]


def packed(frame: np.ndarray, plate: np.ndarray) -> torch.Tensor:
    """(H, W, 3) source and plate -> the [1, 6, H, W] float32 tensor the Inference node sends."""
    return torch.from_numpy(np.concatenate([frame, plate], axis=-1)).permute(2, 0, 1)[None].contiguous()


def run(module, frame: np.ndarray, plate: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = module(packed(frame, plate))
    assert out.shape == (1, 4) + frame.shape[:2] and out.dtype == torch.float32
    return out[0].permute(1, 2, 0).numpy()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return torch.jit.load(str(export(tmp_path_factory.mktemp("export") / "tiny.pt", "--model", TEST_MODEL)))


def test_the_file_records_what_it_expects_and_gives(tmp_path):
    path = export(tmp_path / "sub" / "model.pt", "--model", TEST_MODEL)
    extra = {"bgmatte.json": ""}
    torch.jit.load(str(path), _extra_files=extra)
    record = json.loads(extra["bgmatte.json"])
    assert (record["model"], record["colorspace"]) == (TEST_MODEL, "ACEScg")
    assert record["input"].startswith("[1,6,H,W] source RGB then clean plate RGB")
    assert record["equivalent"] == "bgmatte matte --seg auto --motion none"
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]  # no staging left behind


def test_its_alpha_matches_bgmatte_matte_on_the_sample_frame(tiny, tmp_path):
    reference = tmp_path / "ref.exr"
    assert main(["matte", str(SHOT / "frame.1001.exr"), "--plate", str(SHOT / "clean.exr"), "-o", str(reference),
                 "--motion", "none", "--seg", "auto", "--model", TEST_MODEL, "--progress", "none"]) == 0
    out = run(tiny, rgb(SHOT / "frame.1001.exr"), rgb(SHOT / "clean.exr"))
    pixels, spec = read_exr(reference)
    assert np.abs(out[..., 3] - channel(pixels, spec, "A")).mean() < 1e-3  # the reference is half float
    assert np.abs(out[..., :3] - pixels[..., :3]).mean() < 1e-3


@pytest.mark.parametrize(("top", "left", "height", "width"), [(0, 0, 288, 512), (10, 33, 200, 297), (100, 200, 61, 95)])
def test_any_frame_size_gives_the_core_matte_of_that_frame(tiny, top, left, height, width):
    window = (slice(top, top + height), slice(left, left + width))
    frame, plate = rgb(SHOT / "frame.1001.exr")[window], rgb(SHOT / "clean.exr")[window]
    expected = matte_arrays(create_model(TEST_MODEL, device="cpu"), FrameInputs(frame=frame.copy(), plate=plate.copy()))
    out = run(tiny, frame, plate)
    np.testing.assert_allclose(out[..., 3], expected.alpha, rtol=0, atol=1e-4)
    np.testing.assert_allclose(out[..., :3], expected.premult, rtol=0, atol=1e-4)


def test_the_working_space_is_baked_in_as_a_matrix(tiny, tmp_path):
    rec709 = torch.jit.load(str(export(tmp_path / "rec709.pt", "--model", TEST_MODEL, "--colorspace", REC709)))
    to_rec709 = ColorPipeline(resolve_config(None), input_colorspace=REC709, output_colorspace=REC709).from_working
    frame, plate = rgb(SHOT / "frame.1001.exr"), rgb(SHOT / "clean.exr")
    acescg = run(tiny, frame, plate)
    ours = run(rec709, to_rec709(frame.copy()), to_rec709(plate.copy()))
    np.testing.assert_allclose(ours[..., 3], acescg[..., 3], rtol=0, atol=1e-4)
    np.testing.assert_allclose(ours[..., :3], to_rec709(acescg[..., :3].copy()), rtol=0, atol=1e-4)


def test_a_halved_module_still_mattes_in_float32_around_a_half_generator(tmp_path):
    halved = torch.jit.load(str(export(tmp_path / "m.pt", "--model", TEST_MODEL))).half()
    frame, plate = rgb(SHOT / "frame.1001.exr"), rgb(SHOT / "clean.exr")
    expected = matte_arrays(create_model(TEST_MODEL, device="cpu"), FrameInputs(frame=frame, plate=plate))
    with torch.no_grad():
        out = halved(packed(frame, plate).half())
    assert out.dtype == torch.float16
    assert np.abs(out[0, 3].float().numpy() - expected.alpha).mean() < 2e-3


def test_a_colourspace_that_is_not_scene_linear_is_refused(tmp_path, capsys):
    code = main(["export", "-o", str(tmp_path / "m.pt"), "--model", TEST_MODEL,
                 "--colorspace", "sRGB Encoded Rec.709 (sRGB)"])
    assert code == 2 and not (tmp_path / "m.pt").exists()
    assert capsys.readouterr().err.startswith("bgmatte: error: --colorspace: 'sRGB Encoded Rec.709 (sRGB)' to ACEScg "
                                              "is not a 3x3 matrix")


def test_an_output_that_is_a_folder_is_refused(tmp_path, capsys):
    assert main(["export", "-o", str(tmp_path), "--model", TEST_MODEL]) == 2
    assert capsys.readouterr().err == f"bgmatte: error: {tmp_path}: is a folder; name the .pt file to write\n"


@pytest.mark.parametrize("model", MODELS)
def test_acceptance_frame_soft_disc_and_strands_over_a_drifting_plate(model, tmp_path):
    make_shot(tmp_path / "shot", ShotRecipe(width=320, height=240, count=1, shadow=0.0, plate_drift=0.02))
    frame, plate = tmp_path / "shot" / "frame.1001.exr", tmp_path / "shot" / "plate.1001.exr"
    assert main(["matte", str(frame), "--plate", str(plate), "-o", str(tmp_path / "ref.exr"), "--motion", "none",
                 "--seg", "auto", "--model", model, "--progress", "none"]) == 0
    module = torch.jit.load(str(export(tmp_path / "m.pt", "--model", model)))
    reference, spec = read_exr(tmp_path / "ref.exr")
    alpha = run(module, rgb(frame), rgb(plate))[..., 3]
    assert np.abs(alpha - channel(reference, spec, "A")).mean() < 0.02


def test_a_model_with_a_learned_refiner_exports_the_cores_pixels(tmp_path):
    from bgmatte.model import save_weights
    from bgmatte.model.config import GeneratorConfig
    from bgmatte.model.generator import Generator

    base = create_model(TEST_MODEL, device="cpu")
    model = Generator(GeneratorConfig.from_dict({**base.config.to_dict(), "refiner_width": 6})).eval()
    model.load_state_dict(base.state_dict(), strict=False)
    with torch.no_grad():
        for parameter in model.refiner.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=torch.Generator().manual_seed(4)) * 0.3)
    weights = save_weights(tmp_path / "refined.pt", model, {"note": "test"})
    graph = torch.jit.load(str(export(tmp_path / "refined_graph.pt", "--model", str(weights))))
    frame, plate = rgb(SHOT / "frame.1001.exr")[20:220, 40:337], rgb(SHOT / "clean.exr")[20:220, 40:337]
    expected = matte_arrays(create_model(str(weights), device="cpu"), FrameInputs(frame=frame.copy(), plate=plate.copy()))
    plain = matte_arrays(base, FrameInputs(frame=frame.copy(), plate=plate.copy()))
    assert np.abs(expected.alpha - plain.alpha).max() > 0.01  # the refiner is in play
    out = run(graph, frame, plate)
    np.testing.assert_allclose(out[..., 3], expected.alpha, rtol=0, atol=1e-4)
    np.testing.assert_allclose(out[..., :3], expected.premult, rtol=0, atol=1e-4)


def test_a_weights_file_can_be_rewritten_at_another_working_size(tmp_path, capsys):
    from bgmatte.model import load_weights, save_weights

    source = save_weights(tmp_path / "source.pt", create_model(TEST_MODEL, device="cpu"), {"note": "test"})
    out = tmp_path / "wider.pt"
    assert main(["export", "--format", "weights", "--model", str(source), "--working-size", "200", "-o", str(out)]) == 0
    config, state, provenance = load_weights(out)
    original, original_state, _ = load_weights(source)
    assert config.working_size == 200 and config.to_dict() == {**original.to_dict(), "working_size": 200}
    for name, value in original_state.items():
        torch.testing.assert_close(state[name], value)
    assert provenance["working_size_changed"]["from"] == original.working_size and provenance["note"] == "test"
    assert main(["export", "--format", "weights", "--model", str(out), "-o", str(out)]) == 2
    assert "is the weights file being read" in capsys.readouterr().err
