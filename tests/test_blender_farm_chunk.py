"""Farm renders bake a chunk's missing mattes in one bgmatte run, in real Blender (the bpy module, headless).

The external engine is a recorder set as the add-on's bgmatte Executable: it writes its pid and
arguments to a log, then execs the real ``.venv/bin/bgmatte`` in the same process, so every start
of the core is counted and nothing else about it changes. Blender cannot be made to
cancel a render in background mode, so the cancel is driven through the installed handlers in the
order Blender calls them (render_pre, then render_cancel).
"""
from __future__ import annotations

import os
import shutil
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import read_exr
from test_blender_addon import (BGMATTE_EXE, assert_render_matches, blender_shot, cache_files,  # noqa: F401
                                extension_zip, over_background, run_blender)

ADDON = "bl_ext.user_default.bgmatte"
CHUNK = [1001, 1003, 1005]  # the scene's 1001-1005 every 2nd frame

RECORDER = '''#!{python}
import json, os, sys
with open({log!r}, "a") as log:
    log.write(json.dumps({{"pid": os.getpid(), "argv": sys.argv[1:]}}) + "\\n")
os.execv({bgmatte!r}, [{bgmatte!r}, *sys.argv[1:]])
'''

FARM_PRELUDE = '''
import importlib, os, shutil
install()

def use_recorder():
    prefs = bpy.context.preferences.addons["''' + ADDON + '''"].preferences
    prefs.engine, prefs.executable = "EXTERNAL", params["recorder"]

def runs():
    log = Path(params["log"])
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

def render_animation(name):
    """Render the scene's frames like `blender -b -a`; returns the bgmatte runs it started."""
    print(f"bgmatte-test: render {name}", flush=True)
    before = len(runs())
    scene = bpy.context.scene
    scene.render.filepath = params["render"] + name + "/comp.####"
    bpy.ops.render.render(animation=True)
    return runs()[before:]

def render_still(frame):
    """Render one frame like F12 (or each frame of `blender -b -f`); returns the bgmatte runs it started."""
    before = len(runs())
    scene = bpy.context.scene
    scene.frame_set(frame)
    scene.render.filepath = params["render"] + f"still.{frame}.exr"
    bpy.ops.render.render(write_still=True)
    return runs()[before:]

def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True

bpy.ops.wm.open_mainfile(filepath=params["blend"])
cache = Path(params["blend"]).parent / "bgmatte" / "frame"
'''


def make_recorder(folder: Path) -> tuple[Path, Path]:
    """A ``bgmatte`` that logs each start and then runs the real one: (its path, its log)."""
    script, log = folder / "bin" / "bgmatte", folder / "bgmatte_runs.jsonl"
    script.parent.mkdir()
    script.write_text(RECORDER.format(python=sys.executable, log=str(log), bgmatte=str(BGMATTE_EXE)))
    script.chmod(0o755)
    return script, log


@pytest.fixture
def recorder(tmp_path) -> tuple[Path, Path]:
    """The recording ``bgmatte`` of one test: (its path, its log)."""
    return make_recorder(tmp_path)


def saved_blend(folder: Path, extension_zip: str, shot: Path) -> Path:
    """An artist's .blend: 1001-1005 every 2nd frame, pulled and comped over a background; then the cache is emptied."""
    blend = folder / "shot.blend"
    run_blender(folder, extension_zip, '''
        install()
        scene = setup_shot(params["blend"], first=1001, last=1005)
        bpy.ops.bgmatte.pull_matte()
        background_over(scene)
        scene.frame_step = 2
        bpy.ops.wm.save_mainfile()
    ''', name="artist", blend=str(blend), shot=str(shot))
    shutil.rmtree(folder / "bgmatte" / "frame")
    return blend


def run_farm(folder: Path, extension_zip: str, body: str, **params) -> tuple[dict, str]:
    """A Blender session that opens the saved .blend with the recorder as its external bgmatte."""
    return run_blender(folder, extension_zip, FARM_PRELUDE + textwrap.dedent(body), name="farm", **params)


def frames_of(run: dict) -> str:
    """The ``--frames`` a recorded bgmatte run was given."""
    argv = run["argv"]
    return argv[argv.index("--frames") + 1]


def render_log(stdout: str, name: str) -> str:
    """The part of a session's stdout printed while ``render_animation(name)`` ran."""
    return stdout.split(f"bgmatte-test: render {name}\n", 1)[1].split("bgmatte-test: render ", 1)[0]


