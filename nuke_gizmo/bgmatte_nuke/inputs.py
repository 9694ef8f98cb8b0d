"""Render the node's inputs to EXR in its cache folder, raw (the script's working space, no conversion).

Temporary Write nodes at the root of the script read what is connected to Source, CleanPlate,
Roto, Garbage and Core; they are deleted again whatever happens, so nothing extra is left in the script (nor for
`nuke -x` to render).
"""
from __future__ import annotations

from pathlib import Path

import nuke

from bgmatte_nuke.settings import CLEAN_PLATE, MASK_INPUTS, SOURCE, NodeSettings

EXR_DATATYPE = "16 bit half"


def _write(upstream, path: Path, channels: str):
    """A temporary Write of ``upstream`` to ``path`` (half float EXR, raw)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write = nuke.nodes.Write(file=path.as_posix(), file_type="exr", channels=channels, raw=True,
                             datatype=EXR_DATATYPE, create_directories=True)
    write.setInput(0, upstream)
    return write


def render_inputs(node, settings: NodeSettings) -> dict[str, str]:
    """Render Source, CleanPlate (one frame when it is a still) and the connected mattes (alpha) over the range.

    Source gets 2 x motion gap frames of handles on both sides, so that the motion cues of the
    first and last frames are the same as ``bgmatte matte`` gives on the whole shot (beyond the
    source's own frames, Nuke holds its first / last frame, as bgmatte clamps at them). Roto,
    Garbage and Core, when connected, are rendered over the frame range (their alpha).

    Returns:
        The rendered matte patterns by core setting: "seg" (Roto), "garbage", "core"; only the
        connected ones.

    Raises:
        RuntimeError: from Nuke when a render fails or the artist cancels it.
    """
    layout = settings.cache
    masks = {role: node.input(index) for index, role in MASK_INPUTS.items() if node.input(index) is not None}
    handles = 2 * settings.motion_gap
    with nuke.root():
        source = _write(node.input(SOURCE), layout.source, "rgb")
        plate = _write(node.input(CLEAN_PLATE), layout.plate(settings.plate_still), "rgb")
        mask_writes = [_write(upstream, layout.mask(role), "alpha") for role, upstream in masks.items()]
        in_range = ([] if settings.plate_still else [plate]) + mask_writes
        try:
            nuke.execute(source, settings.first - handles, settings.last + handles)
            if in_range:
                nuke.executeMultiple(tuple(in_range), ((settings.first, settings.last, 1),))
            if settings.plate_still:
                nuke.execute(plate, settings.first, settings.first)
        finally:
            for write in {id(w): w for w in [source, plate, *in_range]}.values():
                nuke.delete(write)
    return {role: layout.mask(role).as_posix() for role in masks}
