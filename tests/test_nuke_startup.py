"""Specification of nuke_gizmo/init.py and menu.py, run against the recording `nuke` stand-in."""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

import nuke_standin

NUKE_FOLDER = Path(__file__).resolve().parents[1] / "nuke_gizmo"
UI_WORDS = ("menu", "toolbar", "addCommand", "message", "ask")


def test_init_only_adds_the_gizmo_folder_to_the_plugin_path(monkeypatch):
    nuke = nuke_standin.install(monkeypatch, NUKE_FOLDER)
    runpy.run_path(str(NUKE_FOLDER / "init.py"))
    assert [name for name, _, _ in nuke.calls] == ["pluginAddPath"]
    assert nuke.plugin_paths == [(NUKE_FOLDER / "gizmos").as_posix()]
    assert not any(word in name for name, _, _ in nuke.calls for word in UI_WORDS)


def test_menu_adds_background_matte_to_the_nodes_toolbar_as_a_callable(monkeypatch):
    nuke = nuke_standin.install(monkeypatch, NUKE_FOLDER)
    runpy.run_path(str(NUKE_FOLDER / "init.py"))
    runpy.run_path(str(NUKE_FOLDER / "menu.py"))
    added = [(args, kwargs) for name, args, kwargs in nuke.calls if name == "menu(Nodes).addCommand"]
    assert len(added) == 1
    (label, command), _ = added[0]
    assert label == "bgmatte/Background Matte"
    assert callable(command) and command.__module__ == "bgmatte_nuke.node"


def test_the_menu_command_creates_the_gizmo_found_through_init(monkeypatch):
    nuke = nuke_standin.install(monkeypatch, NUKE_FOLDER)
    runpy.run_path(str(NUKE_FOLDER / "init.py"))
    import bgmatte_nuke.node

    node = bgmatte_nuke.node.create()
    assert node.Class() == "bgmatte_BackgroundMatte"
    assert node.node("BGM_CacheRead").Class() == "Read"


def test_the_nuke_package_imports_without_the_bgmatte_core(monkeypatch):
    nuke_standin.install(monkeypatch, NUKE_FOLDER)
    monkeypatch.setitem(sys.modules, "bgmatte", None)  # any import of bgmatte now fails
    import bgmatte_nuke.node
    import bgmatte_nuke.render_check
    import bgmatte_nuke.runner

    assert bgmatte_nuke.runner.core_importable() is False
