"""Specification of the Background Matte node's Garbage and Core inputs, its view switch and its stale check.

Runs against the `nuke` stand-in (tests/nuke_standin.py) with real EXR files and the real core, as
test_nuke_node does. The view switch is made of Nuke nodes inside the gizmo, which the stand-in does
not render: `view_pixels` follows the gizmo's own wiring (its node stack, `set` / `push`) and does
what Expression, Shuffle (the classic one) and Switch do to the cached matte, so what is checked is
the gizmo file's wiring and expressions. Nuke itself was not run.
"""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

import nuke_standin
from conftest import TEST_MODEL, channel, read_exr, write_exr
from test_nuke_node import NUKE_FOLDER, SHOT, analyse, matte_node, start_nuke

GIZMO = NUKE_FOLDER / "gizmos" / "bgmatte_BackgroundMatte.gizmo"
VIEWS = ("final", "matte", "status", "shadow", "foreground")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---------------------------------------------------------------- the gizmo's view nodes, followed in numpy

def layer(image: dict[str, np.ndarray], name: str) -> list[np.ndarray]:
    """A layer's channels in order, as Nuke numbers them (rgba: red, green, blue, alpha)."""
    if name == "rgba":
        return [image[c] for c in ("R", "G", "B", "A")]
    return [image[c] for c in image if c.startswith(name + ".")]


def view_pixels(matte_file: Path, view: str) -> dict[str, np.ndarray]:
    """The gizmo's output channels for ``view``, following its nodes from the Read of the cache to Output1."""
    pixels, spec = read_exr(matte_file)
    source = {name: channel(pixels, spec, name) for name in spec.channelnames}
    nodes = nuke_standin.gizmo_wiring(GIZMO.read_text())

    def output(name: str) -> dict[str, np.ndarray]:
        node, inputs = nodes[name]
        if node.cls == "Read":
            assert node.knobs["file"] == "[value parent.cache]/matte/matte.####.exr"
            return dict(source)
        if node.cls == "Switch":
            assert node.knobs["which"] == "{{parent.view}}"
            return output(inputs[VIEWS.index(view)])
        if node.cls == "Output":
            return output(inputs[0])
        image = dict(output(inputs[0]))
        rgba = layer(image, "rgba")
        if node.cls == "Expression":
            names = dict(zip("rgba", rgba))
            new = [np.broadcast_to(np.asarray(eval(node.knobs[f"expr{i}"], {}, names), np.float32), rgba[0].shape)
                   if node.knobs.get(f"expr{i}") else rgba[i] for i in range(4)]  # empty: unchanged
        elif node.cls == "Shuffle":
            inside = layer(image, node.knobs.get("in", "rgba"))
            positions = ("red", "green", "blue", "alpha")

            def pick(out: str) -> np.ndarray:
                chosen = node.knobs.get(out, out)
                constant = {"white": 1.0, "black": 0.0}.get(chosen)
                if constant is not None:
                    return np.full_like(rgba[0], constant)
                return inside[positions.index(chosen)]
            new = [pick(out) for out in positions]
        else:
            raise AssertionError(f"no stand-in for a {node.cls} node in the gizmo")
        image.update(zip(("R", "G", "B", "A"), new))
        return image

    return output("Output1")


# ---------------------------------------------------------------- helpers

def shot_copy(folder: Path) -> Path:
    """A copy of the sample shot that a test may change (its frames and still plate)."""
    folder.mkdir(parents=True)
    for path in list(SHOT.glob("frame.*.exr")) + [SHOT / "clean.exr"]:
        shutil.copyfile(path, folder / path.name)
    return folder


def on_copy(nuke, node, shot: Path) -> None:
    """Point the node's Source and CleanPlate at ``shot``."""
    node.setInput(0, nuke.nodes.Read(file=(shot / "frame.####.exr").as_posix(), first=1001, last=1012))
    node.setInput(1, nuke.nodes.Read(file=(shot / "clean.exr").as_posix(), first=1001, last=1012))


def columns_matte(path: Path, start: int, stop: int) -> Path:
    """A one-channel matte of the sample's size: 1 in columns start:stop, 0 elsewhere."""
    pixels, _ = read_exr(SHOT / "frame.1001.exr")
    matte = np.zeros(pixels.shape[:2], np.float32)
    matte[:, start:stop] = 1.0
    return write_exr(path, matte)


