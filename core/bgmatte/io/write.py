"""Write the matte EXR (half float RGBA plus optional layers, the input's windows and metadata), and
tell whether an existing output is complete (for --skip-existing).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import torch

from bgmatte.errors import BgmatteError, FrameError
from bgmatte.io.atomic import atomic_output
from bgmatte.io.exr import Attribute, ImageHeader, oiio_errors, open_exr
from bgmatte.io.windows import Window

log = logging.getLogger(__name__)

# Source attributes that would be wrong on the matte: our compression replaces theirs, OIIO and
# OpenEXR internals describe the old file, part/view/tile/channel layout is ours now, DateTime is
# the time of writing, and old bgmatte settings would confuse --skip-existing.
_DROPPED_NAMES = frozenset({
    "compression", "DateTime", "name", "type", "version", "chunkCount", "tiles",
    "view", "multiView", "BlenderMultiChannel",
})
_DROPPED_PREFIXES = ("oiio:", "openexr:", "bgmatte:")
_LAYER_CHANNELS = {1: ("Y",), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}
HALF_MAX = 65504.0  # the largest finite half float


def write_matte(path: str | Path, rgba: np.ndarray, canvas: Window, source: ImageHeader,
                layers: Mapping[str, np.ndarray] | None = None, attributes: Mapping[str, str] | None = None,
                flatten: bool = False, compression: str = "zip") -> None:
    """Write a premultiplied RGBA matte as a half-float EXR, atomically.

    Channels are R, G, B, A (A flagged as alpha), then each layer: (H, W, 3) "fg" -> fg.R, fg.G,
    fg.B; (H, W) "shadow" -> shadow.Y. The file keeps the source's display and data windows (only
    the data-window part of the canvas is written; data outside the canvas is written as 0) and its
    metadata with exact types, minus attributes that would now be wrong; ``attributes`` are added
    as strings (e.g. "bgmatte:version").

    Args:
        path: the output file; its folder is created if needed.
        rgba: (canvas.height, canvas.width, 4) float32, premultiplied, output colourspace.
        canvas: the window ``rgba`` and the layers lie on.
        source: the input frame's header (windows and metadata to keep).
        layers: name -> (H, W) or (H, W, 1|3|4) float32 on the canvas.
        attributes: extra string attributes; they win over source attributes of the same name.
        flatten: write on the display window (data window = display window), as Blender needs.
        compression: EXR compression name as OpenImageIO spells it ("zip", "piz", "dwaa:45", ...).

    Raises:
        InputError: the output folder cannot be created.
        FrameError: OpenImageIO cannot write the file, or a written channel holds NaN/Inf
            (nothing is left at ``path`` then, and an existing file there is untouched). Finite
            values beyond the half-float range are clamped to +-65504 with a warning.
    """
    path = Path(path)
    planes = [("", rgba)] + list((layers or {}).items())
    names = [name for prefix, plane in planes for name in _channel_names(prefix, plane, canvas)]
    window = source.display_window if flatten else source.data_window
    pixels = _assemble([plane for _, plane in planes], names, canvas, window, source.data_window, path)
    spec = _output_spec(window, source, names, attributes or {}, compression)
    try:
        with atomic_output(path) as temp:
            _write_exr(temp, spec, pixels, path)
    except OSError as error:
        raise FrameError(path, f"cannot write: {(error.strerror or str(error)).lower()}") from None


def read_complete(path: str | Path) -> dict[str, str] | None:
    """All attributes of an EXR as strings if it opens and all its pixel data reads, else None.

    --skip-existing uses this: a truncated or corrupt output is recomputed, not skipped.
    """
    try:
        with open_exr(path) as (image, spec):
            pixels = image.read_image(0, 0, 0, spec.nchannels, oiio.UNKNOWN)
            if pixels is None or image.has_error:
                log.info("%s: incomplete: %s", path, oiio_errors(image))
                return None
            return {p.name: p.value if isinstance(p.value, str) else spec.metadata_val(p)
                    for p in spec.extra_attribs}
    except BgmatteError as error:
        log.info("%s: incomplete: %s", path, error.problem)
        return None


def _channel_names(prefix: str, plane: np.ndarray, canvas: Window) -> tuple[str, ...]:
    """EXR channel names of one plane: R,G,B,A for the matte, <layer>.R/G/B or <layer>.Y for layers."""
    if plane.shape[:2] != canvas.shape:
        raise ValueError(f"{prefix or 'rgba'} is {plane.shape[:2]}, the canvas is {canvas.shape}")
    depth = 1 if plane.ndim == 2 else plane.shape[2]
    if depth not in _LAYER_CHANNELS or plane.ndim > 3 or (not prefix and depth != 4):
        raise ValueError(f"{prefix or 'rgba'} has shape {plane.shape}; expected (H, W, 4) for rgba and "
                         "(H, W), (H, W, 1), (H, W, 3) or (H, W, 4) for a layer")
    return tuple(f"{prefix}.{c}" if prefix else c for c in _LAYER_CHANNELS[depth])


def _assemble(planes: list[np.ndarray], names: list[str], canvas: Window, window: Window,
              content: Window, path: Path) -> np.ndarray:
    """One (window.height, window.width, nchannels) half array: the planes' part on ``window``.

    Only pixels inside ``content`` (the input's data window) are copied; the rest of a flattened
    display window is empty, as it was in the input. Converting to half here, while copying, costs
    less than letting OpenImageIO convert float32.
    """
    overlap = window.intersection(canvas)
    overlap = overlap.intersection(content) if overlap is not None else None
    allocate = np.empty if overlap == window else np.zeros
    pixels = allocate((window.height, window.width, len(names)), np.float16)
    if overlap is None:
        return pixels
    dst_rows, dst_cols = overlap.slices_in(window)
    src_rows, src_cols = overlap.slices_in(canvas)
    # torch converts to half at memory speed; NumPy takes ~20x longer on values that become half
    # subnormals (below 6.1e-5), which a matte's background is full of.
    target = torch.from_numpy(pixels)
    channel = 0
    for plane in planes:
        depth = 1 if plane.ndim == 2 else plane.shape[2]
        part = plane[src_rows, src_cols]
        source = torch.from_numpy(np.ascontiguousarray(part, np.float32)).reshape(*part.shape[:2], depth)
        source = _in_half_range(source, path, names[channel:channel + depth], overlap)
        target[dst_rows, dst_cols, channel:channel + depth].copy_(source)
        channel += depth
    return pixels


def _in_half_range(values: torch.Tensor, path: Path, names: list[str], window: Window) -> torch.Tensor:
    """``values`` ready for half: refuse NaN/Inf, clamp finite values beyond +-65504 with a warning.

    A NaN or Inf sample fails the frame with nothing written (a matte of NaN is worse than none).
    Finite values beyond the largest half float would become Inf in OpenEXR half: they are clamped
    to +-65504 (the input holds light beyond what a half-float matte stores), with a warning.

    Raises:
        FrameError: (path, "<n> NaN/Inf values in the matte (channels ..., first at x=.., y=..); not written").
    """
    low, high = torch.aminmax(values)
    low, high = float(low), float(high)
    if not (np.isfinite(low) and np.isfinite(high)):
        bad = ~torch.isfinite(values)
        channels = [name for name, hit in zip(names, bad.flatten(0, 1).any(dim=0).tolist()) if hit]
        row, col = np.unravel_index(int(torch.argmax(bad.any(dim=-1).flatten().to(torch.uint8))), bad.shape[:2])
        raise FrameError(path, f"{int(bad.sum())} NaN/Inf values in the matte (channels {', '.join(channels)}, "
                               f"first at x={window.x + int(col)}, y={window.y + int(row)}); not written")
    if low >= -HALF_MAX and high <= HALF_MAX:
        return values
    count = int(((values > HALF_MAX) | (values < -HALF_MAX)).sum())
    log.warning("%s: %d values in %s beyond the half-float range (+-65504) clamped to it",
                path, count, ", ".join(names))
    return values.clamp(-HALF_MAX, HALF_MAX)


def _output_spec(window: Window, source: ImageHeader, names: list[str], attributes: Mapping[str, str],
                 compression: str) -> oiio.ImageSpec:
    """Half-float spec on ``window`` with the source's display window and surviving metadata."""
    spec = oiio.ImageSpec(window.width, window.height, len(names), "half")
    spec.x, spec.y = window.x, window.y
    display = source.display_window
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = display.x, display.y, display.width, display.height
    spec.channelnames = tuple(names)
    spec.alpha_channel = 3
    for attribute in source.attributes:
        if _keeps(attribute):
            spec.attribute(attribute.name, attribute.type_desc, attribute.value)
    spec.attribute("compression", compression)
    for name, value in attributes.items():
        spec.attribute(name, str(value))
    return spec


def _keeps(attribute: Attribute) -> bool:
    return attribute.name not in _DROPPED_NAMES and not attribute.name.startswith(_DROPPED_PREFIXES)


def _write_exr(temp: Path, spec: oiio.ImageSpec, pixels: np.ndarray, path: Path) -> None:
    """Write ``pixels`` to ``temp``, checking every OpenImageIO call; errors name the real output."""
    output = oiio.ImageOutput.create(str(temp))
    if output is None:
        raise FrameError(path, f"cannot write: {oiio_errors()}")
    try:
        if not output.open(str(temp), spec):
            raise FrameError(path, f"cannot write: {oiio_errors(output)}")
        if not output.write_image(pixels):
            raise FrameError(path, f"cannot write: {oiio_errors(output)}")
    finally:
        closed = output.close()
    if not closed or output.has_error:
        raise FrameError(path, f"cannot write: {oiio_errors(output)}")
