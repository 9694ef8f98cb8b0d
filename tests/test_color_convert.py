"""Config resolution and conversions to / from working linear, with real OCIO configs on disk."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import PyOpenColorIO as OCIO
import pytest

from bgmatte.color import (
    NETWORK_COLORSPACE,
    WORKING_COLORSPACE,
    ColorPipeline,
    bundled_config_path,
    decode_from_network,
    resolve_config,
)
from bgmatte.errors import InputError

STUDIO = "ocio://studio-config-latest"
CONFIGS = [None, STUDIO]  # None = the bundled config
# Same scene through different input spaces: float32 matrix / log round trips.
SAME_PIXELS_RTOL = 1e-5
SAME_PIXELS_ATOL = 1e-6
# Through a log curve and back: float32 exp2 of ~17.5 * y amplifies rounding (~1.2e-5 seen at 100).
LOG_ROUND_TRIP_RTOL = 5e-5
LINEAR_SPACES = ["ACEScg", "ACES2065-1", "Linear Rec.709 (sRGB)", "Linear Rec.2020", "Linear P3-D65"]


@pytest.fixture(autouse=True)
def no_ocio_env(monkeypatch):
    """Tests start without $OCIO so the bundled config is the fallback."""
    monkeypatch.delenv("OCIO", raising=False)


def hdr_scene() -> np.ndarray:
    """A small ACEScg frame (16, 24, 3) float32: a ramp with highlights to 100 and negatives to -0.5."""
    rng = np.random.default_rng(7)
    scene = rng.uniform(0.0, 1.0, (16, 24, 3)).astype(np.float32)
    scene[0, :, :] = np.geomspace(0.001, 100.0, 24, dtype=np.float32)[:, None]
    scene[1, :4] = [[100.0, 40.0, 3.0], [-0.5, 0.2, 0.1], [0.3, -0.5, 2.0], [-0.5, -0.5, -0.5]]
    return scene


def render_in(config: OCIO.Config, space: str, scene_acescg: np.ndarray) -> np.ndarray:
    """The scene as a camera or renderer would have written it in `space`, computed by OCIO itself."""
    pixels = scene_acescg.copy()
    config.getProcessor("ACEScg", space).getDefaultCPUProcessor().applyRGB(pixels)
    return pixels


def write_config(folder: Path, text: str) -> str:
    path = folder / "config.ocio"
    path.write_text(text)
    return str(path)


V1_CONFIG = """\
ocio_profile_version: 1
search_path: .
strictparsing: true
roles:
  default: Linear Rec.709 (sRGB)
  scene_linear: Linear Rec.709 (sRGB)
displays:
  sRGB:
    - !<View> {name: Raw, colorspace: Linear Rec.709 (sRGB)}
colorspaces:
  - !<ColorSpace>
    name: Linear Rec.709 (sRGB)
    bitdepth: 32f
    isdata: false
  - !<ColorSpace>
    name: ACEScg
    bitdepth: 32f
    isdata: false
    to_reference: !<MatrixTransform> {matrix: [1.7, -0.6, -0.1, 0, -0.1, 1.1, 0, 0, 0, -0.1, 1.1, 0, 0, 0, 0, 1]}
  - !<ColorSpace>
    name: camera_log
    bitdepth: 32f
    isdata: false
    to_reference: !<LogTransform> {base: 10, direction: inverse}
"""

# A v2 config whose spaces have no `encoding:`, so linearity must be tested numerically.
NO_ENCODING_CONFIG = """\
ocio_profile_version: 2
roles:
  aces_interchange: ACES2065-1
  default: ACES2065-1
  scene_linear: ACES2065-1
displays:
  sRGB:
    - !<View> {name: Raw, colorspace: ACES2065-1}
colorspaces:
  - !<ColorSpace>
    name: ACES2065-1
  - !<ColorSpace>
    name: plate_linear
    to_scene_reference: !<BuiltinTransform> {style: ACEScg_to_ACES2065-1}
  - !<ColorSpace>
    name: plate_log
    to_scene_reference: !<BuiltinTransform> {style: ACEScct_to_ACES2065-1}
