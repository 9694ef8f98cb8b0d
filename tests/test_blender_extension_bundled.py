"""The platform extension zip: install it in a stock Blender, pull a matte, nothing else.

``build_extension.py --platform linux-x64`` bundles the bgmatte wheel and every runtime dependency
Blender's Python lacks (torch CPU, OpenCV, tqdm, ...) as wheels; Blender unpacks them when it
enables the extension. The Blender here is the bpy 5.0.1 module in a fresh venv that has only bpy,
what bpy requires and what Blender's own Python ships (OpenImageIO, PyOpenColorIO): bgmatte and
torch do not import there, and no bgmatte is on the PATH. Downloaded wheels are cached in
``out/wheels/linux-x64`` (git-ignored), so a re-run builds without the package index. About 30 s
on two cores with the cache filled, most of it Blender unpacking ~0.9 GB of wheels; a cold cache
adds the ~250 MB download.
"""
from __future__ import annotations

import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import distribution, version
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bgmatte.data.synthetic_shot import ShotRecipe, make_shot
from conftest import channel, read_exr
from test_blender_addon import blender_env

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "blender_addon" / "build_extension.py"
BLENDER_EXT = Path(importlib.util.find_spec("bpy").origin).parent / "5.0" / "scripts" / "addons_core" / "bl_pkg" \
    / "cli" / "blender_ext.py"
ADDON = "bl_ext.user_default.bgmatte"
builder_spec = importlib.util.spec_from_file_location("build_extension", BUILD)
builder = importlib.util.module_from_spec(builder_spec)
builder_spec.loader.exec_module(builder)

pytestmark = pytest.mark.skipif(sys.platform != "linux" or platform.machine() != "x86_64",
                                reason="the platform zip built and tested here is linux-x64")

SESSION = '''
import importlib, importlib.util, json, sys
from pathlib import Path
import bpy

params = json.loads(Path(sys.argv[1]).read_text())
results = {"before": {name: importlib.util.find_spec(name) is not None
                      for name in ("bgmatte", "torch", "cv2", "OpenImageIO", "PyOpenColorIO")}}
import numpy, OpenImageIO, PyOpenColorIO
results["ships"] = {"numpy": numpy.__version__, "openimageio": OpenImageIO.VERSION_STRING,
                    "opencolorio": PyOpenColorIO.__version__}
bpy.ops.extensions.package_install_files(filepath=params["zip"], repo="user_default", enable_on_install=True)
engine = importlib.import_module(params["addon"] + ".engine")
prefs = bpy.context.preferences.addons[params["addon"]].preferences
results["engine"] = [prefs.engine, engine.use_in_process(prefs.engine)]

scene = bpy.context.scene
scene.frame_start, scene.frame_end = 1001, 1002
footage = bpy.data.images.load(params["shot"] + "/frame.1001.exr")
footage.source = "SEQUENCE"
footage.colorspace_settings.name = "ACEScg"
plate = bpy.data.images.load(params["shot"] + "/clean.exr")
plate.colorspace_settings.name = "ACEScg"
scene.bgmatte.footage, scene.bgmatte.plate = footage, plate
results["model"] = scene.bgmatte.model
bpy.ops.wm.save_as_mainfile(filepath=params["blend"])
results["returned"] = sorted(bpy.ops.bgmatte.pull_matte())
results["files"] = {name: sys.modules[name].__file__ for name in ("bgmatte", "torch", "cv2", "numpy", "OpenImageIO")}
results["torch"] = sys.modules["torch"].__version__
Path(params["result"]).write_text(json.dumps(results))
'''


