"""Build the Blender extension zip: ``python blender_addon/build_extension.py [--output-dir dist]``.

Writes ``<output-dir>/bgmatte-<version>.zip`` with the manifest and the add-on modules at the
archive root, the layout Blender's extension installer expects. The zip is reproducible: entries
are sorted, timestamps fixed and permissions normalised, so the same sources give the same bytes.
Files matched by the manifest's ``[build] paths_exclude_pattern`` (this script, the README,
caches) stay out, as they would with ``blender --command extension build``.
"""
from __future__ import annotations

import argparse
import fnmatch
import sys
import tomllib
import zipfile
from pathlib import Path

ADDON_DIR = Path(__file__).resolve().parent
MANIFEST = "blender_manifest.toml"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644 << 16


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


def build_extension(output_dir: Path, addon_dir: Path = ADDON_DIR) -> Path:
    """Write ``bgmatte-<version>.zip`` into ``output_dir`` and return its path."""
    manifest = read_manifest(addon_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / f"{manifest['id']}-{manifest['version']}.zip"
    temp = target.with_name(f".{target.name}.tmp")
    with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for relative in extension_files(addon_dir):
            info = zipfile.ZipInfo(relative.as_posix(), date_time=FIXED_TIME)
            info.external_attr = FILE_MODE
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (addon_dir / relative).read_bytes())
    temp.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=Path("dist"), help="folder of the zip (default: dist)")
    args = parser.parse_args(argv)
    print(build_extension(args.output_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