def assert_complete(cache: Path) -> None:
    """Every file in the cache is a whole, readable matte frame (a cancelled bake leaves no partial file)."""
    for name in cache_files(cache):
        assert name.startswith("matte.") and name.endswith(".exr"), name
        pixels, _ = read_exr(cache / name)
        assert np.isfinite(pixels).all(), name


@pytest.fixture(scope="module")
def farm_renders(tmp_path_factory, extension_zip, blender_shot) -> tuple[dict, str, Path]:
    """One farm session rendering the chunk four times: empty cache, all baked, inputs changed, all baked again.

    The cache after the first render is copied to ``first_cache``. Before the third render footage
    frame 1001 gets new pixels (frame 1002's) and frame 1005 is saved again unchanged (only its
    time moves), as a re-export of the footage would.
    """
    folder = tmp_path_factory.mktemp("farm")
    shot = shutil.copytree(blender_shot, folder / "shot")
    blend = saved_blend(folder, extension_zip, shot)
    script, log = make_recorder(folder)
    results, stdout = run_farm(folder, extension_zip, '''
        use_recorder()
        results["empty"] = render_animation("empty")
        shutil.copytree(cache, params["first_cache"])
        results["baked"] = render_animation("baked")
        shot = Path(params["shot"])
        (shot / "frame.1001.exr").write_bytes((shot / "frame.1002.exr").read_bytes())
        os.utime(shot / "frame.1005.exr")
        results["changed"] = render_animation("changed")
        results["again"] = render_animation("again")
    ''', blend=str(blend), shot=str(shot), recorder=str(script), log=str(log), render=str(folder / "render_"),
        first_cache=str(folder / "first_cache"))
    return results, stdout, folder


def test_an_animation_render_bakes_the_chunks_missing_frames_in_one_bgmatte_run(farm_renders):
    results, stdout, folder = farm_renders
    (run,) = results["empty"]
    assert run["argv"][0] == "matte"
    assert frames_of(run) == "1001-1005x2" and "--skip-existing" in run["argv"]
    log = render_log(stdout, "empty")
    assert "bgmatte: baking 3 of the render's 3 frames in one run: 1001-1005x2" in log
    for done, frame in enumerate(CHUNK, start=1):
        assert f"bgmatte: frame {frame} done {done}/3" in log
    assert cache_files(folder / "first_cache") == [f"matte.{frame}.exr" for frame in CHUNK]


def test_each_frame_composites_the_matte_baked_for_it_during_the_render(farm_renders):
    _, _, folder = farm_renders
    for frame in CHUNK:
        matte, _ = read_exr(folder / "first_cache" / f"matte.{frame}.exr")
        assert_render_matches(folder / "render_empty" / f"comp.{frame}.exr", over_background(matte))


def test_a_render_whose_frames_are_all_baked_starts_no_bgmatte(farm_renders):
    results, stdout, _ = farm_renders
    assert results["baked"] == [] and "bgmatte: frame" not in render_log(stdout, "baked")
    assert results["again"] == [], "frames the core re-checked and kept count as current afterwards"


def test_frames_whose_inputs_are_newer_than_their_matte_are_baked_again_in_one_run(farm_renders):
    results, stdout, folder = farm_renders
    (run,) = results["changed"]
    # 1001 changed, 1003 reads it as a motion cue, 1005 was saved again: the core re-checks all three
    assert frames_of(run) == "1001-1005x2"
    log = render_log(stdout, "changed")
    assert "bgmatte: frame 1001 done 1/3" in log and "bgmatte: frame 1005 skipped 3/3" in log
    new, _ = read_exr(folder / "bgmatte" / "frame" / "matte.1001.exr")
    old, _ = read_exr(folder / "first_cache" / "matte.1001.exr")
    assert np.abs(new - old).max() > 0.05, "frame 1001's footage changed, so must its matte"
    assert_render_matches(folder / "render_changed" / "comp.1001.exr", over_background(new))


