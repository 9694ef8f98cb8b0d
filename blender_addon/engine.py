"""Where the core runs: in Blender's own Python when it can import bgmatte, else an external bgmatte.

The platform build of the extension (``bgmatte-<version>-linux_x64.zip``) bundles bgmatte, torch and
their dependencies as wheels, which Blender unpacks into its extensions' site-packages when it
enables the extension: bgmatte is then importable here and runs in process. The plain zip has no
wheels; it needs bgmatte installed into Blender's Python, or the preferences pointed at a
``bgmatte`` executable / a python that has bgmatte (as a studio that manages its own environment,
e.g. with CUDA, does).
"""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import bpy

from .request import RequestError

PREFERENCES_HINT = "set it in Edit > Preferences > Add-ons > bgmatte"


def core_importable() -> bool:
    """True when Blender's Python can import bgmatte and torch (checked without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in ("bgmatte", "torch"))


def use_in_process(choice: str) -> bool:
    """Whether to run the core in Blender's Python for the preference ``choice`` ("AUTO" or "EXTERNAL")."""
    return choice == "AUTO" and core_importable()


def external_command(executable: str) -> list[str]:
    """The command that runs ``bgmatte`` outside Blender: the executable, or ``python -m bgmatte.cli``.

    Args:
        executable: the preference: a ``bgmatte`` executable or a python; empty = ``bgmatte`` on the PATH.

    Raises:
        RequestError: nothing is set and no bgmatte is on the PATH, or the file does not exist.
    """
    if executable.strip():
        path = Path(bpy.path.abspath(executable.strip()))
        if not path.is_file():
            raise RequestError("bgmatte Executable", f"{path} does not exist; {PREFERENCES_HINT}")
    else:
        found = shutil.which("bgmatte")
        if found is None:
            raise RequestError("bgmatte Executable", "Blender's Python cannot import bgmatte and no bgmatte "
                                                     "is on the PATH; install the extension built for this "
                                                     f"platform (it bundles bgmatte), or {PREFERENCES_HINT}")
        path = Path(found)
    if path.name.lower().startswith("python"):
        return [str(path), "-m", "bgmatte.cli"]
    return [str(path)]


def describe(choice: str, executable: str) -> str:
    """One line for the UI: which engine a pull would use now."""
    if use_in_process(choice):
        return "Runs in Blender's Python (bgmatte is importable here)"
    try:
        return f"Runs {' '.join(external_command(executable))} as a subprocess"
    except RequestError as error:
        return error.problem
