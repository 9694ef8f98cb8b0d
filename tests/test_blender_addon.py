"""The Blender add-on in real Blender (the bpy 5.0 module, headless).

Each test runs one Blender session in its own subprocess (bpy imports once per process) with
Blender's user folders in a temp dir, installs the built extension zip with Blender's own
installer, and writes what it saw to a JSON file; the pixels it rendered are compared here with
the core's own output composited over the same background. The modal (interactive) path needs a
window and cannot run headless: its job layer, with cancel, is tested directly.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bgmatte.api import Matter
from bgmatte.data.synthetic_shot import ShotRecipe, make_shot
from bgmatte.settings import MatteSettings
from conftest import TEST_MODEL, channel, read_exr, write_exr, write_garbage_outside_subject

ROOT = Path(__file__).resolve().parents[1]
BGMATTE_EXE = Path(sys.executable).with_name("bgmatte")
BACKGROUND = (0.2, 0.5, 0.1)
WORKING_SPACE = "Linear Rec.709"
# Renders read the same half-float cache the core wrote; only float rounding of the comp differs.
PIXEL_TOLERANCE = 2e-3

PRELUDE = '''
import json, sys, time
from pathlib import Path
import bpy

params = json.loads(Path(sys.argv[1]).read_text())
results = {}

def install():
    bpy.ops.extensions.package_install_files(filepath=params["zip"], repo="user_default", enable_on_install=True)

def setup_shot(blend, colorspace="ACEScg", first=1001, last=1002, plate="clean.exr", garbage=None):
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end, scene.frame_current = first, last, first
    render = scene.render
    render.resolution_x, render.resolution_y, render.resolution_percentage = 96, 64, 100
    render.image_settings.file_format = "OPEN_EXR"
    render.image_settings.color_depth = "32"
    footage = bpy.data.images.load(params["shot"] + "/frame.1001.exr")
    footage.source = "SEQUENCE"
    footage.colorspace_settings.name = colorspace
    clean = bpy.data.images.load(params["shot"] + "/" + plate)
    clean.colorspace_settings.name = colorspace
    settings = scene.bgmatte
    settings.footage, settings.plate, settings.model = footage, clean, "tiny"
    if garbage:
        settings.garbage = bpy.data.images.load(garbage.replace("####", str(first)))
        settings.garbage.source = "SEQUENCE"
    bpy.ops.wm.save_as_mainfile(filepath=blend)
    return scene

def background_over(scene):
    """Plug a flat new background into the add-on's Alpha Over."""
    tree = scene.compositing_node_group
    colour = tree.nodes.new("CompositorNodeRGB")
    colour.outputs[0].default_value = (*params["background"], 1.0)
    tree.links.new(colour.outputs[0], tree.nodes["bgmatte Alpha Over"].inputs["Background"])

def render_socket(scene, socket, path):
    """Render the current frame with ``socket`` of the matte group as the compositor's output."""
    tree = scene.compositing_node_group
    output = next(n for n in tree.nodes if n.bl_idname == "NodeGroupOutput")
    link = output.inputs[0].links[0]
    source = link.from_socket
    tree.links.new(tree.nodes["bgmatte Background Matte"].outputs[socket], output.inputs[0])
    scene.render.filepath = path
    bpy.ops.render.render(write_still=True)
    tree.links.new(source, output.inputs[0])

def tree_summary(scene):
    tree = scene.compositing_node_group
    group_node = tree.nodes["bgmatte Background Matte"]
    group = group_node.node_tree
    read = group.nodes["bgmatte Matte Sequence"]
    image = scene.bgmatte.matte_image
    return {
        "nodes": sorted(n.bl_idname for n in tree.nodes),
        "links": sorted(f"{l.from_node.name}.{l.from_socket.name}->{l.to_node.name}.{l.to_socket.name}"
                        for l in tree.links),
        "group": group.name,
        "group_outputs": [s.name for s in group_node.outputs],
        "group_links": sorted(f"{l.from_socket.name}->{l.to_socket.name}" for l in group.links),
        "image": {"source": image.source, "filepath": image.filepath, "colorspace": image.colorspace_settings.name,
                  "alpha_mode": image.alpha_mode, "node_image": read.image == image},
        "frames": [read.frame_start, read.frame_offset, read.frame_duration],
        "working_space": bpy.data.colorspace.working_space,
    }

