"""Build the Blender extension zip: ``build_extension.py [--output-dir dist] [--platform linux-x64]``.

Plain, it writes ``<output-dir>/bgmatte-<version>.zip``: the manifest and the add-on modules at the
archive root, the layout Blender's extension installer expects. That add-on runs an external
bgmatte, or one installed into Blender's Python.

With ``--platform``, it writes ``bgmatte-<version>-linux_x64.zip`` (Blender's name for a
split-platform build) that also holds ``wheels/``: the bgmatte wheel built from this repo and the
wheels pinned in ``constraints/blender-<platform>.txt``. The manifest inside lists them under
``wheels`` and ``platforms``, so Blender unpacks them into its extensions' site-packages when it
enables the extension and the add-on runs the core in Blender's Python, offline. Downloads are
cached in ``--wheel-cache`` (default ``out/wheels/<platform>``); a cache that already holds every
pinned wheel is used without asking the package index. ``<zip stem>.wheels.txt`` next to the zip
(and ``wheels.txt`` inside it) lists each wheel with its size and sha256. Run it with the project's
venv (``make blender-extension`` does): the bgmatte wheel is built with its setuptools.

The zips are reproducible: entries are sorted, timestamps fixed and permissions normalised, wheels
are pinned by hash and the bgmatte wheel is built with a fixed SOURCE_DATE_EPOCH, so the same
sources give the same bytes. Files matched by the manifest's ``[build] paths_exclude_pattern``
(this script, the README, caches) stay out, as they would with ``blender --command extension build``.
"""
from __future__ import annotations

import argparse
import email.parser
import fnmatch
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

ADDON_DIR = Path(__file__).resolve().parent
PROJECT_DIR = ADDON_DIR.parent
MANIFEST = "blender_manifest.toml"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
SOURCE_DATE_EPOCH = "315532800"  # FIXED_TIME as a Unix time, for the bgmatte wheel's entries
FILE_MODE = 0o644 << 16
WHEEL_LIST = "wheels.txt"
PYTHON_VERSION = "3.11"  # Blender 5.0's Python
# What Blender 5.0's own Python already ships (bpy 5.0.1: numpy as its requirement, OpenImageIO and
# PyOpenColorIO in 5.0/python/lib/python3.11/site-packages). Bundled copies would come first on
# sys.path for every add-on and load a second copy of their libraries beside Blender's.
BLENDER_SHIPS = {"numpy": "1.26.4", "openimageio": "3.0.9.1", "opencolorio": "2.4.2"}


class Platform(NamedTuple):
    """A Blender platform: the wheel tags pip may pick for it and its environment markers."""

    pip_platforms: tuple[str, ...]
    markers: dict[str, str]


# Blender 5.0 on Linux needs glibc 2.28 (the VFX Reference Platform), so manylinux_2_28 at most.
PLATFORMS = {
    "linux-x64": Platform(
        pip_platforms=tuple(f"manylinux_2_{minor}_x86_64" for minor in range(28, 16, -1)) + ("manylinux2014_x86_64",),
        markers={"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
                 "os_name": "posix"}),
}


class BuildError(Exception):
    """The platform build cannot go on: a download failed, a wheel is missing or a requirement is unmet."""


class LockedWheel(NamedTuple):
    """One line of a lock file: ``name==version --hash=sha256:<hex>``."""

    name: str
    version: str
    sha256: str


def read_manifest(addon_dir: Path = ADDON_DIR) -> dict:
    """The parsed ``blender_manifest.toml`` of the add-on folder."""
    with open(addon_dir / MANIFEST, "rb") as handle:
        return tomllib.load(handle)


def _excluded(relative: Path, patterns: list[str]) -> bool:
    """True when a path matches an exclude pattern: ``name/`` matches a folder, others a file name."""
    for pattern in patterns:
        if pattern.endswith("/"):
            if pattern.rstrip("/") in relative.parts[:-1]:
                return True
        elif fnmatch.fnmatch(relative.name, pattern) or fnmatch.fnmatch(relative.as_posix(), pattern):
            return True
    return False


def extension_files(addon_dir: Path = ADDON_DIR) -> list[Path]:
    """The files that go into the zip, relative to the add-on folder, sorted."""
    patterns = read_manifest(addon_dir).get("build", {}).get("paths_exclude_pattern", [])
    files = [path.relative_to(addon_dir) for path in addon_dir.rglob("*") if path.is_file()]
    return sorted((path for path in files if not _excluded(path, patterns)), key=lambda p: p.as_posix())


def platform_manifest(text: str, platform: str, wheel_names: list[str]) -> str:
    """The manifest ``text`` with top-level ``platforms`` and ``wheels`` keys (before its first table)."""
    lines = text.splitlines(keepends=True)
    first_table = next((i for i, line in enumerate(lines) if line.startswith("[")), len(lines))
    entries = "".join(f'    "./wheels/{name}",\n' for name in wheel_names)
    added = f'platforms = ["{platform}"]\nwheels = [\n{entries}]\n\n'
    return "".join(lines[:first_table]) + added + "".join(lines[first_table:])


