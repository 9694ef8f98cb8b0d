"""The node's cache folder: where the rendered inputs and the computed matte frames live.

    <cache>/source/source.####.exr   the Source input, rendered raw (the script's working space)
    <cache>/plate/plate.exr          the CleanPlate input, one frame (a still plate)
    <cache>/plate/plate.####.exr     ... or every frame (a plate sequence)
    <cache>/roto/roto.####.exr       the optional Roto input's alpha
    <cache>/garbage/garbage.####.exr the optional Garbage input's alpha (forced to alpha 0)
    <cache>/core/core.####.exr       the optional Core input's alpha (forced to alpha 1)
    <cache>/nuke_inputs.json         what the node's inputs were at the last complete Analyse
    <cache>/matte/matte.####.exr     bgmatte's premultiplied RGBA with fg and shadow layers

Plain Python (no nuke), so the farm check and the tests use it too.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PADDING = "####"


def frame_path(pattern: Path, frame: int) -> Path:
    """The file of one frame of a ``####`` pattern (frames wider than the padding are written wider)."""
    return pattern.with_name(pattern.name.replace(PADDING, f"{frame:0{len(PADDING)}d}"))


def frame_ranges(frames: list[int]) -> str:
    """Frames as a compact spec, e.g. [1001, 1002, 1003, 1010] -> "1001-1003,1010"."""
    parts: list[str] = []
    ordered = sorted(set(frames))
    start = previous = None
    for frame in ordered + [None]:
        if start is not None and frame == previous + 1:
            previous = frame
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = frame
    return ",".join(parts)


@dataclass(frozen=True)
class CacheLayout:
    """Paths inside one node's cache folder (absolute)."""

    folder: Path

    @property
    def source(self) -> Path:
        return self.folder / "source" / f"source.{PADDING}.exr"

    def plate(self, still: bool) -> Path:
        """The plate file (still) or pattern (sequence)."""
        return self.folder / "plate" / ("plate.exr" if still else f"plate.{PADDING}.exr")

    @property
    def roto(self) -> Path:
        return self.folder / "roto" / f"roto.{PADDING}.exr"

    def mask(self, role: str) -> Path:
        """The rendered pattern of an optional matte input: "seg" (Roto), "garbage" or "core"."""
        name = "roto" if role == "seg" else role
        return self.folder / name / f"{name}.{PADDING}.exr"

    @property
    def inputs_record(self) -> Path:
        """The node's record of its inputs at the last complete Analyse (see bgmatte_nuke.stale)."""
        return self.folder / "nuke_inputs.json"

    @property
    def matte(self) -> Path:
        return self.folder / "matte" / f"matte.{PADDING}.exr"

    def missing_mattes(self, frames: list[int]) -> list[int]:
        """The frames whose matte file is not in the cache."""
        return [frame for frame in frames if not frame_path(self.matte, frame).is_file()]