def finish():
    Path(params["result"]).write_text(json.dumps(results))
'''


def blender_env(home: Path) -> dict[str, str]:
    """The environment of a Blender session whose user folders all live under ``home``."""
    env = dict(os.environ)
    for name in ("RESOURCES", "CONFIG", "SCRIPTS", "EXTENSIONS"):
        env[f"BLENDER_USER_{name}"] = str(home / name.lower())
    env["HOME"] = str(home)
    env.pop("OCIO", None)
    return env


def run_blender(tmp_path: Path, extension: str, body: str, name: str = "session", expect_exit: int = 0,
                **params) -> tuple[dict, str]:
    """Run PRELUDE + ``body`` in a fresh Python with bpy (``extension`` = the zip to install).

    Returns:
        The session's ``results`` dict (empty when the session is expected to exit early) and its
        stdout, or its stderr when ``expect_exit`` is not 0.
    """
    script = tmp_path / f"{name}.py"
    script.write_text(PRELUDE + textwrap.dedent(body) + "\nfinish()\n")
    result_file = tmp_path / f"{name}.json"
    params = {"result": str(result_file), "background": BACKGROUND, "zip": extension, **params}
    params_file = tmp_path / f"{name}.params.json"
    params_file.write_text(json.dumps(params))
    done = subprocess.run([sys.executable, str(script), str(params_file)], env=blender_env(tmp_path / "home"),
                          capture_output=True, text=True, timeout=300)
    if expect_exit:
        assert done.returncode == expect_exit, done.stdout[-4000:] + done.stderr[-4000:]
        return {}, done.stderr
    assert done.returncode == 0 and result_file.exists(), done.stdout[-4000:] + done.stderr[-4000:]
    return json.loads(result_file.read_text()), done.stdout


@pytest.fixture(scope="module")
def extension_zip(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, str(ROOT / "blender_addon" / "build_extension.py"), "--output-dir",
                           str(out)], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture(scope="module")
def blender_shot(tmp_path_factory) -> Path:
    """A 96x64, 6-frame ACEScg shot (1001-1006) with a cast shadow, and a plate of the wrong size.

    The frames' data window is a crop at (4, 2), as renders with a border have: Blender would drop
    that offset, so the cache must be written on the display window.
    """
    out = tmp_path_factory.mktemp("blender_shot")
    make_shot(out, ShotRecipe(width=96, height=64, count=6, strands=12, shadow=0.4, seed=5, speed=3.0))
    for path in out.glob("frame.*.exr"):
        pixels, _ = read_exr(path)
        write_exr(path, pixels[2:62, 4:92], origin=(4, 2), display=(0, 0, 96, 64))
    write_exr(out / "small_clean.exr", np.full((32, 48, 3), 0.18, np.float32))
    return out


def core_matte(shot: Path, out: Path, colorspace: str, ocio: str, frames: str, garbage: str | None = None) -> Path:
    """The core's own matte of the shot, with the settings the add-on uses; returns the folder."""
    settings = MatteSettings(colorspace=colorspace, output_colorspace=WORKING_SPACE, ocio=ocio,
                             layers=("fg", "shadow"), flatten=True, garbage=garbage)
    report = Matter(model=TEST_MODEL, device="cpu").matte_sequence(
        str(shot / "frame.####.exr"), str(shot / "clean.exr"), str(out / "matte.####.exr"), frames=frames,
        settings=settings)
    assert report.exit_code == 0
    return out


def over_background(matte: np.ndarray) -> np.ndarray:
    """Premultiplied RGBA over the flat background: RGB = premult + (1 - alpha) * background."""
    return matte[..., :3] + (1 - matte[..., 3:4]) * np.asarray(BACKGROUND, np.float32)


def assert_render_matches(render: Path, expected_rgb: np.ndarray) -> None:
    pixels, _ = read_exr(render)
    error = np.abs(pixels[..., :3] - expected_rgb)
    assert error.max() < PIXEL_TOLERANCE, f"max error {error.max():.5f} at {np.unravel_index(error.argmax(), error.shape)}"


def cache_files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def test_zip_installs_and_registers_operator_panel_preferences_and_render_handlers(tmp_path, extension_zip):
    results, _ = run_blender(tmp_path, extension_zip, '''
        install()
        import addon_utils
        modules = [m for m in bpy.context.preferences.addons.keys() if "bgmatte" in m]
        results["modules"] = modules
        results["idname"] = bpy.ops.bgmatte.pull_matte.idname()
        panel = bpy.types.BGMATTE_PT_background_matte
        results["panel"] = [panel.bl_space_type, panel.bl_region_type, panel.bl_category, panel.bl_label,
                            panel.__module__]
        prefs = bpy.context.preferences.addons[modules[0]].preferences
        results["preferences"] = [type(prefs).bl_idname, prefs.engine, prefs.executable]
        settings = bpy.context.scene.bgmatte
        results["defaults"] = [settings.model, settings.device, settings.use_scene_range, settings.cache_folder]
        lists = ("render_pre", "render_complete", "render_cancel", "load_pre")
        handlers = lambda: {name: [h.__name__ for h in getattr(bpy.app.handlers, name)] for name in lists}
        results["handlers"] = handlers()
        bpy.ops.preferences.addon_disable(module=modules[0])
        results["after_disable"] = [hasattr(bpy.types.Scene, "bgmatte"),
                                    hasattr(bpy.types, "BGMATTE_PT_background_matte"), handlers()]
    ''')
    module = "bl_ext.user_default.bgmatte"
    assert results["modules"] == [module]
    assert results["idname"] == "BGMATTE_OT_pull_matte"
    assert results["panel"] == ["NODE_EDITOR", "UI", "bgmatte", "Background Matte", f"{module}.panel"]
    assert results["preferences"] == [module, "AUTO", ""]
    assert results["defaults"] == ["default", "auto", True, "//bgmatte/{footage}/"]
    ours = {"render_pre": "bake_render_chunk", "render_complete": "end_render", "render_cancel": "cancel_render",
            "load_pre": "stop_all"}
    assert all(ours[name] in handlers for name, handlers in results["handlers"].items()), results["handlers"]
    assert results["after_disable"] == [False, False, {name: [h for h in handlers if h != ours[name]]
                                                       for name, handlers in results["handlers"].items()}]


def test_pull_in_blenders_python_bakes_layers_wires_the_group_and_renders_the_core_pixels(
        tmp_path, extension_zip, blender_shot):
    garbage = write_garbage_outside_subject(blender_shot, tmp_path / "garbage")
    results, stdout = run_blender(tmp_path, extension_zip, '''
        install()
        scene = setup_shot(params["blend"], colorspace="ACEScg", garbage=params["garbage"])
        results["returned"] = sorted(bpy.ops.bgmatte.pull_matte())
        results["tree"] = tree_summary(scene)
        cache = Path(params["blend"]).parent / "bgmatte" / "frame"
        stamps = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
        results["again"] = sorted(bpy.ops.bgmatte.pull_matte())
        results["rewritten"] = [p.name for p in cache.iterdir() if p.stat().st_mtime_ns != stamps.get(p.name)]
        results["tree_again"] = tree_summary(scene)
        background_over(scene)
        scene.frame_set(1002)
        for socket in ("Foreground", "Shadow"):
            render_socket(scene, socket, params["render"] + socket + ".exr")
        scene.render.filepath = params["render"] + "comp.exr"
        bpy.ops.render.render(write_still=True)
    ''', blend=str(tmp_path / "shot.blend"), shot=str(blender_shot), render=str(tmp_path / "render_"),
        garbage=garbage)
    assert results["returned"] == ["FINISHED"]
    assert "bgmatte: frame 1002 done 2/2" in stdout
    assert results["again"] == ["FINISHED"] and "bgmatte: frame 1002 skipped 2/2" in stdout
    assert results["rewritten"] == [], "pulling again keeps complete frames made with the same settings"
    assert results["tree_again"] == results["tree"], "pulling again rebuilds the same tree, no duplicates"

    cache = tmp_path / "bgmatte" / "frame"
    assert cache_files(cache) == ["matte.1001.exr", "matte.1002.exr"]
    matte, spec = read_exr(cache / "matte.1002.exr")
    assert set(spec.channelnames) == {"R", "G", "B", "A", "fg.R", "fg.G", "fg.B", "shadow.Y"}
    assert (spec.x, spec.y, spec.width, spec.height) == (0, 0, 96, 64), "flattened onto the display window"
    assert spec.get_string_attribute("bgmatte:input_colorspace") == "ACEScg"
    assert spec.get_string_attribute("bgmatte:colorspace") == WORKING_SPACE
    blender_ocio = spec.get_string_attribute("bgmatte:ocio_config")
    assert Path(blender_ocio).parts[-3:] == ("datafiles", "colormanagement", "config.ocio")

    tree = results["tree"]
    assert tree["working_space"] == WORKING_SPACE
    assert tree["group"] == "Background Matte"
    assert tree["group_outputs"] == ["Image", "Alpha", "Foreground", "Shadow"]
    assert tree["group_links"] == ["Alpha->Alpha", "Combined->Image", "fg->Foreground", "shadow->Shadow"]
    assert tree["image"] == {"source": "SEQUENCE", "filepath": "//bgmatte/frame/matte.1001.exr",
                             "colorspace": WORKING_SPACE, "alpha_mode": "PREMUL", "node_image": True}
    assert tree["frames"] == [1001, 1000, 2]
    assert "bgmatte Background Matte.Image->bgmatte Alpha Over.Foreground" in tree["links"]
    assert "bgmatte Alpha Over.Image->Group Output.Image" in tree["links"]

    expected = read_exr(core_matte(blender_shot, tmp_path / "core", "ACEScg", blender_ocio, "1001-1002", garbage)
                        / "matte.1002.exr")
    core_pixels, core_spec = expected
    np.testing.assert_allclose(matte, core_pixels[..., [list(core_spec.channelnames).index(c)
                                                        for c in spec.channelnames]], atol=PIXEL_TOLERANCE)
    assert_render_matches(tmp_path / "render_comp.exr", over_background(matte))
    straight = np.stack([channel(matte, spec, c) for c in ("fg.R", "fg.G", "fg.B")], axis=-1)
    assert_render_matches(tmp_path / "render_Foreground.exr", straight)
    shadow = np.repeat(channel(matte, spec, "shadow.Y")[..., None], 3, axis=-1)
    assert_render_matches(tmp_path / "render_Shadow.exr", shadow)
    assert shadow.max() > 0.05, "the shot casts a shadow: the Shadow output must carry it"


def test_pull_through_external_bgmatte_streams_progress_and_honours_linear_rec709_footage(
        tmp_path, extension_zip, blender_shot):
    results, stdout = run_blender(tmp_path, extension_zip, '''
        install()
        prefs = bpy.context.preferences.addons["bl_ext.user_default.bgmatte"].preferences
        prefs.engine, prefs.executable = "EXTERNAL", params["exe"]
        scene = setup_shot(params["blend"], colorspace="Linear Rec.709")
        results["returned"] = sorted(bpy.ops.bgmatte.pull_matte())
        results["bgmatte_imported"] = "bgmatte" in sys.modules
        background_over(scene)
        scene.frame_set(1001)
        scene.render.filepath = params["render"]
        bpy.ops.render.render(write_still=True)
    ''', blend=str(tmp_path / "shot.blend"), shot=str(blender_shot), render=str(tmp_path / "comp.exr"),
        exe=str(BGMATTE_EXE))
    assert results["returned"] == ["FINISHED"]
    assert not results["bgmatte_imported"], "the external engine must not import the core into Blender"
    assert "bgmatte: frame 1001 done 1/2" in stdout and "bgmatte: frame 1002 done 2/2" in stdout

    cache = tmp_path / "bgmatte" / "frame"
    matte, spec = read_exr(cache / "matte.1001.exr")
    assert spec.get_string_attribute("bgmatte:input_colorspace") == "Linear Rec.709"
    core_pixels, core_spec = read_exr(core_matte(blender_shot, tmp_path / "core", "Linear Rec.709",
                                                 spec.get_string_attribute("bgmatte:ocio_config"), "1001")
                                      / "matte.1001.exr")
    order = [list(core_spec.channelnames).index(c) for c in spec.channelnames]
    np.testing.assert_allclose(matte, core_pixels[..., order], atol=PIXEL_TOLERANCE)
    assert_render_matches(tmp_path / "comp.exr", over_background(matte))


def test_bad_input_is_reported_as_an_error_and_leaves_no_cache_and_no_nodes(tmp_path, extension_zip, blender_shot):
    results, _ = run_blender(tmp_path, extension_zip, '''
        install()
        scene = setup_shot(params["blend"], colorspace="ACEScg")
        settings = scene.bgmatte

        def pull():
            try:
                bpy.ops.bgmatte.pull_matte()
            except RuntimeError as error:
                return str(error)
            return "no error"

        plate = settings.plate
        settings.plate = None
        results["no plate"] = pull()
        settings.plate = bpy.data.images.load(params["shot"] + "/small_clean.exr")
        results["plate of another size"] = pull()
        settings.plate = plate
        scene.frame_end = 1008
        results["missing frames"] = pull()
        scene.frame_end = 1002
        settings.footage.source = "MOVIE"
        results["movie"] = pull()
        settings.footage.source = "FILE"
        results["single image"] = pull()
        settings.footage.source = "SEQUENCE"
        prefs = bpy.context.preferences.addons["bl_ext.user_default.bgmatte"].preferences
        prefs.engine, prefs.executable = "EXTERNAL", "/nonexistent/bin/bgmatte"
        results["no external bgmatte"] = pull()
        results["compositor"] = scene.compositing_node_group is not None
        results["matte image"] = settings.matte_image is not None
    ''', blend=str(tmp_path / "shot.blend"), shot=str(blender_shot))
    assert results["no plate"] == "Error: Clean Plate: not set; pick the plate shot without the subject " \
                                  "(a still or a sequence)\n"
    assert "small_clean.exr: plate is 48x32, the frames are 96x64" in results["plate of another size"]
    missing = results["missing frames"]
    assert "frame.1007.exr: missing frame 1007 inside the requested range" in missing
    assert "frame.1008.exr: missing frame 1008" in missing
    assert "is a movie; bgmatte reads EXR image sequences" in results["movie"]
    assert "is a single image; set its Source to Image Sequence" in results["single image"]
    assert results["no external bgmatte"] == "Error: bgmatte Executable: /nonexistent/bin/bgmatte does not exist; " \
                                             "set it in Edit > Preferences > Add-ons > bgmatte\n"
    assert all(message.startswith("Error: ") for key, message in results.items() if isinstance(message, str))
    assert not results["compositor"] and not results["matte image"]
    assert cache_files(tmp_path / "bgmatte" / "frame") == []


def test_cancel_keeps_only_complete_frames_in_process_and_in_a_python_subprocess(tmp_path, extension_zip, blender_shot):
    results, _ = run_blender(tmp_path, extension_zip, '''
        import importlib
        install()
        scene = setup_shot(params["blend"], first=1001, last=1006)
        addon = "bl_ext.user_default.bgmatte"
        pull = importlib.import_module(addon + ".pull")
        build_request = importlib.import_module(addon + ".request").build_request
        prefs = bpy.context.preferences.addons[addon].preferences
        prefs.executable = params["python"]
        for engine, folder in (("AUTO", "//in_process/"), ("EXTERNAL", "//external/")):
            prefs.engine = engine
            scene.bgmatte.cache_folder = folder
            job = pull.start_pull(build_request(scene), prefs)
            first = job.events(timeout=120)
            job.cancel()
            result = job.run_to_end(lambda event: None)
            results[engine] = {"exit": result.exit_code, "done": result.done, "first": [e.frame for e in first],
                               "messages": result.messages(job.request)}
    ''', blend=str(tmp_path / "shot.blend"), shot=str(blender_shot), python=sys.executable)
    for engine, folder in (("AUTO", "in_process"), ("EXTERNAL", "external")):
        outcome = results[engine]
        assert outcome["exit"] == 130 and outcome["first"] == [1001], outcome
        assert 1 <= len(outcome["done"]) < 6, outcome
        assert outcome["messages"][0][0] == "WARNING" and "cancelled" in outcome["messages"][0][1]
        assert cache_files(tmp_path / folder) == [f"matte.{frame}.exr" for frame in outcome["done"]]
        for frame in outcome["done"]:
            pixels, _ = read_exr(tmp_path / folder / f"matte.{frame}.exr")
            assert np.isfinite(pixels).all()


def save_blend_with_an_empty_cache(tmp_path: Path, extension_zip: str, shot: Path) -> Path:
    """An artist's saved .blend: pulled, comped over a background, render path set; then the cache is emptied."""
    blend = tmp_path / "shot.blend"
    run_blender(tmp_path, extension_zip, '''
        install()
        scene = setup_shot(params["blend"], first=1001, last=1002)
        bpy.ops.bgmatte.pull_matte()
        background_over(scene)
        scene.render.filepath = params["render"]
        bpy.ops.wm.save_mainfile()
    ''', name="artist", blend=str(blend), shot=str(shot), render=str(tmp_path / "render" / "comp.####"))
    for path in (tmp_path / "bgmatte" / "frame").iterdir():
        path.unlink()
    return blend


def test_farm_render_of_a_saved_blend_bakes_the_missing_cache_frames_first_in_one_run(
        tmp_path, extension_zip, blender_shot):
    blend = save_blend_with_an_empty_cache(tmp_path, extension_zip, blender_shot)
    cache = tmp_path / "bgmatte" / "frame"

    results, stdout = run_blender(tmp_path, extension_zip, '''
        install()
        bpy.ops.wm.open_mainfile(filepath=params["blend"])
        scene = bpy.context.scene
        results["links"] = tree_summary(scene)["links"]
        bpy.ops.render.render(animation=True)
    ''', name="farm", blend=str(blend))
    assert "bgmatte Background Matte.Image->bgmatte Alpha Over.Foreground" in results["links"]
    assert "bgmatte: frame 1001 done 1/2" in stdout and "bgmatte: frame 1002 done 2/2" in stdout, \
        "one run bakes the render's frames"
    assert cache_files(cache) == ["matte.1001.exr", "matte.1002.exr"]
    core = core_matte(blender_shot, tmp_path / "core", "ACEScg",
                      read_exr(cache / "matte.1001.exr")[1].get_string_attribute("bgmatte:ocio_config"), "1001-1002")
    for frame in (1001, 1002):
        matte, _ = read_exr(core / f"matte.{frame}.exr")
        assert_render_matches(tmp_path / "render" / f"comp.{frame}.exr", over_background(matte))


def test_farm_render_stops_with_exit_3_on_a_frame_the_core_cannot_matte(tmp_path, extension_zip, blender_shot):
    shot = tmp_path / "shot"
    shutil.copytree(blender_shot, shot)
    blend = save_blend_with_an_empty_cache(tmp_path, extension_zip, shot)
    data = (shot / "frame.1001.exr").read_bytes()
    (shot / "frame.1001.exr").write_bytes(data[: len(data) // 3])

    _, stderr = run_blender(tmp_path, extension_zip, '''
        install()
        bpy.ops.wm.open_mainfile(filepath=params["blend"])
        bpy.ops.render.render(animation=True)
    ''', name="farm", expect_exit=3, blend=str(blend))
    assert any(line.startswith("bgmatte: error: ") and "frame.1001.exr" in line for line in stderr.splitlines())
    assert not (tmp_path / "render" / "comp.1001.exr").exists()
