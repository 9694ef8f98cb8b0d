"""Bank files on disk: whole-image EXR read and atomic write (origin (0, 0), one part).

Bank files are simpler than shot frames (no data windows, no metadata to keep), so they get this
small reader/writer instead of the shot I/O in ``bgmatte.io``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from bgmatte.errors import InputError
from bgmatte.io.atomic import atomic_output


def write_exr(path: Path, pixels: np.ndarray, channels: tuple[str, ...], half: bool = True) -> None:
    """Write an image as a ZIP-compressed EXR atomically (temp file in the folder, then rename).

    Args:
        path: Destination file; its folder is created.
        pixels: (H, W, C) float array, C == len(channels); linear ACEScg for bank files.
        channels: Channel names in order, e.g. ("R", "G", "B", "A").
        half: Store half floats (else float32).
    """
    if pixels.ndim != 3 or pixels.shape[2] != len(channels):
        raise ValueError(f"pixels must be (H, W, {len(channels)}), got {pixels.shape}")
    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], len(channels), "half" if half else "float")
    spec.channelnames = channels
    spec.attribute("compression", "zip")
    with atomic_output(path) as temp:
        out = oiio.ImageOutput.create(str(temp))
        if out is None or not out.open(str(temp), spec):
            raise OSError(f"{path}: cannot open for writing: {oiio.geterror()}")
        ok = out.write_image(np.ascontiguousarray(pixels, dtype=np.float32))
        out.close()
        if not ok:
            raise OSError(f"{path}: write failed: {oiio.geterror()}")


def read_exr(path: Path, channels: tuple[str, ...]) -> np.ndarray:
    """Read the named channels of a bank EXR as float32 (H, W, len(channels)).

    Raises:
        InputError: If the file is missing, unreadable or lacks one of ``channels``.
    """
    image = oiio.ImageInput.open(str(path))
    if image is None:
        raise InputError(path, f"cannot open bank image: {oiio.geterror().strip() or 'unreadable'}")
    try:
        spec = image.spec()
        names = [name.upper() for name in spec.channelnames]
        missing = [name for name in channels if name.upper() not in names]
        if missing:
            raise InputError(path, f"bank image lacks channel(s) {', '.join(missing)}")
        pixels = image.read_image(0, 0, 0, spec.nchannels, "float")
        if pixels is None:
            raise InputError(path, f"cannot read pixels: {image.geterror()}")
    finally:
        image.close()
    pixels = np.asarray(pixels, dtype=np.float32).reshape(spec.height, spec.width, spec.nchannels)
    return pixels[..., [names.index(name.upper()) for name in channels]]
