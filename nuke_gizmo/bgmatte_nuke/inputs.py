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

    Returns:
        The roto pattern to use as bgmatte's ``--seg``, or None when Roto is not connected.

    Raises:
        RuntimeError: from Nuke when a render fails or the artist cancels it.
    """
    layout = settings.cache
    roto = node.input(ROTO)
    with nuke.root():
        writes = [_write(node.input(SOURCE), layout.source, "rgb")]
        plate = _write(node.input(CLEAN_PLATE), layout.plate(settings.plate_still), "rgb")
        if not settings.plate_still:
            writes.append(plate)
        if roto is not None:
            writes.append(_write(roto, layout.roto, "alpha"))
        try:
            nuke.executeMultiple(tuple(writes), ((settings.first, settings.last, 1),))
            if settings.plate_still:
                nuke.execute(plate, settings.first, settings.first)
        finally:
            for write in writes + ([plate] if settings.plate_still else []):
                nuke.delete(write)
    return layout.roto.as_posix() if roto is not None else None
