"""The Blender element bank: real Cycles renders (bpy, in a subprocess) read back with OpenImageIO.

Each render runs `python -m bgmatte.data.blender_elements` in its own process (bpy loads once per
process) on tiny frames with few samples, so the whole file takes a few seconds.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import PyOpenColorIO as OCIO
import pytest

from bgmatte.data import blender_elements
from bgmatte.data.blender_elements import (DEFAULT_KINDS, KINDS, LICENCE, TRAINING_HDRIS, plan_elements,
                                           render_element_bank)
from bgmatte.data.photo_catalogue import VALIDATION_HDRIS
from bgmatte.errors import InputError

TINY = {"kinds": ("hair",), "size": 48, "samples": 4, "shadow_fraction": 1.0}
SEED = 3


def read(path: Path) -> tuple[np.ndarray, list[str]]:
    """Pixels (H, W, C) float32 and channel names of an EXR."""
    image = oiio.ImageBuf(str(path))
    assert not image.has_error, image.geterror()
    return image.get_pixels(oiio.FLOAT), list(image.spec().channelnames)


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bank")
    render_element_bank(out, SEED, 1, **TINY, timeout=120)
    return out


@pytest.fixture(scope="module")
def hair(bank: Path) -> dict:
    index = json.loads((bank / "index.json").read_text())
    (entry,) = index["elements"]
    rgba, channels = read(bank / entry["file"])
    with_shadow, _ = read(bank / entry["shadow"]["plate_with_shadow"])
    plate, plate_channels = read(bank / entry["shadow"]["plate"])
    return {"index": index, "entry": entry, "rgba": rgba, "channels": channels, "with_shadow": with_shadow,
            "plate": plate, "plate_channels": plate_channels}


def test_plan_keeps_the_first_elements_when_the_bank_grows() -> None:
    small, large = plan_elements(5, 4), plan_elements(5, 12)
    assert large[:4] == small
    assert [spec.kind for spec in large[:len(DEFAULT_KINDS)]] == list(DEFAULT_KINDS)
    assert all(max(spec.width, spec.height) == 384 for spec in large)
    assert len({spec.seed for spec in large}) == 12


def test_a_new_kind_leaves_the_default_bank_as_it_was() -> None:
    assert set(DEFAULT_KINDS) < set(KINDS) and "chrome" in KINDS and "chrome" not in DEFAULT_KINDS
    assert [spec.kind for spec in plan_elements(1, 11)] == [*DEFAULT_KINDS, DEFAULT_KINDS[0]]


def test_hdri_lighting_is_drawn_apart_from_everything_else_and_only_from_training_hdris() -> None:
    flat, lit, some = plan_elements(4, 40), plan_elements(4, 40, hdri_fraction=1.0), plan_elements(4, 40, hdri_fraction=0.5)
    assert all(spec.hdri == "" for spec in flat)
    assert [replace(spec, hdri="") for spec in lit] == flat, "an HDRI must not change an element's geometry, frame or shadow pair"
    assert {spec.hdri for spec in lit} <= set(TRAINING_HDRIS) and len({spec.hdri for spec in lit}) >= 3
    assert not set(TRAINING_HDRIS) & set(VALIDATION_HDRIS)
    assert 10 <= sum(bool(spec.hdri) for spec in some) <= 30
    with pytest.raises(InputError) as error:
        plan_elements(1, 2, hdri_fraction=1.5)
    assert error.value.subject == "--hdri-fraction"


def test_an_hdri_lights_a_chrome_element_and_is_credited_in_the_index(tmp_path: Path) -> None:
    settings = {"kinds": ("chrome",), "size": 48, "samples": 4, "shadow_fraction": 0.0}
    render_element_bank(tmp_path / "flat", SEED, 1, **settings, timeout=120)
    render_element_bank(tmp_path / "lit", SEED, 1, **settings, hdri_fraction=1.0, timeout=120)
    entries = [json.loads((tmp_path / name / "index.json").read_text())["elements"][0] for name in ("flat", "lit")]
    (flat, _), (lit, _) = (read(tmp_path / name / entry["file"]) for name, entry in zip(("flat", "lit"), entries))
    world = entries[1]["provenance"]["world"]
    assert world["light"].startswith("HDRI ") and world["light"].split()[1].rstrip(",") in TRAINING_HDRIS
    assert world["licence"].startswith("CC0") and world["package"] == "bpy" and world["file"].endswith(".exr")
    assert entries[0]["provenance"]["world"]["light"].startswith("flat sky")
    np.testing.assert_array_equal(flat[..., 3] > 0.5, lit[..., 3] > 0.5)
    opaque = lit[..., 3] > 0.99
    assert np.count_nonzero(opaque) > 20
    assert np.abs(lit[opaque, :3] - flat[opaque, :3]).mean() > 0.01, "the metal must reflect the HDRI"


def test_a_missing_hdri_is_one_error_line_before_any_render(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(blender_elements, "installed_path", lambda image: tmp_path / f"{image.name}.exr")
    code = blender_elements.main(["--out", str(tmp_path / "bank"), "--seed", "1", "--count", "2",
                                  "--hdri-fraction", "1"])
    assert code != 0
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert str(tmp_path) in line and "HDRI of the bpy wheel is missing" in line
    assert not (tmp_path / "bank").exists()


def test_plan_rejects_an_unknown_kind_naming_the_option() -> None:
    with pytest.raises(InputError) as error:
        plan_elements(1, 2, kinds=("hair", "smoke"))
    assert error.value.subject == "--kinds"
    assert "smoke" in error.value.problem


def test_importing_the_builder_does_not_import_bpy() -> None:
    check = "import sys, bgmatte.data.blender_elements; print('bpy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "False"


def test_missing_bpy_is_an_input_error_before_any_render(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blender_elements.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InputError) as error:
        render_element_bank(tmp_path / "bank", 1, 1)
    assert error.value.subject == "bpy"
    assert not (tmp_path / "bank").exists()


def test_hair_element_is_premultiplied_rgba_with_fractional_alpha(hair: dict) -> None:
    rgba, alpha = hair["rgba"], hair["rgba"][..., 3]
    assert hair["channels"] == ["R", "G", "B", "A"]
    assert rgba.shape[:2] == (hair["entry"]["height"], hair["entry"]["width"])
    assert np.isfinite(rgba).all()
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0
    fractional = np.count_nonzero((alpha > 0.02) & (alpha < 0.98))
    assert fractional >= 20, "strands thinner than a pixel must give fractional coverage"
    assert np.count_nonzero(alpha == 0) > 0 and np.count_nonzero(alpha == 1) > 0
    assert np.all(rgba[alpha == 0, :3] == 0), "RGB must be 0 where alpha is 0"
    assert rgba[..., :3].max() > 0.05


def test_shadow_darkens_the_plate_where_the_alpha_is_zero(hair: dict) -> None:
    alpha = hair["rgba"][..., 3]
    assert hair["plate_channels"] == ["R", "G", "B"]
    with_shadow, plate = hair["with_shadow"].mean(axis=2), hair["plate"].mean(axis=2)
    assert np.isfinite(with_shadow).all() and np.isfinite(plate).all() and plate.min() > 0
    ratio = with_shadow / plate
    shadow = (alpha == 0) & (ratio < 0.8)
    assert np.count_nonzero(shadow) >= 0.02 * alpha.size, "the cast shadow must fall outside the alpha"
    assert np.percentile(ratio[alpha == 0], 99) < 1.05, "the element only shadows the plate, it never shows in it"


def test_index_follows_the_bank_format(bank: Path, hair: dict) -> None:
    index, entry = hair["index"], hair["entry"]
    assert (index["format"], index["version"], index["colorspace"], index["alpha"]) == \
        ("bgmatte-bank", 1, "ACEScg", "premultiplied")
    assert index["recipe"]["seed"] == SEED and "--seed 3" in index["recipe"]["command"]
    assert entry["kind"] == "render_hair" and entry["licence"] == LICENCE
    assert entry["provenance"]["blender"].startswith("5.")
    assert entry["provenance"]["generator"] == index["recipe"]["generator"] == "bgmatte.data.blender_elements"
    assert entry["provenance"]["seed"] == plan_elements(SEED, 1, **TINY)[0].seed
    for name in (entry["file"], *entry["shadow"].values()):
        assert (bank / name).is_file()


def test_same_seed_renders_the_same_pixels_and_resume_skips_finished_elements(bank: Path, tmp_path: Path) -> None:
    render_element_bank(tmp_path, SEED, 1, **TINY, timeout=120)
    names = [path.relative_to(bank) for path in sorted(bank.rglob("*.exr"))]
    assert len(names) == 3
    for name in names:
        assert np.array_equal(read(bank / name)[0], read(tmp_path / name)[0]), f"{name} differs between runs"
    first = {name: (tmp_path / name).stat().st_mtime_ns for name in names}
    render_element_bank(tmp_path, SEED, 2, **TINY, timeout=120)
    assert {name: (tmp_path / name).stat().st_mtime_ns for name in names} == first
    assert len(json.loads((tmp_path / "index.json").read_text())["elements"]) == 2


def test_renders_are_saved_in_acescg(tmp_path: Path) -> None:
    # An emissive card of known Linear Rec.709 colour goes through the builder's scene and pass code.
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        import numpy as np
        from bgmatte.data import blender_elements as be
        be._isolate_blender_user_folders(Path({str(tmp_path / "user")!r}))
        import bpy
        spec = be.ElementSpec(0, "glass", 1, 16, 16, 1, False)
        scene = be._new_scene(spec, 1)
        material = bpy.data.materials.new("card")
        nodes = material.node_tree.nodes
        emission = nodes.new("ShaderNodeEmission")
        emission.inputs["Color"].default_value = (0.8, 0.3, 0.1, 1.0)
        emission.inputs["Strength"].default_value = 2.0
        material.node_tree.links.new(emission.outputs[0], nodes["Material Output"].inputs["Surface"])
        card = np.array([[-5, -5, 0], [5, -5, 0], [5, 5, 0], [-5, 5, 0]], float)
        be._mesh_object("card", card, [(0, 1, 2, 3)], material, smooth=False)
        be._add_camera(scene, np.random.default_rng(0), be._Element([], (0, 0, 0), 1.0), spec)
        scene.camera.location, scene.camera.rotation_euler = (0, 0, 3), (0, 0, 0)
        np.save(sys.argv[1], be._render_pass(scene, Path(sys.argv[1]).with_suffix(".exr")))
    """)
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "card.npy")], check=True, timeout=120,
                   capture_output=True)
    rendered = np.load(tmp_path / "card.npy")[8, 8]
    config = OCIO.Config.CreateFromBuiltinConfig("cg-config-latest")
    processor = config.getProcessor("Linear Rec.709 (sRGB)", "ACEScg").getDefaultCPUProcessor()
    expected = processor.applyRGB([1.6, 0.6, 0.2])
    np.testing.assert_allclose(rendered[:3], expected, rtol=1e-4)
    assert rendered[3] == 1.0
