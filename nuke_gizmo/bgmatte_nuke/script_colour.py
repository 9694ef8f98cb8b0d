"""The Nuke script's working space and OCIO config, as defaults for the node's colour knobs.

The node renders its inputs raw, so their pixels are in the script's working space; bgmatte is told
that space (and the config that defines it) and writes the matte back in it. Nuke's own colour
management (no OCIO) works in "linear", which is linear Rec.709: bgmatte's config calls it
``lin_rec709``. A built-in OCIO config of Nuke is found in Nuke's install; a custom one by its path.
"""
from __future__ import annotations

import os
from pathlib import Path

NUKE_LINEAR = "linear"
BGMATTE_LINEAR_REC709 = "lin_rec709"


def _knob_value(node, name: str, default: str) -> str:
    knob = node.knob(name)
    return str(knob.value()) if knob is not None else default


def builtin_config_path(nuke_executable: str, name: str) -> str:
    """Path of one of Nuke's bundled OCIO configs, or "" when this install has no such file."""
    path = Path(nuke_executable).parent / "plugins" / "OCIOConfigs" / "configs" / name / "config.ocio"
    return path.as_posix() if path.is_file() else ""


def script_colour(root, nuke_executable: str = "") -> tuple[str, str]:
    """The script's (OCIO config, working space) for bgmatte.

    Args:
        root: ``nuke.root()``.
        nuke_executable: ``nuke.EXE_PATH``, to find Nuke's bundled configs.

    Returns:
        (config, colourspace): config is a path or ``ocio://`` name, or "" for bgmatte's own config
        (``$OCIO`` when set); colourspace is a name in that config.
    """
    working = _knob_value(root, "workingSpaceLUT", NUKE_LINEAR)
    if _knob_value(root, "colorManagement", "Nuke") != "OCIO":
        return "", BGMATTE_LINEAR_REC709 if working in ("", NUKE_LINEAR) else working
    config = _knob_value(root, "OCIO_config", "")
    if config == "custom":
        knob = root.knob("customOCIOConfigPath")
        return (str(knob.evaluate()) if knob is not None else ""), working
    if os.environ.get("OCIO"):
        return os.environ["OCIO"], working
    if config.startswith("ocio://"):
        return config, working
    return builtin_config_path(nuke_executable, config) if config else "", working