def _add_entry(archive: zipfile.ZipFile, name: str, source: Path | bytes) -> None:
    """Add one entry with a fixed time and mode: a wheel file streamed and stored (it is compressed
    already; deflating 180 MB again is slow and gains nothing), anything else deflated."""
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.external_attr = FILE_MODE
    if isinstance(source, Path) and name.endswith(".whl"):
        info.compress_type = zipfile.ZIP_STORED
        with open(source, "rb") as reader, archive.open(info, "w") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
        return
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, source if isinstance(source, bytes) else source.read_bytes())


def zip_name(manifest: dict, platform: str | None = None) -> str:
    """``bgmatte-<version>.zip``, or ``bgmatte-<version>-linux_x64.zip`` as Blender names a platform build."""
    suffix = f"-{platform.replace('-', '_')}" if platform else ""
    return f"{manifest['id']}-{manifest['version']}{suffix}.zip"


def build_extension(output_dir: Path, addon_dir: Path = ADDON_DIR, platform: str | None = None,
                    wheels: Sequence[Path] = ()) -> Path:
    """Write the extension zip into ``output_dir`` and return its path.

    Args:
        platform: a Blender platform (``linux-x64``); None builds the plain zip without wheels.
        wheels: the wheel files to bundle under ``wheels/`` (with a platform only); their list,
            ``wheels.txt`` in the zip, is also written beside it as ``<zip stem>.wheels.txt``.
    """
    manifest = read_manifest(addon_dir)
    if platform and {"platforms", "wheels"} & manifest.keys():
        raise BuildError(f"{addon_dir / MANIFEST} must not set platforms or wheels: the platform build adds them")
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / zip_name(manifest, platform)
    temp = target.with_name(f".{target.name}.tmp")
    wheels = sorted(wheels, key=lambda path: path.name)
    listing = wheel_list(wheels).encode() if platform else b""
    with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for relative in extension_files(addon_dir):
            source = addon_dir / relative
            if platform and relative.as_posix() == MANIFEST:
                source = platform_manifest(source.read_text(), platform, [w.name for w in wheels]).encode()
            _add_entry(archive, relative.as_posix(), source)
        if platform:
            _add_entry(archive, WHEEL_LIST, listing)
        for wheel in wheels:
            _add_entry(archive, f"wheels/{wheel.name}", wheel)
    temp.replace(target)
    if platform:
        target.with_name(f"{target.stem}.wheels.txt").write_bytes(listing)
    return target