"""


def test_bundled_config_validates_and_defines_the_required_spaces_and_roles():
    config = OCIO.Config.CreateFromFile(str(bundled_config_path()))
    config.validate()
    encodings = {
        "ACES2065-1": "scene-linear", "ACEScg": "scene-linear", "ACEScct": "log",
        "Linear Rec.709 (sRGB)": "scene-linear", "Linear Rec.2020": "scene-linear",
        "Linear P3-D65": "scene-linear", "sRGB Encoded Rec.709 (sRGB)": "sdr-video",
        "CIE-XYZ-D65": "display-linear", "Raw": "data", NETWORK_COLORSPACE: "log",
    }
    assert {name: config.getColorSpace(name).getEncoding() for name in encodings} == encodings
    assert config.getColorSpace("Raw").isData()
    network = config.getColorSpace(NETWORK_COLORSPACE)
    assert network.getFamily() == "bgmatte" and "ACEScct" in network.getDescription()
    roles = {"scene_linear": "ACEScg", "aces_interchange": "ACES2065-1",
             "cie_xyz_d65_interchange": "CIE-XYZ-D65", "data": "Raw"}
    assert {role: config.getRoleColorSpace(role) for role in roles} == roles
    for role in ("default", "color_picking", "matte_paint", "texture_paint"):
        assert config.getColorSpace(role) is not None, role


def test_bundled_spaces_convert_to_acescg_exactly_like_the_studio_config():
    ours = OCIO.Config.CreateFromFile(str(bundled_config_path()))
    studio = OCIO.Config.CreateFromFile(STUDIO)
    pixels = np.clip(hdr_scene(), 0.0, None)  # sRGB Encoded is only compared on its defined range
    for space in LINEAR_SPACES + ["ACEScct", "sRGB Encoded Rec.709 (sRGB)"]:
        a, b = pixels.copy(), pixels.copy()
        ours.getProcessor(space, "ACEScg").getDefaultCPUProcessor().applyRGB(a)
        across = OCIO.Config.GetProcessorFromConfigs(studio, space, ours, "ACEScg")
        across.getDefaultCPUProcessor().applyRGB(b)
        np.testing.assert_allclose(a, b, rtol=SAME_PIXELS_RTOL, atol=SAME_PIXELS_ATOL, err_msg=space)


def test_resolve_prefers_the_explicit_value_then_ocio_env_then_the_bundled_config(monkeypatch):
    assert resolve_config(None).source == str(bundled_config_path().resolve())
    assert resolve_config(None).is_bundled
    monkeypatch.setenv("OCIO", "ocio://cg-config-latest")
    assert resolve_config(None).source == "ocio://cg-config-latest"
    assert resolve_config(STUDIO).source == STUDIO
    assert not resolve_config(STUDIO).is_bundled


def test_resolve_caches_loaded_configs():
    assert resolve_config(None).config is resolve_config(None).config
    assert resolve_config(STUDIO).config is resolve_config(STUDIO).config


def test_bundled_config_path_is_the_repository_ocio_folder():
    repository_config = Path(__file__).resolve().parents[1] / "ocio" / "config.ocio"
    assert bundled_config_path().resolve() == repository_config.resolve()


def test_missing_config_from_ocio_env_is_an_input_error_that_names_ocio(monkeypatch, tmp_path):
    missing = tmp_path / "nowhere" / "config.ocio"
    monkeypatch.setenv("OCIO", str(missing))
    with pytest.raises(InputError) as caught:
        resolve_config(None)
    assert caught.value.subject == str(missing)
    assert caught.value.problem == "no such OCIO config (named by $OCIO)"


def test_unreadable_config_and_unknown_builtin_are_input_errors(tmp_path):
    garbage = write_config(tmp_path, "this: [is not: an OCIO config\n")
    with pytest.raises(InputError, match="not a readable OCIO config"):
        resolve_config(garbage)
    with pytest.raises(InputError, match="no such OCIO config"):
        resolve_config(str(tmp_path / "missing.ocio"))
    with pytest.raises(InputError, match="unknown built-in OCIO config; known: ocio://default"):
        resolve_config("ocio://no-such-config")


@pytest.mark.parametrize("ocio", CONFIGS)
def test_default_input_is_the_scene_linear_role_and_costs_nothing(ocio):
    pipeline = ColorPipeline(resolve_config(ocio))
    assert pipeline.input_colorspace == pipeline.output_colorspace == "ACEScg"
    frame = hdr_scene()
    assert pipeline.to_working(frame) is frame
    assert pipeline.from_working(frame) is frame


@pytest.mark.parametrize("ocio", CONFIGS)
@pytest.mark.parametrize("space", LINEAR_SPACES)
def test_same_scene_in_any_linear_space_gives_the_same_working_pixels(ocio, space):
    resolved = resolve_config(ocio)
    scene = hdr_scene()
    pipeline = ColorPipeline(resolved, space)
    assert pipeline.input_is_scene_linear
    assert pipeline.output_colorspace == space
    working = pipeline.to_working(render_in(resolved.config, space, scene))
    np.testing.assert_allclose(working, scene, rtol=SAME_PIXELS_RTOL, atol=SAME_PIXELS_ATOL)


@pytest.mark.parametrize("ocio", CONFIGS)
def test_acescct_input_gives_the_same_working_pixels_and_is_written_in_scene_linear(ocio):
    resolved = resolve_config(ocio)
    scene = hdr_scene()
    pipeline = ColorPipeline(resolved, "ACEScct")
    assert not pipeline.input_is_scene_linear
    assert pipeline.output_colorspace == resolved.config.getRoleColorSpace("scene_linear") == "ACEScg"
    working = pipeline.to_working(render_in(resolved.config, "ACEScct", scene))
    np.testing.assert_allclose(working, scene, rtol=LOG_ROUND_TRIP_RTOL, atol=SAME_PIXELS_ATOL)


@pytest.mark.parametrize("ocio", CONFIGS)
@pytest.mark.parametrize("space", ["Linear Rec.709 (sRGB)", "Linear Rec.2020", "ACES2065-1"])
def test_highlights_and_negatives_survive_a_round_trip_through_working(ocio, space):
    pipeline = ColorPipeline(resolve_config(ocio), space)
    frame = hdr_scene()
    frame[2, :3] = [[100.0, 100.0, 100.0], [-0.5, -0.5, -0.5], [100.0, -0.5, 0.18]]
    working = pipeline.to_working(frame.copy())
    assert working.max() > 50.0 and working.min() < -0.3, "no clipping on the way in"
    round_trip = pipeline.from_working(working)
    np.testing.assert_allclose(round_trip, frame, rtol=SAME_PIXELS_RTOL, atol=SAME_PIXELS_ATOL)


def test_explicit_output_colorspace_overrides_the_default():
    pipeline = ColorPipeline(resolve_config(STUDIO), "ACEScct", output_colorspace="Linear Rec.2020")
    assert pipeline.output_colorspace == "Linear Rec.2020"
    assert pipeline.describe() == {"config": STUDIO, "input_colorspace": "ACEScct",
                                   "output_colorspace": "Linear Rec.2020"}


def test_aliases_and_roles_resolve_to_canonical_names():
    pipeline = ColorPipeline(resolve_config(STUDIO), "lin_srgb", output_colorspace="scene_linear")
    assert (pipeline.input_colorspace, pipeline.output_colorspace) == ("Linear Rec.709 (sRGB)", "ACEScg")


@pytest.mark.parametrize("ocio", CONFIGS)
def test_unknown_colourspace_error_names_it_and_suggests_the_closest_names(ocio):
    resolved = resolve_config(ocio)
    with pytest.raises(InputError) as caught:
        ColorPipeline(resolved, "ACEScgg")
    assert caught.value.subject == resolved.source
    assert caught.value.problem.startswith("unknown colourspace 'ACEScgg'; known: ACEScg")
    with pytest.raises(InputError, match="unknown colourspace 'Rec.709 Linearr'"):
        ColorPipeline(resolved, "ACEScg", output_colorspace="Rec.709 Linearr")


def test_v1_config_without_interchange_roles_works_for_names_bgmatte_knows(tmp_path):
    resolved = resolve_config(write_config(tmp_path, V1_CONFIG))
    scene = hdr_scene()
    acescg = ColorPipeline(resolved, "ACEScg")  # the v1 definition is ignored: bgmatte's is used
    np.testing.assert_array_equal(acescg.to_working(scene.copy()), scene)
    rec709 = ColorPipeline(resolved, "Linear Rec.709 (sRGB)")
    assert rec709.input_is_scene_linear  # numerically: v1 spaces have no encoding attribute
    bundled = resolve_config(None).config
    working = rec709.to_working(render_in(bundled, "Linear Rec.709 (sRGB)", scene))
    np.testing.assert_allclose(working, scene, rtol=SAME_PIXELS_RTOL, atol=SAME_PIXELS_ATOL)


def test_v1_config_without_interchange_roles_may_use_any_name_of_the_bundled_config(tmp_path):
    resolved = resolve_config(write_config(tmp_path, V1_CONFIG))
    pipeline = ColorPipeline(resolved, "ACEScct")
    assert pipeline.output_colorspace == "Linear Rec.709 (sRGB)", "the v1 config's scene_linear role"
    scene = hdr_scene()
    bundled = resolve_config(None).config
    working = pipeline.to_working(render_in(bundled, "ACEScct", scene))
    np.testing.assert_allclose(working, scene, rtol=LOG_ROUND_TRIP_RTOL, atol=SAME_PIXELS_ATOL)
    written = pipeline.from_working(scene.copy())
    np.testing.assert_allclose(written, render_in(bundled, "Linear Rec.709 (sRGB)", scene),
                               rtol=SAME_PIXELS_RTOL, atol=SAME_PIXELS_ATOL)


def test_v1_config_without_interchange_roles_names_the_missing_role_for_unknown_spaces(tmp_path):
    resolved = resolve_config(write_config(tmp_path, V1_CONFIG))
    with pytest.raises(InputError) as caught:
        ColorPipeline(resolved, "camera_log")
    assert caught.value.subject == resolved.source
    assert "'camera_log'" in caught.value.problem
    assert "no aces_interchange role" in caught.value.problem


def test_linearity_is_tested_numerically_when_the_config_has_no_encodings(tmp_path):
    resolved = resolve_config(write_config(tmp_path, NO_ENCODING_CONFIG))
    linear = ColorPipeline(resolved, "plate_linear")
    assert linear.input_is_scene_linear and linear.output_colorspace == "plate_linear"
    log_plate = ColorPipeline(resolved, "plate_log")
    assert not log_plate.input_is_scene_linear and log_plate.output_colorspace == "ACES2065-1"
    scene = hdr_scene()
    encoded = render_in(resolve_config(None).config, "ACEScct", scene)
    np.testing.assert_allclose(log_plate.to_working(encoded.copy()), decode_from_network(encoded),
                               rtol=LOG_ROUND_TRIP_RTOL, atol=SAME_PIXELS_ATOL)
    written = log_plate.from_working(scene.copy())
    np.testing.assert_allclose(written, render_in(resolve_config(None).config, "ACES2065-1", scene),
                               rtol=SAME_PIXELS_RTOL, atol=SAME_PIXELS_ATOL)


def test_to_working_converts_contiguous_float32_in_place_and_copies_anything_else():
    pipeline = ColorPipeline(resolve_config(None), "Linear Rec.709 (sRGB)")
    frame = hdr_scene()
    assert pipeline.to_working(frame) is frame, "contiguous float32 is converted in place"
    as_float64 = hdr_scene().astype(np.float64)
    transposed = np.ascontiguousarray(hdr_scene().transpose(1, 0, 2)).transpose(1, 0, 2)
    expected = pipeline.to_working(hdr_scene())
    for other in (as_float64, transposed):
        before = other.copy()
        result = pipeline.to_working(other)
        assert result.dtype == np.float32 and result.flags.c_contiguous
        np.testing.assert_allclose(result, expected, rtol=1e-6)
        np.testing.assert_array_equal(other, before)


def test_to_working_rejects_arrays_that_are_not_rgb():
    pipeline = ColorPipeline(resolve_config(None), "Linear Rec.709 (sRGB)")
    with pytest.raises(ValueError, match=r"expected \(H, W, 3\)"):
        pipeline.to_working(np.zeros((4, 4, 4), dtype=np.float32))


def test_working_space_is_the_bundled_scene_linear_role():
    assert resolve_config(None).config.getRoleColorSpace("scene_linear") == WORKING_COLORSPACE
