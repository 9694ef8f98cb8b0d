"""A small PNG to eyeball a matte: per row a source frame, its matte, and the comp over a checkerboard.

Pixels are scaled down in linear light (area average, so edges and motion blur keep their weight),
the comp is premultiplied RGB over a checkerboard, and only then does the bundled OCIO config's
display view turn linear light into 8-bit sRGB. The matte column is alpha shown as grey code values
(alpha is coverage, not light: no view transform).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import OpenImageIO as oiio
import PyOpenColorIO as ocio

from bgmatte.color.config import bundled_config
from bgmatte.errors import InputError
from bgmatte.io import atomic_output

log = logging.getLogger(__name__)

SRGB_VIEW = ("sRGB - Display", "Un-tone-mapped")  # (display, view) in the bundled config
ROW_HEIGHT = 180  # pixels per row; frames smaller than this are not enlarged
GAP = 4  # pixels between cells
GAP_GREY = 0.1  # display code value of the gaps
CHECKER_SIZE = 12  # checkerboard square, display pixels
CHECKER_LINEAR = (0.18, 0.05)  # scene-linear greys of the checkerboard squares


def srgb_oetf(linear: np.ndarray) -> np.ndarray:
    """The piecewise sRGB encoding (IEC 61966-2-1) of linear values, clipped to [0, 1]; same shape."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1.0 / 2.4) - 0.055).astype(np.float32)


def sheet_path_problem(path: str | Path) -> InputError | None:
    """The error for a contact sheet path this module cannot write (only .png), else None."""
    if Path(path).suffix.lower() != ".png":
        return InputError(path, "the contact sheet must be a .png file")
    return None


@lru_cache(maxsize=4)
def _display_processor(display: str, view: str) -> ocio.CPUProcessor | None:
    """CPU processor from the bundled config's scene_linear to (display, view); None if it lacks them."""
    config = bundled_config().config
    if display not in config.getDisplays() or view not in config.getViews(display):
        return None
    transform = ocio.DisplayViewTransform(src=ocio.ROLE_SCENE_LINEAR, display=display, view=view)
    return config.getProcessor(transform).getDefaultCPUProcessor()


def to_display(linear_rgb: np.ndarray, colour_view: tuple[str, str] = SRGB_VIEW) -> np.ndarray:
    """Scene-linear RGB (the bundled config's scene_linear, ACEScg) to display code values in [0, 1].

    Uses the bundled config's (display, view); a config without them falls back to the plain sRGB
    encoding of the values as they are, with a warning.

    Args:
        linear_rgb: (H, W, 3) scene-linear RGB.
        colour_view: (display, view) names in the bundled config.

    Returns:
        (H, W, 3) float32 display code values in [0, 1].
    """
    processor = _display_processor(*colour_view)
    if processor is None:
        log.warning("the bundled OCIO config has no display %r with view %r; using the plain sRGB curve", *colour_view)
        return srgb_oetf(linear_rgb)
    pixels = np.ascontiguousarray(linear_rgb, dtype=np.float32).copy()
    processor.applyRGB(pixels)
    return np.clip(pixels, 0.0, 1.0)


def _resize(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-average (H, W[, C]) float pixels to (height, width) = size; linear light stays linear."""
    height, width = size
    if pixels.shape[:2] == (height, width):
        return np.asarray(pixels, dtype=np.float32)
    return cv2.resize(np.asarray(pixels, dtype=np.float32), (width, height), interpolation=cv2.INTER_AREA)


def _checkerboard(height: int, width: int) -> np.ndarray:
    """(H, W, 3) float32 scene-linear checkerboard of CHECKER_LINEAR greys."""
    rows = (np.arange(height) // CHECKER_SIZE)[:, None]
    cols = (np.arange(width) // CHECKER_SIZE)[None, :]
    grey = np.where((rows + cols) % 2 == 0, *CHECKER_LINEAR).astype(np.float32)
    return np.repeat(grey[..., None], 3, axis=2)


def _row_cells(frame_rgb: np.ndarray, alpha: np.ndarray, premult_rgb: np.ndarray, size: tuple[int, int],
               colour_view: tuple[str, str]) -> list[np.ndarray]:
    """The three display-referred (h, w, 3) cells of one row: frame, matte, comp over the checkerboard."""
    frame = _resize(frame_rgb, size)
    matte = np.clip(_resize(alpha, size), 0.0, 1.0)
    premult = _resize(premult_rgb, size)
    comp = premult + (1.0 - matte[..., None]) * _checkerboard(*size)
    return [to_display(frame, colour_view), np.repeat(matte[..., None], 3, axis=2), to_display(comp, colour_view)]


def write_contact_sheet(path_png: str | Path,
                        rows: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
                        colour_view: tuple[str, str] = SRGB_VIEW) -> tuple[int, int]:
    """Write an 8-bit sRGB PNG with one row per frame: frame | matte | comp over a checkerboard.

    Rows are ROW_HEIGHT pixels high (smaller frames keep their size), cells are GAP pixels apart.
    The file is written atomically (temp file in the same folder, then rename).

    Args:
        path_png: the .png to write.
        rows: per row (frame_rgb (H, W, 3) scene-linear, alpha (H, W) in [0, 1], premult_rgb
            (H, W, 3) scene-linear premultiplied); every row the same size.
        colour_view: (display, view) of the bundled OCIO config for the RGB cells.

    Returns:
        (width, height) of the written image.

    Raises:
        InputError: (path, problem) when the file cannot be written.
    """
    if not rows:
        raise ValueError("a contact sheet needs at least one row")
    source_height, source_width = rows[0][1].shape
    for frame_rgb, alpha, premult_rgb in rows:
        if frame_rgb.shape != (source_height, source_width, 3) or alpha.shape != (source_height, source_width) \
                or premult_rgb.shape != (source_height, source_width, 3):
            raise ValueError("every row needs frame (H, W, 3), alpha (H, W) and premult (H, W, 3) of one size")
    height = min(ROW_HEIGHT, source_height)
    width = max(1, round(source_width * height / source_height))
    sheet_width = 3 * width + 4 * GAP
    sheet_height = len(rows) * height + (len(rows) + 1) * GAP
    sheet = np.full((sheet_height, sheet_width, 3), GAP_GREY, dtype=np.float32)
    for index, (frame_rgb, alpha, premult_rgb) in enumerate(rows):
        top = GAP + index * (height + GAP)
        for column, cell in enumerate(_row_cells(frame_rgb, alpha, premult_rgb, (height, width), colour_view)):
            left = GAP + column * (width + GAP)
            sheet[top:top + height, left:left + width] = cell
    _write_png(Path(path_png), np.round(sheet * 255.0).astype(np.uint8))
    return sheet_width, sheet_height


def _write_png(path: Path, pixels: np.ndarray) -> None:
    """Write (H, W, 3) uint8 pixels as a PNG with OpenImageIO, atomically."""
    height, width, channels = pixels.shape
    with atomic_output(path) as temp:
        output = oiio.ImageOutput.create(str(temp))
        if output is None:
            raise InputError(path, f"cannot write a PNG here: {oiio.geterror()}")
        try:
            if not output.open(str(temp), oiio.ImageSpec(width, height, channels, oiio.UINT8)) \
                    or not output.write_image(pixels):
                raise InputError(path, f"cannot write the contact sheet: {output.geterror()}")
        finally:
            output.close()
