"""Which frames a render composites, and which of them need their matte baked before they render.

A render handler is not told whether it serves a still or an animation, nor which frames are to
come: ``blender -b shot.blend -f 1001..1010`` renders each listed frame as a render of its own.
So the frames come from Blender's command line when it lists them with ``-f`` / ``--render-frame``
(Blender's ``sys.argv`` is its whole command line), else from the scene as ``-a`` and Render
Animation render them (``frame_start``..``frame_end`` every ``frame_step``) from the first frame
rendered on. A cache frame counts as current when its file is newer than every file it is made
from; the others are baked with the core's ``--skip-existing``, which keeps those whose inputs'
fingerprints did not change.
"""
from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable

import bpy

from .request import MatteRequest

RENDER_FRAME_FLAGS = frozenset({"-f", "--render-frame"})
RENDER_ANIMATION_FLAGS = frozenset({"-a", "--render-anim"})
MISSING, STALE = "missing", "stale"


def command_line_frames(argv: list[str], start: int, end: int) -> list[int] | None:
    """The frames Blender's command line renders with ``-f``, sorted; None when it lists none.

    None too when the command line also renders the scene range (``-a``), or when a value does not
    parse (Blender then refuses it as well). Values as Blender reads them: ``1001``, ``1001..1010``,
    comma lists, ``+N`` counted from the scene's start and ``-N`` back from its end (``-1`` = end).
    """
    options = argv[:argv.index("--")] if "--" in argv else argv
    if RENDER_ANIMATION_FLAGS & set(options):
        return None
    values = [options[index + 1] for index, option in enumerate(options[:-1]) if option in RENDER_FRAME_FLAGS]
    frames: set[int] = set()
    for item in (item for value in values for item in value.split(",")):
        listed = _frame_item(item, start, end)
        if listed is None:
            return None
        frames.update(listed)
    return sorted(frames) if values else None


def _frame_item(item: str, start: int, end: int) -> range | None:
    """The frames of one ``-f`` item (``N`` or ``A..B``), or None when it does not parse."""
    first, separator, last = item.partition("..")
    try:
        low = _frame_number(first, start, end)
        high = _frame_number(last, start, end) if separator else low
    except ValueError:
        return None
    return range(low, high + 1)


def _frame_number(text: str, start: int, end: int) -> int:
    """One ``-f`` number, with Blender's relative forms ``+N`` and ``-N``.

    Raises:
        ValueError: not a number.
    """
    if text.startswith("+"):
        return start + int(text[1:])
    if text.startswith("-"):
        return end - int(text[1:]) + 1
    return int(text)


def render_frames(scene: bpy.types.Scene, first: int, listed: list[int] | None) -> list[int]:
    """The frames a render starting at ``first`` composites: ``first``, then the later listed or scene frames."""
    frames: Iterable[int] = listed if listed is not None else range(scene.frame_start, scene.frame_end + 1,
                                                                      scene.frame_step)
    return [first, *(frame for frame in frames if frame > first)]


def bake_state(request: MatteRequest, frame: int) -> str | None:
    """MISSING or STALE when the frame's matte must be baked first; None when it is current or has no footage."""
    if not request.input_path(frame).is_file():
        return None
    output = request.output_path(frame)
    if not output.is_file():
        return MISSING
    return STALE if newest_source(request, frame) > output.stat().st_mtime_ns else None


def newest_source(request: MatteRequest, frame: int) -> int:
    """The latest modification time (ns) of the existing files the frame's matte is made from."""
    return max((path.stat().st_mtime_ns for path in request.source_files(frame) if path.is_file()), default=0)


def mark_current(request: MatteRequest, frame: int) -> None:
    """Date a cache frame the core re-checked and kept after its newest input, so later renders take it as current.

    A cache that cannot be re-dated (read-only) is left as it is: the next render asks the core again.
    """
    stamp = max(time.time_ns(), newest_source(request, frame))
    with contextlib.suppress(OSError):
        os.utime(request.output_path(frame), ns=(stamp, stamp))
