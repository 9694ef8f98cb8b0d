"""Read OpenEXR headers and pixels with OpenImageIO, placed on a canvas window, channels chosen by name.

Pixels come back as float32, channels-last, in the file's own colourspace and premultiplication
state; nothing here converts colour.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from bgmatte.errors import FrameError, InputError
from bgmatte.fingerprint import open_regular, stat_regular
from bgmatte.io.windows import Window, matched_data_window

log = logging.getLogger(__name__)

# OpenEXR's C++ reader prints its own complaints about corrupt chunks straight to stderr, next to
# our one-line error; OpenEXRCore reports them through OIIO's error queue instead, at the same speed.
oiio.attribute("openexr:core", 1)

EXR_MAGIC = b"\x76\x2f\x31\x01"
# RGB layer prefixes (last dotted part, lower case) preferred when a file has several RGB sets:
# unprefixed, Nuke/OIIO "rgba", Blender's "Combined" pass, a "beauty" pass.
_PREFERRED_RGB_LAYERS = ("", "rgba", "rgb", "combined", "beauty")


@dataclass(frozen=True)
class Attribute:
    """One header attribute with its exact OpenImageIO type, so it can be written back unchanged."""

    name: str
    type_desc: oiio.TypeDesc
    value: object


@dataclass(frozen=True)
class ImageHeader:
    """What the header of an EXR says (part 0 of a multi-part file).

    Attributes:
        path: the file.
        data_window: the pixels stored in the file.
        display_window: the frame (may be smaller than the data window: overscan).
        channels: channel names in OpenImageIO's order.
        attributes: every metadata attribute, with exact types.
        format: pixel type of the channels, e.g. "half" or "float".
    """

    path: Path
    data_window: Window
    display_window: Window
    channels: tuple[str, ...]
    attributes: tuple[Attribute, ...]
    format: str


def read_header(path: str | Path) -> ImageHeader:
    """Read the header of an OpenEXR file (no pixels).

    Raises:
        InputError: (path, problem) when the file is missing, is not an OpenEXR file, its header
            cannot be read, or it is a deep image.
    """
    with open_exr(path) as (_, spec):
        return ImageHeader(
            path=Path(path),
            data_window=Window.from_spec_data(spec),
            display_window=Window.from_spec_display(spec),
            channels=tuple(spec.channelnames),
            attributes=tuple(Attribute(p.name, p.type, p.value) for p in spec.extra_attribs),
            format=str(spec.format),
        )


def read_rgb(path: str | Path, canvas: Window) -> np.ndarray:
    """The R, G, B channels of an EXR on ``canvas``: zeros where the file has no data.

    Channels are found by name, case-insensitive, with or without a layer prefix (``rgba.R``,
    ``ViewLayer.Combined.R``), whatever order OpenImageIO lists them in.

    Returns:
        (canvas.height, canvas.width, 3) float32, the file's colourspace and premultiplication.

    Raises:
        InputError: the file does not open (see read_header) or has no R, G and B channels.
        FrameError: the pixel data is truncated or corrupt.
    """
    with open_exr(path) as (image, spec):
        channels = rgb_channels(spec.channelnames, path)
        return _read_channels(image, spec, channels, canvas, path)


def read_mask(path: str | Path, canvas: Window) -> np.ndarray:
    """A matte from an EXR on ``canvas``: its only channel, else its alpha, else its first channel.

    Returns:
        (canvas.height, canvas.width) float32, zeros where the file has no data.

    Raises:
        InputError: the file does not open (see read_header).
        FrameError: the pixel data is truncated or corrupt.
    """
    with open_exr(path) as (image, spec):
        channel = _mask_channel(spec)
        return _read_channels(image, spec, (channel,), canvas, path)[..., 0]


def read_rgb_matched(path: str | Path, canvas: Window, display: Window) -> tuple[np.ndarray, Window]:
    """Like read_rgb, with the file matched to the run on the display window (see matched_data_window).

    Returns:
        (pixels on ``canvas``, zeros where the file has no data; the file's data window in the
        run's coordinates).
    """
    with open_exr(path) as (image, spec):
        channels = rgb_channels(spec.channelnames, path)
        return _read_matched(image, spec, channels, canvas, display, path)


def read_mask_matched(path: str | Path, canvas: Window, display: Window) -> tuple[np.ndarray, Window]:
    """Like read_mask, with the file matched to the run on the display window; also its data window."""
    with open_exr(path) as (image, spec):
        pixels, data = _read_matched(image, spec, (_mask_channel(spec),), canvas, display, path)
        return pixels[..., 0], data


def _read_matched(image: oiio.ImageInput, spec: oiio.ImageSpec, channels: tuple[int, ...], canvas: Window,
                  display: Window, path: str | Path) -> tuple[np.ndarray, Window]:
    file_display = Window.from_spec_display(spec)
    dx, dy = display.x - file_display.x, display.y - file_display.y
    pixels = _read_channels(image, spec, channels, canvas.translate(-dx, -dy), path)
    return pixels, matched_data_window(display, file_display, Window.from_spec_data(spec))


def check_finite(pixels: np.ndarray, path: str | Path, canvas: Window | None = None) -> None:
    """Refuse pixels holding NaN or Inf (negative and above-1 values are valid scene-linear data).

    Args:
        pixels: (H, W) or (H, W, C) float array, best C-contiguous (a strided view is ~10x slower).
        path: the file the pixels came from, for the message.
        canvas: the window the pixels lie on, so the reported x, y are the image's own coordinates.

    Raises:
        FrameError: (path, "<n> NaN/Inf pixels (first at x=.., y=..); fix the file or pass
            --repair-nonfinite").
    """
    finite = np.isfinite(pixels)
    if finite.all():
        return
    bad = ~finite if finite.ndim == 2 else ~finite.all(axis=-1)
    row, col = np.unravel_index(int(np.argmax(bad)), bad.shape)
    x0, y0 = (canvas.x, canvas.y) if canvas is not None else (0, 0)
    raise FrameError(path, f"{int(bad.sum())} NaN/Inf pixels (first at x={x0 + col}, y={y0 + row}); "
                           "fix the file or pass --repair-nonfinite")


def repair_nonfinite(pixels: np.ndarray) -> tuple[np.ndarray, int]:
    """Set NaN and Inf samples to 0, in place, and count the pixels touched.

    0 is "no light" in linear light: it adds no energy to the compositing equation, whereas a clamp
    to the half maximum (65504) would create a false highlight that the plate difference reads as
    subject, and filling from neighbours would smear a dead pixel into its surroundings.

    Args:
        pixels: (H, W) or (H, W, C) float array; it is changed in place.

    Returns:
        (pixels, number of pixels that had at least one NaN/Inf sample).
    """
    bad = ~np.isfinite(pixels)
    if not bad.any():
        return pixels, 0
    pixels[bad] = 0
    count = int(bad.sum() if bad.ndim == 2 else bad.any(axis=-1).sum())
    return pixels, count


@contextmanager
def open_exr(path: str | Path) -> Iterator[tuple[oiio.ImageInput, oiio.ImageSpec]]:
    """Open part 0 of an OpenEXR file, turning every way it can fail into an InputError."""
    _check_is_exr(Path(path))
    image = oiio.ImageInput.open(str(path))
    if image is None:
        raise InputError(path, f"unreadable header: {oiio_errors()}")
    try:
        if image.format_name() != "openexr":
            raise InputError(path, "not an OpenEXR file")
        spec = image.spec()
        if spec.deep:
            raise InputError(path, "is a deep EXR; bgmatte needs a flat image (flatten it first)")
        yield image, spec
    finally:
        image.close()


def _check_is_exr(path: Path) -> None:
    """Missing, a folder, a FIFO/device/link loop, unreadable or not an OpenEXR file (by its magic number).

    Only regular files are opened (non-blocking, checked again after opening): a FIFO named like a
    frame would otherwise block the run forever.
    """
    if path.is_dir():
        raise InputError(path, "is a folder, not an EXR file")
    try:
        if stat_regular(path) is None:
            raise FileNotFoundError(path)
        with open_regular(path) as handle:
            magic = handle.read(len(EXR_MAGIC))
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except OSError as error:
        raise InputError(path, f"cannot read the file: {error.strerror or error}".lower()) from None
    if magic != EXR_MAGIC:
        raise InputError(path, "not an OpenEXR file")


def _read_channels(image: oiio.ImageInput, spec: oiio.ImageSpec, channels: tuple[int, ...],
                   canvas: Window, path: str | Path) -> np.ndarray:
    """Read the given channel indices as float32 (H, W, len(channels)) on ``canvas``.

    Contiguous ascending channels (the usual R, G, B) are read straight into the returned array;
    when the data window is the canvas no copy is made.
    """
    first, last = min(channels), max(channels)
    pixels = image.read_image(0, 0, first, last + 1, "float")
    if pixels is None or image.has_error:
        raise FrameError(path, f"truncated or corrupt pixel data: {oiio_errors(image)}")
    data = Window.from_spec_data(spec)
    pixels = pixels.reshape(data.height, data.width, last + 1 - first)
    if channels != tuple(range(first, last + 1)):
        pixels = pixels[..., [c - first for c in channels]]
    if data == canvas:
        return pixels
    placed = np.zeros((canvas.height, canvas.width, len(channels)), np.float32)
    overlap = data.intersection(canvas)
    if overlap is None:
        log.warning("%s: data window %s lies outside the canvas %s; reading it as empty", path, data, canvas)
        return placed
    placed[overlap.slices_in(canvas)] = pixels[overlap.slices_in(data)]
    return placed


def rgb_channels(names: tuple[str, ...], path: str | Path) -> tuple[int, int, int]:
    """Indices of R, G, B by name (case-insensitive, any layer prefix); one RGB layer must win."""
    layers: dict[str, dict[str, int]] = {}
    for index, name in enumerate(names):
        prefix, _, leaf = name.rpartition(".")
        if leaf.lower() in ("r", "g", "b"):
            layers.setdefault(prefix, {}).setdefault(leaf.lower(), index)
    complete = [prefix for prefix, found in layers.items() if len(found) == 3]
    if not complete:
        raise InputError(path, f"has channels ({', '.join(names)}); bgmatte needs R, G and B")
    if len(complete) > 1:
        for preferred in _PREFERRED_RGB_LAYERS:
            matches = [p for p in complete if p.rpartition(".")[2].lower() == preferred]
            if len(matches) == 1:
                complete = matches
                break
        else:
            raise InputError(path, f"has several RGB layers ({', '.join(complete)}); "
                                   "bgmatte needs one R, G, B set (shuffle the beauty to rgba first)")
    found = layers[complete[0]]
    return found["r"], found["g"], found["b"]


def _mask_channel(spec: oiio.ImageSpec) -> int:
    """The only channel, else the alpha (OIIO's or one named A / alpha), else channel 0."""
    if spec.nchannels == 1:
        return 0
    if spec.alpha_channel >= 0:
        return spec.alpha_channel
    for index, name in enumerate(spec.channelnames):
        if name.rpartition(".")[2].lower() in ("a", "alpha"):
            return index
    return 0


def oiio_errors(handle: oiio.ImageInput | oiio.ImageOutput | None = None) -> str:
    """Pending OpenImageIO errors (the handle's and the global ones) on one line, and clear them.

    Both queues are drained so no stale message leaks into a later error or into the warning
    OpenImageIO prints at exit for unread errors.
    """
    messages = (handle.geterror() if handle is not None else "") + "\n" + oiio.geterror()
    return "; ".join(line.strip() for line in messages.splitlines() if line.strip()) or "unknown error"