def build_platform_zip(output_dir: Path) -> Path:
    """Run the builder as ``make blender-extension`` does, with the default wheel cache."""
    done = subprocess.run([sys.executable, str(BUILD), "--output-dir", str(output_dir), "--platform", "linux-x64"],
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return Path(done.stdout.strip())


@pytest.fixture(scope="module")
def platform_zip(tmp_path_factory):
    """The platform zip (~250 MB), removed after the module."""
    target = build_platform_zip(tmp_path_factory.mktemp("dist"))
    yield target
    shutil.rmtree(target.parent, ignore_errors=True)


def requirement_closure(name: str) -> list:
    """The installed distribution ``name`` and everything it requires (no extras), recursively."""
    found, pending = {}, [name]
    while pending:
        dist = distribution(pending.pop())
        key = canonicalize_name(dist.metadata["Name"])
        if key in found:
            continue
        found[key] = dist
        for line in dist.requires or ():
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return list(found.values())


def top_level_entries(dist) -> set[Path]:
    """The files and folders a distribution puts at the top of site-packages (its modules, its .dist-info)."""
    names = {Path(str(path)).parts[0] for path in dist.files or ()}
    return {Path(dist.locate_file(name)) for name in names if name not in ("..", "__pycache__")}


def blender_only_python(folder: Path) -> Path:
    """A fresh venv whose site-packages has bpy, bpy's requirements and Blender's bundled Python modules only.

    The bpy module leaves out Blender's ``5.0/python/lib/python3.11/site-packages`` (OpenImageIO,
    PyOpenColorIO), which Blender itself has on its path; the .pth adds it, as Blender does.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    links = folder / "blender_ships"
    links.mkdir()
    for dist in requirement_closure("bpy"):
        for entry in top_level_entries(dist):
            (links / entry.name).symlink_to(entry)
    bundled = links / "bpy" / "5.0" / "python" / "lib" / "python3.11" / "site-packages"
    Path(site, "blender_ships.pth").write_text(f"{links}\n{bundled}\n")
    return python


def no_bgmatte_env(home: Path) -> dict[str, str]:
    """Blender's user folders under ``home``, and a PATH without any ``bgmatte`` executable."""
    env = blender_env(home)
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):
        env.pop(name, None)
    env["PYTHONNOUSERSITE"] = "1"
    env["PATH"] = os.pathsep.join(folder for folder in env.get("PATH", "").split(os.pathsep)
                                  if folder and not Path(folder, "bgmatte").exists())
    return env


def test_platform_zip_bundles_bgmatte_and_its_pinned_dependencies_but_nothing_blender_ships(tmp_path, platform_zip):
    assert platform_zip.name == f"bgmatte-{version('bgmatte')}-linux_x64.zip"
    archive = zipfile.ZipFile(platform_zip)
    manifest = tomllib.loads(archive.read("blender_manifest.toml").decode())
    assert manifest["platforms"] == ["linux-x64"]
    wheels = sorted(name for name in archive.namelist() if name.startswith("wheels/"))
    assert sorted(path.removeprefix("./") for path in manifest["wheels"]) == wheels
    assert all(archive.getinfo(name).compress_type == zipfile.ZIP_STORED for name in wheels)
    names = {canonicalize_name(Path(name).name.split("-")[0]) for name in wheels}
    locked = (ROOT / "constraints" / "blender-linux-x64.txt").read_text()
    assert names == {"bgmatte"} | {canonicalize_name(line.split("==")[0]) for line in locked.splitlines()
                                   if line and not line.startswith("#")}
    assert {"torch", "opencv-python-headless", "tqdm"} <= names
    assert not names & {"numpy", "openimageio", "opencolorio"}, "Blender's own Python ships these"
    assert not [name for name in names if name.startswith("nvidia")]
    assert any(name.startswith("wheels/torch-") and "+cpu-" in name for name in wheels), "the CPU build of torch"
    core = zipfile.ZipFile(archive.open(f"wheels/bgmatte-{version('bgmatte')}-py3-none-any.whl"))
    assert {"bgmatte/weights/default.pt", "bgmatte/ocio/config.ocio", "bgmatte/api.py"} <= set(core.namelist())

    listing = platform_zip.with_name(f"{platform_zip.stem}.wheels.txt").read_text()
    assert archive.read("wheels.txt").decode() == listing
    rows = [line.split() for line in listing.splitlines() if not line.startswith("#")]
    assert sorted(f"wheels/{name}" for _, _, name in rows) == wheels
    assert all(int(size) == archive.getinfo(f"wheels/{name}").file_size for _, size, name in rows)

    validated = subprocess.run([sys.executable, str(BLENDER_EXT), "validate", str(platform_zip)],
                               capture_output=True, text=True)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    again = build_platform_zip(tmp_path)
    same = again.read_bytes() == platform_zip.read_bytes()
    again.unlink()
    assert same, "same sources and pins, same bytes"


