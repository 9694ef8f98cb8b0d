"""Reading a planned run's frames, plates and mattes into working linear, with the caches a sequence needs.

Each INPUT frame is read once: frames needed ahead as motion cues are kept until their own turn,
and every frame's motion-cue copy (working-linear RGB at working resolution) is kept while later
frames still need it.
"""
from __future__ import annotations

import logging

import numpy as np

from bgmatte.errors import BgmatteError, FrameError
from bgmatte.io import Window, check_finite, fill_outside, read_mask_matched, read_rgb_matched, repair_nonfinite
from bgmatte.pipeline import FrameInputs, working_linear
from bgmatte.plan import RunPlan
from bgmatte.priors import register_plate, working_shape
from bgmatte.sequence import neighbour_frames
from bgmatte.settings import MatteSettings

log = logging.getLogger(__name__)

class FrameSource:
    """Loads the inputs of each planned frame, in the plan's order, reading every file once.

    Every file is matched to the run on the display window (see io.matched_data_window). Where the
    plate has no data the plate is "unknown": its edge is repeated there (never black) and the
    frame's ``plate_valid`` is 0, so the gain match ignores it and the network's foreground fills in.
    Where the frame itself has no data (a bounding-box crop, or a data window partly outside the
    display window) the network sees the plate, i.e. background: nothing is there, and the output,
    which keeps the input's data window, does not hold those pixels (0 with --flatten).
    """

    def __init__(self, plan: RunPlan, settings: MatteSettings, working_size: int) -> None:
        self.plan = plan
        self.settings = settings
        fixed = settings.fixed_gain()
        self.gain = None if fixed is None else np.asarray(fixed, np.float32)
        canvas = plan.canvas
        self.size = working_shape(canvas.height, canvas.width, working_size)
        first = plan.headers.get(plan.frames[0]) if plan.headers else None
        self.display = first.display_window if first is not None else canvas
        self._frames: dict[int, tuple[np.ndarray, Window]] = {}
        self._plates: dict[int, tuple[np.ndarray, Window]] = {}
        self._greys: dict[int, np.ndarray] = {}
        self._still_plate: tuple[np.ndarray, Window] | None = None
        self._pending = set(plan.frames)

    def _finite(self, pixels: np.ndarray, path) -> np.ndarray:
        """The --repair-nonfinite policy, for frames, plates and mattes alike: fail the frame, or repair with a warning."""
        if self.settings.repair_nonfinite:
            pixels, count = repair_nonfinite(pixels)
            if count:
                log.warning("%s: %d NaN/Inf pixels replaced by 0", path, count)
        else:
            check_finite(pixels, path, self.plan.canvas)
        return pixels

    def _load_rgb(self, path) -> tuple[np.ndarray, Window]:
        """Read an RGB file onto the canvas, check its pixels, convert to working linear; also its data window."""
        pixels, data = read_rgb_matched(path, self.plan.canvas, self.display)
        return self.plan.color.to_working(self._finite(pixels, path)), data

    def _cached(self, cache: dict, frame: int, load):
        """``cache[frame]``, else ``load()``, kept in ``cache`` while the frame is still to be matted."""
        if frame in cache:
            return cache[frame]
        loaded = load()
        if frame in self._pending:
            cache[frame] = loaded
        return loaded

    def _frame(self, frame: int) -> tuple[np.ndarray, Window]:
        return self._cached(self._frames, frame, lambda: self._load_rgb(self.plan.input.path(frame)))

    def _filled(self, pixels: np.ndarray, data: Window, plate: np.ndarray) -> np.ndarray:
        """The frame with the canvas outside its data window taken from the plate (background, not black)."""
        canvas = self.plan.canvas
        if data.contains(canvas):
            return pixels
        filled = plate.copy()
        inside = data.intersection(canvas)
        if inside is not None:
            rows, cols = inside.slices_in(canvas)
            filled[rows, cols] = pixels[rows, cols]
        return filled

    def _grey(self, frame: int, current: int) -> np.ndarray:
        """A neighbour at working size (``working_linear``); an unreadable one falls back to the current
        frame, with a warning. The pipeline makes its grey cue after the exposure normalisation."""
        if frame not in self._greys:
            path = self.plan.input.path(frame)
            try:
                if not path.exists():
                    raise FrameError(path, "missing on disk")
                pixels, data = self._frame(frame)
                if not data.contains(self.plan.canvas):
                    pixels = self._filled(pixels, data, self._plate(frame)[0])
                self._greys[frame] = working_linear(pixels, self.size)
            except BgmatteError as error:
                log.warning("%s: %s; frame %d uses itself as this motion cue", error.subject, error.problem, current)
                return self._greys[current]
        return self._greys[frame]

    def _load_plate(self, path) -> tuple[np.ndarray, Window]:
        """A plate on the canvas, its edge repeated where it has no data, and the window it covers."""
        pixels, data = self._load_rgb(path)
        canvas = self.plan.canvas
        cover = data.intersection(canvas)
        if cover is None:
            raise FrameError(path, f"the plate's data window ({data.describe()}, matched on the display window) "
                                   f"lies outside the frames ({canvas.describe()})")
        if cover != canvas:
            pixels = fill_outside(pixels, cover, canvas)
        return pixels, cover

    def _plate(self, frame: int) -> tuple[np.ndarray, Window]:
        if not self.plan.plate.is_sequence:
            if self._still_plate is None:
                self._still_plate = self._load_plate(self.plan.plate.path(frame))
            return self._still_plate
        return self._cached(self._plates, frame, lambda: self._load_plate(self.plan.plate.path(frame)))

    def _mask(self, pattern, frame: int) -> np.ndarray | None:
        if pattern is None:
            return None
        path = pattern.path(frame)
        pixels, _ = read_mask_matched(path, self.plan.canvas, self.display)
        return self._finite(pixels, path)

    def skip(self, frame: int) -> None:
        """Forget a planned frame that will not be matted (skipped): nothing is kept for it any more."""
        self._pending.discard(frame)
        self._frames.pop(frame, None)
        self._plates.pop(frame, None)

    def inputs(self, frame: int) -> FrameInputs:
        """The full-resolution working-linear inputs of one planned frame.

        Raises:
            BgmatteError: the frame, its plate or a matte cannot be read, has bad pixels, or will not register.
        """
        pixels, data = self._frame(frame)
        self._pending.discard(frame)
        self._frames.pop(frame, None)
        plate, cover = self._plate(frame)
        self._plates.pop(frame, None)
        canvas = self.plan.canvas
        plate_path = self.plan.plate.path(frame)
        known = cover.intersection(data)
        if known is None:
            raise FrameError(plate_path, f"the plate has no data where frame {frame} has "
                                         f"(plate {cover.describe()}, frame {data.describe()})")
        plate_valid = None if known.contains(canvas) else known.mask(canvas)
        cue = self._filled(pixels, data, plate)
        if self.settings.align == "homography":
            plate, plate_valid = register_plate(
                pixels, plate, None if cover.contains(canvas) else cover.mask(canvas),
                None if data.contains(canvas) else data.mask(canvas), str(plate_path), str(self.plan.input.path(frame)))
        image = self._filled(pixels, data, plate)
        neighbours = None
        if self.settings.motion == "auto" and self.plan.input.is_sequence:
            first, last = self.plan.disk_frames[0], self.plan.disk_frames[-1]
            self._greys[frame] = working_linear(cue, self.size)
            cues = neighbour_frames(frame, self.settings.motion_gap, first, last)
            neighbours = [self._grey(f, frame) for f in cues]
            oldest = frame - 2 * self.settings.motion_gap
            self._greys = {f: g for f, g in self._greys.items() if f >= oldest}
        return FrameInputs(
            frame=image,
            plate=plate,
            seg=self._mask(self.plan.seg, frame),
            use_seg=self.settings.seg != "none",
            neighbours=neighbours,
            garbage=self._mask(self.plan.garbage, frame),
            core=self._mask(self.plan.core, frame),
            plate_valid=plate_valid,
            gain=self.gain,
        )
