"""Reading a planned run's frames, plates and mattes into working linear, with the caches a sequence needs.

Each INPUT frame is read once: frames needed ahead as motion cues are kept until their own turn,
and every frame's grey cue (at working resolution) is kept while later frames still need it.
"""
from __future__ import annotations

import logging

import numpy as np

from bgmatte.errors import BgmatteError, FrameError
from bgmatte.io import check_finite, read_mask, read_rgb, repair_nonfinite
from bgmatte.pipeline import FrameInputs, grey_cue
from bgmatte.plan import RunPlan
from bgmatte.priors import align_homography, working_shape
from bgmatte.sequence import neighbour_frames
from bgmatte.settings import MatteSettings

log = logging.getLogger(__name__)


def feather(valid: np.ndarray, radius: int = 3) -> np.ndarray:
    """A soft (H, W) weight from a bool mask: 0 outside, ramping to 1 a few pixels inside the edge."""
    import cv2

    inside = cv2.erode(valid.astype(np.uint8), np.ones((2 * radius + 1,) * 2, np.uint8))
    return np.minimum(cv2.blur(inside.astype(np.float32), (2 * radius + 1,) * 2) * 2, 1) * valid


class FrameSource:
    """Loads the inputs of each planned frame, in the plan's order, reading every file once."""

    def __init__(self, plan: RunPlan, settings: MatteSettings, working_size: int) -> None:
        self.plan = plan
        self.settings = settings
        canvas = plan.canvas
        self.size = working_shape(canvas.height, canvas.width, working_size)
        self._frames: dict[int, np.ndarray] = {}
        self._greys: dict[int, np.ndarray] = {}
        self._still_plate: np.ndarray | None = None
        self._pending = set(plan.frames)

    def _load_rgb(self, path) -> np.ndarray:
        """Read an RGB file onto the canvas, check its pixels, convert to working linear."""
        pixels = read_rgb(path, self.plan.canvas)
        if self.settings.repair_nonfinite:
            pixels, count = repair_nonfinite(pixels)
            if count:
                log.warning("%s: %d NaN/Inf pixels replaced by 0", path, count)
        else:
            check_finite(pixels, path, self.plan.canvas)
        return self.plan.color.to_working(pixels)

    def _frame(self, frame: int) -> np.ndarray:
        if frame in self._frames:
            return self._frames[frame]
        pixels = self._load_rgb(self.plan.input.path(frame))
        if frame in self._pending:
            self._frames[frame] = pixels
        return pixels

    def _grey(self, frame: int, current: int) -> np.ndarray:
        """The grey cue of a neighbour; an unreadable neighbour falls back to the current frame, with a warning."""
        if frame not in self._greys:
            path = self.plan.input.path(frame)
            try:
                if not path.exists():
                    raise FrameError(path, "missing on disk")
                self._greys[frame] = grey_cue(self._frame(frame), self.size)
            except BgmatteError as error:
                log.warning("%s: %s; frame %d uses itself as this motion cue", error.subject, error.problem, current)
                return self._greys[current]
        return self._greys[frame]

    def _plate(self, frame: int) -> np.ndarray:
        if not self.plan.plate.is_sequence:
            if self._still_plate is None:
                self._still_plate = self._load_rgb(self.plan.plate.path(frame))
            return self._still_plate
        return self._load_rgb(self.plan.plate.path(frame))

    def _mask(self, pattern, frame: int) -> np.ndarray | None:
        return None if pattern is None else read_mask(pattern.path(frame), self.plan.canvas)

    def inputs(self, frame: int) -> FrameInputs:
        """The full-resolution working-linear inputs of one planned frame.

        Raises:
            BgmatteError: the frame, its plate or a matte cannot be read, has bad pixels, or will not register.
        """
        pixels = self._frame(frame)
        self._pending.discard(frame)
        self._frames.pop(frame, None)
        plate = self._plate(frame)
        plate_valid = None
        if self.settings.align == "homography":
            plate, valid, _ = align_homography(pixels, plate, name=str(self.plan.plate.path(frame)))
            plate_valid = feather(valid)
        neighbours = None
        if self.settings.motion == "auto" and self.plan.input.is_sequence:
            first, last = self.plan.disk_frames[0], self.plan.disk_frames[-1]
            self._greys[frame] = grey_cue(pixels, self.size)
            cues = neighbour_frames(frame, self.settings.motion_gap, first, last)
            neighbours = [self._grey(f, frame) for f in cues]
            oldest = frame - 2 * self.settings.motion_gap
            self._greys = {f: g for f, g in self._greys.items() if f >= oldest}
        return FrameInputs(
            frame=pixels,
            plate=plate,
            seg=self._mask(self.plan.seg, frame),
            use_seg=self.settings.seg != "none",
            neighbours=neighbours,
            garbage=self._mask(self.plan.garbage, frame),
            core=self._mask(self.plan.core, frame),
            plate_valid=plate_valid,
        )
