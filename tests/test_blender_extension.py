"""The Blender extension package: a manifest Blender accepts and a reproducible zip (no Blender needed)."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADDON = ROOT / "blender_addon"
BUILD = ADDON / "build_extension.py"


def build(output_dir: Path) -> Path:
    done = subprocess.run([sys.executable, str(BUILD), "--output-dir", str(output_dir)],
                          capture_output=True, text=True, check=True)
    return Path(done.stdout.strip())


def test_manifest_declares_an_addon_with_file_permission_and_the_project_version():
    manifest = tomllib.loads((ADDON / "blender_manifest.toml").read_text())
    assert manifest["type"] == "add-on"
    assert manifest["id"] == "bgmatte"
    assert set(manifest["permissions"]) == {"files"}
    assert manifest["version"] == version("bgmatte")
    assert manifest["blender_version_min"] == "5.0.0"


def test_build_writes_versioned_zip_with_manifest_and_modules_at_the_root(tmp_path):
    target = build(tmp_path)
    assert target == tmp_path / f"bgmatte-{version('bgmatte')}.zip"
    names = zipfile.ZipFile(target).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names
    assert "bgmatte_protocol.py" in names  # the vendored core protocol, for a Blender without bgmatte
    assert all("/" not in name for name in names), names
    assert "build_extension.py" not in names and "README.md" not in names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_build_is_byte_for_byte_reproducible_whatever_the_file_times_and_caches(tmp_path):
    spec = importlib.util.spec_from_file_location("build_extension", BUILD)
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    sources = shutil.copytree(ADDON, tmp_path / "addon", ignore=shutil.ignore_patterns("__pycache__"))
    first = builder.build_extension(tmp_path / "a", addon_dir=sources).read_bytes()
    for path in sources.rglob("*"):
        os.utime(path, (2_000_000_000, 2_000_000_000))
    (sources / "__pycache__").mkdir()
    (sources / "__pycache__" / "panel.cpython-311.pyc").write_bytes(b"stale")
    second = builder.build_extension(tmp_path / "b", addon_dir=sources).read_bytes()
    assert first == second