def read_lock(path: Path) -> list[LockedWheel]:
    """The pinned wheels of a lock file (``name==version --hash=sha256:<hex>`` per line, ``#`` comments)."""
    locked = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, _, hash_option = line.partition(" --hash=sha256:")
        name, _, version = requirement.partition("==")
        if not (name and version and hash_option):
            raise BuildError(f"{path}: {line!r} is not 'name==version --hash=sha256:<hex>'")
        locked.append(LockedWheel(name.strip(), version.strip(), hash_option.strip()))
    return locked


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in chunks (torch's wheel is ~190 MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached_wheels(locked: list[LockedWheel], cache: Path) -> dict[str, Path]:
    """The wheels in ``cache`` whose sha256 a lock pins, by hash."""
    pinned = {wheel.sha256 for wheel in locked}
    found = {}
    for path in sorted(cache.glob("*.whl")) if cache.is_dir() else ():
        digest = sha256_of(path)
        if digest in pinned:
            found[digest] = path
    return found


def download_wheels(lock: Path, platform: str, cache: Path) -> list[Path]:
    """The locked wheels for ``platform``: from ``cache``, downloading into it what it lacks.

    Raises:
        BuildError: pip failed, or a pinned wheel is still missing after the download.
    """
    locked = read_lock(lock)
    found = cached_wheels(locked, cache)
    if len(found) < len(locked):
        tags = [option for tag in PLATFORMS[platform].pip_platforms for option in ("--platform", tag)]
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes", "--only-binary=:all:",
                   *tags, "--python-version", PYTHON_VERSION, "--implementation", "cp", "--dest", str(cache),
                   "--requirement", str(lock)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise BuildError(f"pip download failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        found = cached_wheels(locked, cache)
    missing = [f"{wheel.name}=={wheel.version}" for wheel in locked if wheel.sha256 not in found]
    if missing:
        raise BuildError(f"{cache} lacks the pinned wheels {', '.join(missing)}")
    return [found[wheel.sha256] for wheel in locked]


def _copy_sources(project_dir: Path, target: Path) -> None:
    """Copy what the bgmatte wheel is built from (symlinks resolved, no caches) into ``target``."""
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(project_dir / name, target / name)
    shutil.copytree(project_dir / "core" / "bgmatte", target / "core" / "bgmatte",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def build_core_wheel(dest: Path, project_dir: Path = PROJECT_DIR) -> Path:
    """Build the bgmatte wheel (modules, weights, OCIO config) from a clean copy of the sources.

    The copy keeps a stale ``build/`` of the checkout out of the wheel; SOURCE_DATE_EPOCH fixes its
    entries' times.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bgmatte-wheel-") as scratch:
        sources = Path(scratch) / "src"
        sources.mkdir()
        _copy_sources(project_dir, sources)
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                   "--wheel-dir", str(dest), str(sources)]
        done = subprocess.run(command, capture_output=True, text=True,
                              env={**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH})
    if done.returncode != 0:
        raise BuildError(f"building the bgmatte wheel failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    built = sorted(dest.glob("bgmatte-*.whl"))
    if len(built) != 1:
        raise BuildError(f"expected one bgmatte wheel in {dest}, found {[path.name for path in built]}")
    return built[0]


def wheel_metadata(path: Path) -> email.message.Message:
    """The ``METADATA`` of a wheel (Name, Version, Requires-Dist)."""
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        return email.parser.BytesParser().parsebytes(archive.read(name))


def unmet_requirements(wheels: list[Path], platform: str) -> list[str]:
    """What the wheels need on ``platform`` that neither they nor Blender's Python provide, plus any
    wheel that duplicates a package Blender ships; empty when the set is complete."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    environment = {**PLATFORMS[platform].markers, "python_version": PYTHON_VERSION,
                   "python_full_version": f"{PYTHON_VERSION}.0", "implementation_name": "cpython",
                   "platform_python_implementation": "CPython", "extra": ""}
    metadata = [wheel_metadata(path) for path in wheels]
    bundled = {canonicalize_name(meta["Name"]): meta["Version"] for meta in metadata}
    problems = [f"{name} is bundled but Blender ships it" for name in sorted(bundled.keys() & BLENDER_SHIPS)]
    available = {**BLENDER_SHIPS, **bundled}
    for meta in metadata:
        for line in meta.get_all("Requires-Dist") or ():
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate(environment):
                continue
            have = available.get(canonicalize_name(requirement.name))
            if have is None or not requirement.specifier.contains(have, prereleases=True):
                problems.append(f"{meta['Name']} needs {requirement}, have {have or 'nothing'}")
    return problems


def wheel_list(wheels: Sequence[Path]) -> str:
    """The wheel list: a header, then ``<sha256>  <bytes>  <wheel>`` per wheel, sorted by name."""
    rows = [f"{sha256_of(path)}  {path.stat().st_size:>11}  {path.name}\n"
            for path in sorted(wheels, key=lambda p: p.name)]
    total = sum(path.stat().st_size for path in wheels)
    return f"# {len(wheels)} wheels, {total} bytes\n# sha256  bytes  wheel\n" + "".join(rows)


def build_platform_extension(output_dir: Path, platform: str, cache: Path | None = None,
                             project_dir: Path = PROJECT_DIR) -> Path:
    """Build the bgmatte wheel, fetch the locked wheels, check the set and write the platform zip.

    Returns:
        The zip; ``<zip stem>.wheels.txt`` beside it lists the wheels.

    Raises:
        BuildError: an unknown platform, a missing lock file, a failed download or an incomplete set.
    """
    if platform not in PLATFORMS:
        raise BuildError(f"no wheel tags for platform {platform!r}; known: {', '.join(PLATFORMS)}")
    lock = project_dir / "constraints" / f"blender-{platform}.txt"
    if not lock.is_file():
        raise BuildError(f"{lock} does not exist: pin the platform's wheels there first")
    cache = cache or project_dir / "out" / "wheels" / platform
    with tempfile.TemporaryDirectory(prefix="bgmatte-core-") as scratch:
        wheels = [build_core_wheel(Path(scratch), project_dir), *download_wheels(lock, platform, cache)]
        problems = unmet_requirements(wheels, platform)
        if problems:
            raise BuildError("the bundled wheels are incomplete:\n  " + "\n  ".join(problems))
        return build_extension(output_dir, platform=platform, wheels=wheels)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=Path("dist"), help="folder of the zip (default: dist)")
    parser.add_argument("--platform", choices=sorted(PLATFORMS),
                        help="bundle the core and its dependencies as wheels for this Blender platform")
    parser.add_argument("--wheel-cache", type=Path, help="folder of downloaded wheels (default: out/wheels/<platform>)")
    args = parser.parse_args(argv)
    if args.platform is None:
        print(build_extension(args.output_dir))
        return 0
    try:
        print(build_platform_extension(args.output_dir, args.platform, args.wheel_cache))
    except BuildError as error:
        print(f"build_extension: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
