"""Specification of command-line and GUI renders with a Background Matte node: missing mattes stop them.

Policy: renders never compute mattes; before each frame a Write renders, the Background Matte
nodes upstream must have that frame in their cache, else the render stops with a message.
"""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest

import nuke_standin

NUKE_FOLDER = Path(__file__).resolve().parents[1] / "nuke_gizmo"


@pytest.fixture
def comp(monkeypatch, tmp_path):
    """A script Read -> Background Matte (cache in tmp_path, frames 1001-1003) -> Write; thisNode = the Write."""
    nuke = nuke_standin.install(monkeypatch, NUKE_FOLDER)
    runpy.run_path(str(NUKE_FOLDER / "init.py"))
    import bgmatte_nuke.node

    node = bgmatte_nuke.node.create()
    node["cache"].setValue((tmp_path / "cache").as_posix())
    node["first_frame"].setValue(1001)
    node["last_frame"].setValue(1003)
    write = nuke.nodes.Write(file=(tmp_path / "comp.####.exr").as_posix())
    write.setInput(0, node)
    nuke.set_this_node(write)
    return nuke, node, tmp_path / "cache" / "matte"


def cache_frames(folder: Path, *frames: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for frame in frames:
        (folder / f"matte.{frame}.exr").write_bytes(b"stand-in")


def test_loading_the_node_arms_one_check_per_frame_for_write_nodes(comp):
    nuke, _, _ = comp
    import bgmatte_nuke.node

    bgmatte_nuke.node.create()  # a second node does not add a second callback
    registered = [kwargs for name, _, kwargs in nuke.calls if name == "addBeforeFrameRender"]
    assert registered == [{"nodeClass": "Write"}]


def test_a_missing_matte_frame_stops_the_render_with_what_to_do(comp):
    nuke, node, matte = comp
    cache_frames(matte, 1001)
    nuke.set_frame(1002)
    with pytest.raises(RuntimeError) as stopped:
        nuke.frame_callbacks[0]()
    assert str(stopped.value) == (
        f"bgmatte: {node.name()}: matte frame 1002 is not in the cache ({(matte / 'matte.1002.exr').as_posix()}); "
        "press Analyse on the node before rendering (renders never compute mattes)")


def test_a_cached_frame_renders(comp):
    nuke, _, matte = comp
    cache_frames(matte, 1001, 1002, 1003)
    nuke.set_frame(1002)
    nuke.frame_callbacks[0]()


def test_frames_outside_the_node_range_need_its_held_first_or_last_frame(comp):
    nuke, _, matte = comp
    cache_frames(matte, 1003)
    nuke.set_frame(1010)
    nuke.frame_callbacks[0]()
    nuke.set_frame(990)
    with pytest.raises(RuntimeError, match="matte frame 1001 is not in the cache"):
        nuke.frame_callbacks[0]()


def test_a_disabled_node_is_not_checked(comp):
    nuke, node, _ = comp
    node["disable"].setValue(True)
    nuke.frame_callbacks[0]()


def test_writes_not_downstream_of_the_node_are_not_checked(comp, tmp_path):
    nuke, _, _ = comp
    other = nuke.nodes.Write(file=(tmp_path / "other.####.exr").as_posix())
    other.setInput(0, nuke.nodes.Read(file=(tmp_path / "plate.####.exr").as_posix()))
    nuke.set_this_node(other)
    nuke.frame_callbacks[0]()
