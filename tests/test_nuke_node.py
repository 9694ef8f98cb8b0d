"""Specification of the Background Matte node's Python: Analyse renders inputs, runs the core, reloads.

Runs against the `nuke` stand-in (tests/nuke_standin.py): upstream Reads of the sample shot stand in
for the comp, temporary Writes "render" by copying their frames, and the matte is the real core's.
"""
from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

import nuke_standin
from conftest import TEST_MODEL, channel, read_exr

ROOT = Path(__file__).resolve().parents[1]
NUKE_FOLDER = ROOT / "nuke_gizmo"
SHOT = ROOT / "samples" / "shot"
FRAMES = (1001, 1002)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def start_nuke(monkeypatch, gui: bool = True):
    """The stand-in with the Nuke folder installed (init.py run) and a script range of FRAMES."""
    monkeypatch.delenv("OCIO", raising=False)  # the script's colour, not the environment's
    nuke = nuke_standin.install(monkeypatch, NUKE_FOLDER, gui=gui)
    runpy.run_path(str(NUKE_FOLDER / "init.py"))
    nuke.root()["first_frame"].setValue(FRAMES[0])
    nuke.root()["last_frame"].setValue(FRAMES[1])
    return nuke


def matte_node(nuke, cache: Path, roto: bool = False):
    """A Background Matte node on the sample shot, with the tiny model and a cache in ``cache``."""
    import bgmatte_nuke.node

    node = bgmatte_nuke.node.create()
    node["model"].setValue(TEST_MODEL)
    node["cache"].setValue(cache.as_posix())
    shot = {"first": 1001, "last": 1012}
    node.setInput(0, nuke.nodes.Read(file=(SHOT / "frame.####.exr").as_posix(), **shot))
    node.setInput(1, nuke.nodes.Read(file=(SHOT / "clean.exr").as_posix(), **shot))
    if roto:
        node.setInput(2, nuke.nodes.Read(file=(SHOT / "alpha.####.exr").as_posix(), **shot))
    return node


def analyse(node):
    """Press Analyse and wait for the worker thread."""
    import bgmatte_nuke.node

    worker = bgmatte_nuke.node.analyse(node)
    worker.join(timeout=120)
    assert not worker.is_alive()


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """One Analyse of the sample shot's first frames in the GUI: (stand-in, node, cache folder)."""
    cache = tmp_path_factory.mktemp("nuke") / "cache"
    with pytest.MonkeyPatch.context() as monkeypatch:
        nuke = start_nuke(monkeypatch)
        node = matte_node(nuke, cache)
        analyse(node)
        yield nuke, node, cache


def test_creating_the_node_takes_colour_and_frame_range_from_the_script(monkeypatch):
    nuke = start_nuke(monkeypatch)
    import bgmatte_nuke.node

    node = bgmatte_nuke.node.create()
    assert nuke.frame_callbacks  # the render check is armed
    assert node["colorspace"].value() == "ACES - ACEScg"  # the script's OCIO working space
    assert (node["first_frame"].value(), node["last_frame"].value()) == FRAMES
    assert node["cache"].value().startswith("[file dirname [value root.name]]")  # unsaved script: kept


def test_analyse_writes_premultiplied_rgba_with_fg_and_shadow_layers(analysed):
    _, _, cache = analysed
    assert sorted(p.name for p in (cache / "matte").iterdir()) == ["matte.1001.exr", "matte.1002.exr"]
    pixels, spec = read_exr(cache / "matte" / "matte.1002.exr")
    assert {"R", "G", "B", "A", "fg.R", "fg.G", "fg.B", "shadow.Y"} <= set(spec.channelnames)
    alpha = channel(pixels, spec, "A")
    assert 0.0 <= alpha.min() and alpha.max() <= 1.0
    solid = alpha > 0.1  # premultiplied: RGB = alpha * the straight colour of the fg layer
    assert solid.any()
    for name in "RGB":
        premult, straight = channel(pixels, spec, name), channel(pixels, spec, f"fg.{name}")
        np.testing.assert_allclose(premult[solid], (alpha * straight)[solid], rtol=2e-3, atol=2e-3)


def test_analyse_reports_progress_reloads_the_output_and_cleans_up(analysed):
    nuke, node, cache = analysed
    assert node["status"].value() == "2 of 2 frames computed"
    assert node["cache"].value() == cache.as_posix()
    assert node.node("BGM_CacheRead")["reload"].executed == 1
    assert nuke.ProgressTask.instances[-1].progress == [50, 100]
    assert not [n for n in nuke.all_nodes if n.Class() == "Write"]  # temporary Writes are gone
    assert sorted(p.name for p in (cache / "plate").iterdir()) == ["plate.exr"]  # a still plate, once
    rendered = sorted(p.name for p in (cache / "source").iterdir())
    assert rendered == [f"source.{f:04d}.exr" for f in range(999, 1005)]  # 2 x motion gap handles