def test_frames_listed_on_blenders_command_line_are_baked_in_one_run_across_their_renders(
        tmp_path, extension_zip, blender_shot, recorder):
    blend = saved_blend(tmp_path, extension_zip, blender_shot)
    script, log = recorder
    results, _ = run_farm(tmp_path, extension_zip, '''
        use_recorder()
        chunk = importlib.import_module("''' + ADDON + '''.chunk")
        results["parsed"] = chunk.command_line_frames(
            ["blender", "-b", "shot.blend", "-f", "+1,-1,1003..1004", "--", "-f", "1"], 1001, 1005)
        results["with -a"] = chunk.command_line_frames(["blender", "-b", "shot.blend", "-f", "1001", "-a"], 1001, 1005)
        # Blender's sys.argv is its command line; `-f 1001..1003` renders each frame as a render of its own
        sys.argv = ["blender", "-b", params["blend"], "-f", "1001..1003"]
        results["listed"] = [render_still(frame) for frame in (1001, 1002, 1003)]
        results["listed cache"] = sorted(p.name for p in cache.iterdir())
        sys.argv = [sys.argv[0]]
        shutil.rmtree(cache)
        (still,) = render_still(1004)
        results["still"] = still
        results["still alive after its render"] = alive(still["pid"])
    ''', blend=str(blend), recorder=str(script), log=str(log), render=str(tmp_path / "render_"))
    assert results["parsed"] == [1002, 1003, 1004, 1005]
    assert results["with -a"] is None
    first, *later = results["listed"]
    assert [frames_of(run) for run in first] == ["1001-1003"] and later == [[], []]
    assert results["listed cache"] == ["matte.1001.exr", "matte.1002.exr", "matte.1003.exr"]
    assert frames_of(results["still"]) == "1004-1005", "a still render does not know it is one: it bakes ahead"
    assert not results["still alive after its render"], "and stops the bake when it ends"
    cache = tmp_path / "bgmatte" / "frame"
    assert "matte.1004.exr" in cache_files(cache)
    assert_complete(cache)


def test_a_cancelled_render_and_blenders_exit_stop_the_bake_keeping_only_complete_frames(
        tmp_path, extension_zip, blender_shot, recorder):
    blend = saved_blend(tmp_path, extension_zip, blender_shot)
    script, log = recorder
    results, stdout = run_farm(tmp_path, extension_zip, '''
        use_recorder()
        names = {"render_pre": "bake_render_chunk", "render_cancel": "cancel_render"}
        handler = lambda kind: next(h for h in getattr(bpy.app.handlers, kind) if h.__name__ == names[kind])
        scene = bpy.context.scene
        scene.frame_step = 1
        scene.frame_set(1001)
        handler("render_pre")(scene)
        (run,) = runs()
        results["cancelled"] = {"run": run, "alive before": alive(run["pid"])}
        handler("render_cancel")(scene)
        results["cancelled"]["alive after"] = alive(run["pid"])
        results["cancelled"]["cache"] = sorted(p.name for p in cache.iterdir())
        shutil.rmtree(cache)
        handler("render_pre")(scene)
        results["exit pid"] = runs()[-1]["pid"]
        results["alive when the script ends"] = alive(results["exit pid"])
    ''', blend=str(blend), recorder=str(script), log=str(log), render=str(tmp_path / "render_"))
    cancelled = results["cancelled"]
    assert frames_of(cancelled["run"]) == "1001-1005" and cancelled["alive before"]
    assert not cancelled["alive after"], "render_cancel stops bgmatte and waits for it"
    assert "matte.1001.exr" in cancelled["cache"] and len(cancelled["cache"]) < 5, cancelled
    assert "bgmatte: cancelled; " in stdout and "(render cancelled)" in stdout
    assert results["alive when the script ends"]
    with pytest.raises(ProcessLookupError):
        os.kill(results["exit pid"], 0)
    assert_complete(tmp_path / "bgmatte" / "frame")


def test_in_blenders_python_a_render_loads_the_model_once_and_runs_the_core_once(
        tmp_path, extension_zip, blender_shot):
    blend = saved_blend(tmp_path, extension_zip, blender_shot)
    results, _ = run_farm(tmp_path, extension_zip, '''
        from bgmatte.api import Matter
        calls = {"models": 0, "runs": []}
        load, run = Matter.__init__, Matter.matte_sequence
        def counted_load(self, *args, **kwargs):
            calls["models"] += 1
            load(self, *args, **kwargs)
        def counted_run(self, *args, **kwargs):
            calls["runs"].append(kwargs["frames"])
            return run(self, *args, **kwargs)
        Matter.__init__, Matter.matte_sequence = counted_load, counted_run
        render_animation("in_process")
        results.update(calls)
        results["cache"] = sorted(p.name for p in cache.iterdir())
    ''', blend=str(blend), log=str(tmp_path / "unused.jsonl"), render=str(tmp_path / "render_"))
    assert results["models"] == 1 and results["runs"] == ["1001-1005x2"]
    assert results["cache"] == [f"matte.{frame}.exr" for frame in CHUNK]