@pytest.fixture
def blender_home(tmp_path):
    """Blender's user folders for one session; removed afterwards (the unpacked wheels take ~0.9 GB)."""
    home = tmp_path / "home"
    yield home
    shutil.rmtree(home, ignore_errors=True)


def test_stock_blender_installs_the_zip_and_pulls_a_matte_in_process_with_the_bundled_wheels(
        tmp_path, platform_zip, blender_home):
    python = blender_only_python(tmp_path / "venv")
    shot = tmp_path / "shot"
    make_shot(shot, ShotRecipe(width=96, height=64, count=2, strands=12, shadow=0.0, seed=7))
    script, params, result = tmp_path / "session.py", tmp_path / "params.json", tmp_path / "result.json"
    script.write_text(SESSION)
    params.write_text(json.dumps({"zip": str(platform_zip), "addon": ADDON, "shot": str(shot),
                                  "blend": str(tmp_path / "shot.blend"), "result": str(result)}))
    done = subprocess.run([str(python), str(script), str(params)], env=no_bgmatte_env(blender_home),
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0 and result.exists(), done.stdout[-4000:] + done.stderr[-4000:]
    results = json.loads(result.read_text())

    assert results["before"] == {"bgmatte": False, "torch": False, "cv2": False, "OpenImageIO": True,
                                 "PyOpenColorIO": True}, "a stock Blender: no bgmatte, no torch"
    assert results["ships"] == builder.BLENDER_SHIPS, "the builder leaves out exactly what Blender ships"
    assert results["engine"] == ["AUTO", True], "with the wheels unpacked the core runs in Blender's Python"
    assert results["model"] == "default" and results["returned"] == ["FINISHED"]
    assert "bgmatte: frame 1002 done 2/2" in done.stdout
    site_packages = blender_home / "extensions" / ".local" / "lib" / "python3.11" / "site-packages"
    for name in ("bgmatte", "torch", "cv2"):
        assert Path(results["files"][name]).is_relative_to(site_packages), results["files"]
    assert results["torch"].endswith("+cpu")
    assert not Path(results["files"]["numpy"]).is_relative_to(site_packages), "Blender's numpy, not a bundled one"
    assert not Path(results["files"]["OpenImageIO"]).is_relative_to(site_packages)

    for frame in (1001, 1002):
        matte, spec = read_exr(tmp_path / "bgmatte" / "frame" / f"matte.{frame}.exr")
        alpha = channel(matte, spec, "A")
        premult = np.stack([channel(matte, spec, c) for c in "RGB"], axis=-1)
        straight = np.stack([channel(matte, spec, f"fg.{c}") for c in "RGB"], axis=-1)
        assert np.isfinite(matte).all() and 0.0 <= alpha.min() and alpha.max() <= 1.0
        assert alpha.std() > 0.05 and alpha.min() < 0.1 < 0.9 < alpha.max(), "a matte, not a constant"
        assert (premult[alpha == 0] == 0).all(), "premultiplied: no colour where alpha is 0"
        solid = alpha >= 0.1  # below it the fg layer is the network's colour, not P / alpha
        np.testing.assert_allclose(premult[solid], straight[solid] * alpha[solid, None], rtol=4e-3, atol=2e-3,
                                   err_msg="premultiplied: RGB = fg * alpha")
        truth, _ = read_exr(shot / f"alpha.{frame}.exr")
        assert np.abs(alpha - truth[..., 0]).mean() < 0.15, "the shipped model pulls the subject"
