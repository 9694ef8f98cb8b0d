"""Render the node's inputs to EXR in its cache folder, raw (the script's working space, no conversion).

Temporary Write nodes at the root of the script read what is connected to Source, CleanPlate and
Roto; they are deleted again whatever happens, so nothing extra is left in the script (nor for
`nuke -x` to render).
"""
from __future__ import annotations

from pathlib import Path

import nuke

from bgmatte_nuke.settings import CLEAN_PLATE, ROTO, SOURCE, NodeSettings

EXR_DATATYPE = "16 bit half"


def _write(upstream, path: Path, channels: str):
    """A temporary Write of ``upstream`` to ``path`` (half float EXR, raw)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write = nuke.nodes.Write(file=path.as_posix(), file_type="exr", channels=channels, raw=True,
                             datatype=EXR_DATATYPE, create_directories=True)
    write.setInput(0, upstream)
    return write


def render_inputs(node, settings: NodeSettings) -> str | None:
    """Render Source, CleanPlate (one frame when it is a still) and Roto (alpha) over the frame range.

    Source gets 2 x motion gap frames of handles on both sides, so that the motion cues of the
    first and last frames are the same as ``bgmatte matte`` gives on the whole shot (beyond the
    source's own frames, Nuke holds its first / last frame, as bgmatte clamps at them).

    Returns:
        The roto pattern to use as bgmatte's ``--seg``, or None when Roto is not connected.

    Raises:
        RuntimeError: from Nuke when a render fails or the artist cancels it.
    """
    layout = settings.cache
    roto = node.input(ROTO)
    handles = 2 * settings.motion_gap
    with nuke.root():
        source = _write(node.input(SOURCE), layout.source, "rgb")
        plate = _write(node.input(CLEAN_PLATE), layout.plate(settings.plate_still), "rgb")
        in_range = ([] if settings.plate_still else [plate]) + ([_write(roto, layout.roto, "alpha")] if roto else [])
        try:
            nuke.execute(source, settings.first - handles, settings.last + handles)
            if in_range:
                nuke.executeMultiple(tuple(in_range), ((settings.first, settings.last, 1),))
            if settings.plate_still:
                nuke.execute(plate, settings.first, settings.first)
        finally:
            for write in {id(w): w for w in [source, plate, *in_range]}.values():
                nuke.delete(write)
    return layout.roto.as_posix() if roto is not None else None
