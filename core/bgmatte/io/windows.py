"""Pixel windows (EXR data and display windows) and where one lies inside another."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import OpenImageIO as oiio


@dataclass(frozen=True)
class Window:
    """A rectangle of pixels: top-left corner (x, y) and size, in the image's pixel coordinates.

    EXR's y axis points down, like the rows of an (H, W, C) array, so row ``r`` of an array on this
    window is pixel row ``y + r``.
    """

    x: int
    y: int
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.width < 0 or self.height < 0:
            raise ValueError(f"window size must not be negative, got {self.width}x{self.height}")

    @classmethod
    def from_spec_data(cls, spec: oiio.ImageSpec) -> Window:
        """The data window (pixels stored in the file) of an OpenImageIO spec."""
        return cls(spec.x, spec.y, spec.width, spec.height)

    @classmethod
    def from_spec_display(cls, spec: oiio.ImageSpec) -> Window:
        """The display window (the frame a viewer shows) of an OpenImageIO spec."""
        return cls(spec.full_x, spec.full_y, spec.full_width, spec.full_height)

    @property
    def x_end(self) -> int:
        """One past the last column."""
        return self.x + self.width

    @property
    def y_end(self) -> int:
        """One past the last row."""
        return self.y + self.height

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width), the leading shape of an array on this window."""
        return self.height, self.width

    def union(self, other: Window) -> Window:
        """The smallest window holding both (e.g. display window plus overscan data)."""
        x, y = min(self.x, other.x), min(self.y, other.y)
        return Window(x, y, max(self.x_end, other.x_end) - x, max(self.y_end, other.y_end) - y)

    def intersection(self, other: Window) -> Window | None:
        """The pixels both windows hold, or None when they do not overlap."""
        x, y = max(self.x, other.x), max(self.y, other.y)
        x_end, y_end = min(self.x_end, other.x_end), min(self.y_end, other.y_end)
        if x_end <= x or y_end <= y:
            return None
        return Window(x, y, x_end - x, y_end - y)

    def contains(self, other: Window) -> bool:
        """True when every pixel of ``other`` lies inside this window."""
        return (self.x <= other.x and self.y <= other.y
                and other.x_end <= self.x_end and other.y_end <= self.y_end)

    def translate(self, dx: int, dy: int) -> Window:
        """The same rectangle moved by (dx, dy) pixels."""
        return Window(self.x + dx, self.y + dy, self.width, self.height)

    def describe(self) -> str:
        """``WxH at (x, y)``, for messages."""
        return f"{self.width}x{self.height} at ({self.x}, {self.y})"

    def mask(self, canvas: Window) -> np.ndarray:
        """(canvas.height, canvas.width) float32: 1 on the part of this window inside ``canvas``, else 0."""
        mask = np.zeros(canvas.shape, np.float32)
        inside = self.intersection(canvas)
        if inside is not None:
            mask[inside.slices_in(canvas)] = 1.0
        return mask

    def slices_in(self, canvas: Window) -> tuple[slice, slice]:
        """(rows, columns) of this window inside an array laid out on ``canvas``.

        Raises:
            ValueError: when this window is not inside ``canvas``.
        """
        if not canvas.contains(self):
            raise ValueError(f"{self} is not inside {canvas}")
        top, left = self.y - canvas.y, self.x - canvas.x
        return slice(top, top + self.height), slice(left, left + self.width)


def matched_data_window(display: Window, file_display: Window, file_data: Window) -> Window:
    """A file's data window in a run's pixel coordinates, matching the file's display window to the run's.

    Frame and plate (and every matte) are matched on the display window, as a compositor lines up
    two images of one format: pixel (dx, dy) of the plate's picture is pixel (dx, dy) of the frame's,
    whatever the two display windows' origins. A plate's data window offset inside its own display
    window (a crop, or overscan) moves with it.
    """
    return file_data.translate(display.x - file_display.x, display.y - file_display.y)


def fill_outside(pixels: np.ndarray, inside: Window, canvas: Window) -> np.ndarray:
    """``pixels`` on ``canvas`` with everything outside ``inside`` replaced by its nearest edge pixel.

    Where a plate has no data, its edge is repeated (as the aligned path does outside a warped
    plate) instead of leaving black, which the plate difference would read as subject.
    """
    rows, cols = inside.slices_in(canvas)
    pad = ((rows.start, canvas.height - rows.stop), (cols.start, canvas.width - cols.stop))
    pad += ((0, 0),) * (pixels.ndim - 2)
    return np.pad(pixels[rows, cols], pad, mode="edge")