def test_analyse_gives_the_pixels_of_bgmatte_matte_on_the_whole_shot(analysed, tmp_path):
    from bgmatte import Matter
    from bgmatte.settings import MatteSettings

    _, _, cache = analysed
    settings = MatteSettings(colorspace="ACEScg", layers=("fg", "shadow"))
    Matter(model=TEST_MODEL, device="cpu").matte_sequence(
        str(SHOT / "frame.####.exr"), str(SHOT / "clean.exr"), str(tmp_path / "m.####.exr"),
        frames="1001-1002", settings=settings)
    for frame in FRAMES:
        ours, spec = read_exr(cache / "matte" / f"matte.{frame}.exr")
        direct, direct_spec = read_exr(tmp_path / f"m.{frame}.exr")
        for name in ("R", "G", "B", "A"):
            assert np.array_equal(channel(ours, spec, name), channel(direct, direct_spec, name))


def test_analysing_again_keeps_the_frames_already_in_the_cache(monkeypatch, tmp_path):
    nuke = start_nuke(monkeypatch)
    node = matte_node(nuke, tmp_path / "cache")
    node["last_frame"].setValue(1001)
    analyse(node)
    before = (tmp_path / "cache" / "matte" / "matte.1001.exr").stat().st_mtime_ns
    analyse(node)
    assert node["status"].value() == "0 of 1 frames computed, 1 already in the cache"
    assert (tmp_path / "cache" / "matte" / "matte.1001.exr").stat().st_mtime_ns == before


def test_a_roto_input_is_rendered_and_used_as_the_segmentation(monkeypatch, tmp_path):
    nuke = start_nuke(monkeypatch)
    node = matte_node(nuke, tmp_path / "cache", roto=True)
    node["last_frame"].setValue(1001)
    analyse(node)
    assert (tmp_path / "cache" / "roto" / "roto.1001.exr").is_file()
    _, spec = read_exr(tmp_path / "cache" / "matte" / "matte.1001.exr")
    roto = (tmp_path / "cache" / "roto" / "roto.####.exr").as_posix()
    assert f'"seg":"{roto}"' in spec.getattribute("bgmatte:settings")


def test_cancelling_the_progress_task_keeps_only_complete_frames(monkeypatch, tmp_path):
    nuke = start_nuke(monkeypatch)
    node = matte_node(nuke, tmp_path / "cache")
    nuke.ProgressTask.cancel_after = 1
    analyse(node)
    assert sorted(p.name for p in (tmp_path / "cache" / "matte").iterdir()) == ["matte.1001.exr"]
    assert node["status"].value() == "1 of 2 frames computed (cancelled)"


def test_a_missing_clean_plate_is_reported_and_nothing_is_rendered(monkeypatch, tmp_path):
    nuke = start_nuke(monkeypatch)
    import bgmatte_nuke.node

    node = matte_node(nuke, tmp_path / "cache")
    node.setInput(1, None)
    assert bgmatte_nuke.node.analyse(node) is None
    assert nuke.messages == ["bgmatte: CleanPlate: is not connected"]
    assert not any(name.startswith("execute") for name, _, _ in nuke.calls)
    assert not (tmp_path / "cache").exists()


def test_an_unsaved_script_without_a_cache_folder_is_told_to_set_one(monkeypatch):
    nuke = start_nuke(monkeypatch)
    import bgmatte_nuke.node

    node = matte_node(nuke, Path("relative/cache"))
    assert bgmatte_nuke.node.analyse(node) is None
    assert nuke.messages[0].startswith("bgmatte: cache folder: must be an absolute path")


def test_bgmatte_errors_come_back_as_a_message_not_a_traceback(monkeypatch, tmp_path):
    nuke = start_nuke(monkeypatch)
    node = matte_node(nuke, tmp_path / "cache")
    node["colorspace"].setValue("no such space")
    node["last_frame"].setValue(1001)
    analyse(node)
    assert "unknown colourspace 'no such space'" in nuke.messages[0]
    assert node["status"].value().startswith("failed: ")


def test_without_a_gui_analyse_runs_in_the_calling_thread(monkeypatch, tmp_path):
    nuke = start_nuke(monkeypatch, gui=False)
    import bgmatte_nuke.node

    node = matte_node(nuke, tmp_path / "cache")
    node["last_frame"].setValue(1001)
    result = bgmatte_nuke.node.analyse(node)
    assert result.exit_code == 0 and result.done == 1
    assert not nuke.ProgressTask.instances and not nuke.messages


def test_the_headless_analyse_script_analyses_every_matte_node(monkeypatch, tmp_path, capsys):
    nuke = start_nuke(monkeypatch, gui=False)
    from bgmatte_nuke.analyse_script import main

    for name in ("a", "b"):
        node = matte_node(nuke, tmp_path / name)
        node["last_frame"].setValue(1001)
    assert main([str(tmp_path / "shot.nk")]) == 0
    assert ("scriptOpen", (str(tmp_path / "shot.nk"),), {}) in nuke.calls
    assert (tmp_path / "a" / "matte" / "matte.1001.exr").is_file() and (tmp_path / "b" / "matte" / "matte.1001.exr").is_file()
    assert capsys.readouterr().err.endswith("bgmatte: analysed 2 of 2 Background Matte nodes\n")


def test_the_headless_analyse_script_fails_when_a_node_cannot_be_analysed(monkeypatch, tmp_path):
    nuke = start_nuke(monkeypatch, gui=False)
    from bgmatte_nuke.analyse_script import main

    matte_node(nuke, tmp_path / "cache").setInput(0, None)
    assert main([str(tmp_path / "shot.nk")]) == 1
