"""The Background Matte node's knob values, read once and checked before anything is rendered."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bgmatte_nuke.cache import CacheLayout
from bgmatte_nuke.errors import NodeError

SOURCE, CLEAN_PLATE, ROTO, GARBAGE, CORE = 0, 1, 2, 3, 4
INPUT_NAMES = ("Source", "CleanPlate", "Roto", "Garbage", "Core")
MASK_INPUTS = {ROTO: "seg", GARBAGE: "garbage", CORE: "core"}
"""The optional matte inputs (their alpha) and the core setting each one feeds."""
VIEWS = ("final", "matte", "status", "shadow", "foreground")
"""The ``view`` knob's entries, in the order of the gizmo's Switch inputs."""
RUN_MODES = ("auto", "external")
PYTHON_ENV = "BGMATTE_PYTHON"


@dataclass(frozen=True)
class NodeSettings:
    """What one Analyse does.

    Attributes:
        model: bgmatte model name or weights file.
        device: "auto", "cpu" or "cuda".
        colorspace: the inputs' colourspace (the script's working space; they are rendered raw).
        ocio: OCIO config path or ``ocio://`` name; "" = bgmatte's default resolution.
        motion_gap: k of the motion cues t-2k, t-k, t+k, t+2k.
        first, last: the frame range to analyse.
        cache: the node's cache layout (absolute folder).
        plate_still: the CleanPlate is one frame (rendered once) rather than a sequence.
        run_in: "auto" (Nuke's Python when it imports bgmatte, else external) or "external".
        python: the external Python with bgmatte installed ("" = $BGMATTE_PYTHON).
    """

    model: str
    device: str
    colorspace: str
    ocio: str
    motion_gap: int
    first: int
    last: int
    cache: CacheLayout
    plate_still: bool
    run_in: str
    python: str

    @property
    def frames(self) -> list[int]:
        return list(range(self.first, self.last + 1))

    @property
    def frame_spec(self) -> str:
        return f"{self.first}-{self.last}"

    def external_python(self) -> str:
        """The external Python: the knob, else $BGMATTE_PYTHON, else ""."""
        return self.python or os.environ.get(PYTHON_ENV, "")


def _text(node, name: str) -> str:
    return str(node[name].value()).strip()


def cache_folder(node) -> Path:
    """The node's cache folder, its expression evaluated; NodeError unless absolute."""
    text = str(node["cache"].evaluate()).strip()
    if not text or not Path(text).is_absolute():
        raise NodeError("cache folder", f"must be an absolute path, got {text!r}: save the script first, "
                                        "or set the cache folder")
    return Path(text)


def read_settings(node) -> NodeSettings:
    """Read and check the knobs of a Background Matte node.

    Raises:
        NodeError: a knob value that cannot work (names the knob).
    """
    first, last = int(node["first_frame"].value()), int(node["last_frame"].value())
    if last < first:
        raise NodeError("frame range", f"last frame {last} is before first frame {first}")
    gap = int(node["motion_gap"].value())
    if gap < 1:
        raise NodeError("motion gap", f"must be a whole number of frames >= 1, got {gap}")
    colorspace = _text(node, "colorspace")
    if not colorspace:
        raise NodeError("input colourspace", "is empty: set the script's working space")
    run_in = _text(node, "run_in")
    if run_in not in RUN_MODES:
        raise NodeError("run in", f"expected one of {', '.join(RUN_MODES)}, got {run_in!r}")
    return NodeSettings(model=_text(node, "model") or "default", device=_text(node, "device") or "auto",
                        colorspace=colorspace, ocio=str(node["ocio_config"].evaluate()).strip(),
                        motion_gap=gap, first=first, last=last, cache=CacheLayout(cache_folder(node)),
                        plate_still=bool(node["plate_still"].value()), run_in=run_in,
                        python=str(node["python"].evaluate()).strip())


def check_inputs(node) -> None:
    """Raise NodeError unless Source and CleanPlate are connected (Roto, Garbage and Core are optional)."""
    for index in (SOURCE, CLEAN_PLATE):
        if node.input(index) is None:
            raise NodeError(INPUT_NAMES[index], "is not connected")
