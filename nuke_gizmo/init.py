"""bgmatte for Nuke, startup: plugin paths only (this file also runs in `nuke -x` and `nuke -t`).

Install: add this folder to NUKE_PATH. Nuke then puts it on sys.path (for the `bgmatte_nuke`
package) and runs this file, which adds the gizmo folder. No UI here: the menu is in menu.py.
"""
import inspect
from pathlib import Path

import nuke


def _here() -> Path:
    """This folder; Nuke versions differ in whether they set __file__ for init.py."""
    try:
        return Path(__file__).resolve().parent
    except NameError:
        return Path(inspect.getframeinfo(inspect.currentframe()).filename).resolve().parent


nuke.pluginAddPath((_here() / "gizmos").as_posix(), addToSysPath=False)