# ---------------------------------------------------------------- Garbage and Core

def test_garbage_forces_alpha_0_and_core_forces_alpha_1(monkeypatch, tmp_path):
    nuke = start_nuke(monkeypatch)
    node = matte_node(nuke, tmp_path / "cache")
    node["last_frame"].setValue(1001)
    width = read_exr(SHOT / "frame.1001.exr")[0].shape[1]
    third = width // 3
    garbage = columns_matte(tmp_path / "mattes" / "garbage.1001.exr", 0, third)
    core = columns_matte(tmp_path / "mattes" / "core.1001.exr", width - third, width)
    node.setInput(3, nuke.nodes.Read(file=garbage.as_posix(), first=1001, last=1001))
    node.setInput(4, nuke.nodes.Read(file=core.as_posix(), first=1001, last=1001))
    analyse(node)
    assert node["status"].value() == "1 of 1 frames computed"
    cache = tmp_path / "cache"
    assert (cache / "garbage" / "garbage.1001.exr").is_file() and (cache / "core" / "core.1001.exr").is_file()
    pixels, spec = read_exr(cache / "matte" / "matte.1001.exr")
    settings = spec.getattribute("bgmatte:settings")
    assert f'"garbage":"{(cache / "garbage" / "garbage.####.exr").as_posix()}"' in settings
    assert f'"core":"{(cache / "core" / "core.####.exr").as_posix()}"' in settings
    alpha = channel(pixels, spec, "A")
    assert np.all(alpha[:, :third] == 0.0)  # (RGB may keep added light there: the core's additive residual)
    np.testing.assert_allclose(alpha[:, width - third:], 1.0, atol=1e-3)
    assert 0.0 < alpha[:, third:width - third].mean() < 1.0  # the middle is the model's, not forced


def test_garbage_and_core_reach_the_external_bgmatte_as_its_options():
    from bgmatte_nuke.runner import MatteJob

    job = MatteJob(source="s.####.exr", plate="p.exr", output="m.####.exr", frames="1-2", colorspace="ACEScg",
                   ocio="", seg="auto", motion_gap=1, model="default", device="auto",
                   garbage="g.####.exr", core="c.####.exr")
    args = job.cli_args()
    assert args[args.index("--garbage") + 1] == "g.####.exr" and args[args.index("--core") + 1] == "c.####.exr"
    plain = dataclasses.replace(job, garbage=None, core=None).cli_args()
    assert "--garbage" not in plain and "--core" not in plain


# ---------------------------------------------------------------- the view switch

@pytest.fixture(scope="module")
def matte_file(tmp_path_factory):
    """The cached matte of one Analyse of frame 1001 (with the fg and shadow layers)."""
    cache = tmp_path_factory.mktemp("views") / "cache"
    with pytest.MonkeyPatch.context() as monkeypatch:
        nuke = start_nuke(monkeypatch)
        node = matte_node(nuke, cache)
        node["last_frame"].setValue(1001)
        analyse(node)
        assert node["view"].value() == "final"  # the default
    return cache / "matte" / "matte.1001.exr"


def test_each_view_gives_its_channels(matte_file):
    pixels, spec = read_exr(matte_file)
    get = {name: channel(pixels, spec, name) for name in spec.channelnames}
    alpha, ones = get["A"], np.ones_like(get["A"])
    band = (alpha > 0) & (alpha < 1)
    assert band.any() and (alpha == 0).any()  # the sample has all three kinds of pixel
    status = np.where(alpha >= 1, 1.0, np.where(band, 0.5, 0.0))
    expected = {
        "final": [get["R"], get["G"], get["B"], alpha],
        "matte": [alpha, alpha, alpha, alpha],
        "status": [status, status, status, band.astype(np.float32)],
        "shadow": [get["shadow.Y"], get["shadow.Y"], get["shadow.Y"], ones],
        "foreground": [get["fg.R"], get["fg.G"], get["fg.B"], ones],
    }
    for view, channels in expected.items():
        shown = view_pixels(matte_file, view)
        for name, want in zip("RGBA", channels):
            np.testing.assert_array_equal(shown[name], want, err_msg=f"view {view}, channel {name}")
        for name in ("fg.R", "fg.G", "fg.B", "shadow.Y"):  # every view keeps the layers
            np.testing.assert_array_equal(shown[name], get[name])


# ---------------------------------------------------------------- no silent staleness

def test_a_longer_motion_gap_needs_more_source_frames_so_source_and_settings_are_stale(monkeypatch, tmp_path):
    nuke = start_nuke(monkeypatch)
    import bgmatte_nuke.stale

    node = matte_node(nuke, tmp_path / "cache")
    node["last_frame"].setValue(1001)
    analyse(node)
    node["motion_gap"].setValue(2)
    assert bgmatte_nuke.stale.refresh(node) == ["Source", "settings"]


def test_a_changed_input_file_shows_stale_and_analyse_recomputes_only_its_frames(monkeypatch, tmp_path):
    nuke = start_nuke(monkeypatch)
    import bgmatte_nuke.stale

    shot = shot_copy(tmp_path / "shot")
    node = matte_node(nuke, tmp_path / "cache")
    on_copy(nuke, node, shot)
    node["last_frame"].setValue(1003)
    analyse(node)
    assert node["status"].value() == "3 of 3 frames computed" and node["stale"].value() == ""
    assert bgmatte_nuke.stale.refresh(node) == []
    # frame 1005 is only a motion cue (t + 2k) of frame 1003
    shutil.copyfile(shot / "frame.1010.exr", shot / "frame.1005.exr")
    assert bgmatte_nuke.stale.refresh(node) == ["Source"]
    assert node["stale"].value() == "stale: inputs changed since Analyse (Source): press Analyse"
    assert node["status"].value() == ("stale: inputs changed since Analyse (Source): press Analyse\n"
                                      "3 of 3 frames computed")  # the label shows [value status]
    analyse(node)
    assert node["status"].value() == "1 of 3 frames computed, 2 already in the cache"
    assert node["stale"].value() == ""
    assert bgmatte_nuke.stale.refresh(node) == []


def test_the_gui_check_notices_a_new_matte_input_and_a_changed_setting(monkeypatch, tmp_path):
    nuke = start_nuke(monkeypatch)
    shot = shot_copy(tmp_path / "shot")
    node = matte_node(nuke, tmp_path / "cache")
    on_copy(nuke, node, shot)
    node["last_frame"].setValue(1001)
    analyse(node)
    check = nuke.ui_callbacks[0]  # Nuke's updateUI callback, registered by the node's onCreate
    assert [kwargs for name, _, kwargs in nuke.calls if name == "addUpdateUI"] == [
        {"nodeClass": "bgmatte_BackgroundMatte"}]
    garbage = columns_matte(tmp_path / "garbage.1001.exr", 0, 10)
    node.setInput(3, nuke.nodes.Read(file=garbage.as_posix(), first=1001, last=1001))
    node["model"].setValue("default")
    nuke.set_this_node(node)
    check()
    assert node["stale"].value() == "stale: inputs changed since Analyse (Garbage, settings): press Analyse"
    node["model"].setValue(TEST_MODEL)
    node.setInput(3, None)
    check()  # checked again within a few seconds: not yet
    assert node["stale"].value().startswith("stale:")
    node["check_stale"].execute()  # the Check button
    assert node["stale"].value() == "" and node["status"].value() == "1 of 1 frames computed"


def test_an_analyse_that_fails_leaves_the_node_stale(monkeypatch, tmp_path):
    nuke = start_nuke(monkeypatch)
    import bgmatte_nuke.stale

    shot = shot_copy(tmp_path / "shot")
    node = matte_node(nuke, tmp_path / "cache")
    on_copy(nuke, node, shot)
    node["last_frame"].setValue(1001)
    analyse(node)
    shutil.copyfile(shot / "frame.1010.exr", shot / "frame.1001.exr")
    node["colorspace"].setValue("no such space")
    analyse(node)
    assert node["status"].value().startswith("stale: inputs changed since Analyse (Source, settings)")
    assert "failed: " in node["status"].value()
    assert bgmatte_nuke.stale.refresh(node) == ["Source", "settings"]
