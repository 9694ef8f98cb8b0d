"""The checks that run before anything is written, and the plan of a run that passed them.

Every cheap problem is found here and reported together (one line each, exit 2): missing frames,
headers that do not open, sizes that disagree, missing channels, unknown colourspaces, an output
that would overwrite an input or cannot be written.
"""
from __future__ import annotations

import errno
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from bgmatte.color import ColorPipeline, resolve_config
from bgmatte.errors import InputError, InputErrors
from bgmatte.io import ImageHeader, Window, check_writable, matched_data_window, read_header, rgb_channels
from bgmatte.io.atomic import check_target
from bgmatte.fingerprint import stat_regular
from bgmatte.sequence import FramePattern, neighbour_frames, parse_frame_spec, within
from bgmatte.settings import MatteSettings

log = logging.getLogger(__name__)

# Missing frames (or plate / matte files) up to this many get a line each; more get one summary line.
MAX_LISTED = 10

@dataclass
class RunPlan:
    """A checked run: which frames, from which files, onto which canvas, in which colour.

    Attributes:
        input: the frame pattern; plate, output: their patterns; seg/garbage/core: optional patterns.
        frames: the frames to write, in order.
        disk_frames: every INPUT frame on disk (motion cues clamp at its first and last).
        canvas: the window the network sees (display window, plus any overscan data).
        headers: the input header of each requested frame.
        color: the colour pipeline (input -> working -> output).
    """

    input: FramePattern
    plate: FramePattern
    output: FramePattern
    seg: FramePattern | None
    garbage: FramePattern | None
    core: FramePattern | None
    frames: list[int]
    disk_frames: list[int]
    canvas: Window
    headers: dict[int, ImageHeader]
    color: ColorPipeline


def _rgb_or_error(header: ImageHeader, errors: list[InputError]) -> bool:
    """True when read_rgb will find one R, G, B set in this file; else the reason joins the errors."""
    try:
        rgb_channels(header.channels, header.path)
    except InputError as error:
        errors.append(error)
        return False
    return True


def _select_frames(pattern: FramePattern, frames: str | list[int] | None, within_spec: str | None) -> tuple[list[int], list[int]]:
    """The requested frames and the frames on disk; a single file is frame 1 unless a spec says otherwise."""
    disk = pattern.frames_on_disk() if pattern.is_sequence else []
    if frames is None:
        if pattern.is_sequence and not disk:
            raise InputError(pattern.text, "no frames on disk match this pattern")
        wanted = disk if pattern.is_sequence else [1]
    elif isinstance(frames, str):
        wanted = parse_frame_spec(frames)
    else:
        wanted = sorted(set(int(f) for f in frames))
    if within_spec:
        wanted = within(wanted, within_spec)
    if not pattern.is_sequence:
        disk = list(wanted)
    return wanted, disk


def frame_ranges(frames: list[int], limit: int = 8) -> str:
    """Sorted frames as compact ranges, e.g. ``1003, 1007-1010``; past ``limit`` ranges, ``... (N more)``."""
    spans: list[list[int]] = []
    for frame in sorted(frames):
        if spans and frame == spans[-1][1] + 1:
            spans[-1][1] = frame
        else:
            spans.append([frame, frame])
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans[:limit])
    return text + (f", ... ({len(spans) - limit} more ranges)" if len(spans) > limit else "")


def _present_frames(source: FramePattern, wanted: list[int], disk: list[int], errors: list[InputError]) -> list[int]:
    """The requested frames whose file is there; the missing ones join the errors.

    For a sequence the folder listing (`FramePattern.frames_on_disk`) decides, so no file is looked at
    one by one: ``--frames 1-999999`` on a short folder fails at once. Up to MAX_LISTED missing frames
    get a line each; more get one line with their count and ranges.
    """
    if source.is_sequence:
        on_disk = set(disk)
        missing = [frame for frame in wanted if frame not in on_disk]
    else:
        missing = [] if os.path.lexists(source.path(wanted[0])) else list(wanted)
    if len(missing) > MAX_LISTED:
        where = f"frames on disk: {frame_ranges(disk, 3)}" if disk else "no frames on disk match it"
        errors.append(InputError(source.text, f"{len(missing)} of the {len(wanted)} requested frames are missing: "
                                              f"{frame_ranges(missing)} ({where})"))
    else:
        where = " inside the requested range" if source.is_sequence else ""
        errors.extend(InputError(source.path(f), f"missing frame {f}{where}") for f in missing)
    if not missing:
        return list(wanted)
    gone = set(missing)
    return [frame for frame in wanted if frame not in gone]


def _motion_cue_files(source: FramePattern, settings: MatteSettings, present: list[int], disk: list[int],
                      errors: list[InputError]) -> list[Path]:
    """The motion-cue neighbours on disk that are not requested frames; link loops and FIFOs join the errors.

    Such a neighbour is read while its frame is processed; a FIFO there must fail the checks, not hang.
    """
    if settings.motion != "auto" or not source.is_sequence or not disk or not present:
        return []
    on_disk, requested = set(disk), set(present)
    extra = {n for frame in present for n in neighbour_frames(frame, settings.motion_gap, disk[0], disk[-1])}
    paths = [source.path(f) for f in sorted(extra - requested) if f in on_disk]
    for path in paths:
        try:
            stat_regular(path)
        except InputError as error:
            errors.append(InputError(path, f"{error.problem} (a motion-cue neighbour)"))
    return paths


def _check_overlap(targets: list[Path], inputs: list[Path], errors: list[InputError]) -> None:
    """Refuse an output that is an input (same file: links and relative parts resolved), in linear time.

    Only an existing output file can be an existing input, so files are compared by (device, inode):
    one stat per input and per output. An output file that is a link loop joins the errors.
    """
    known: set[tuple[int, int]] = set()
    for path in inputs:
        try:
            info = os.stat(path)
        except OSError:
            continue  # a missing or unreadable input is reported by its own check
        known.add((info.st_dev, info.st_ino))
    for target in targets:
        try:
            info = os.stat(target)
        except FileNotFoundError:
            continue
        except OSError as error:
            if error.errno == errno.ELOOP and os.path.islink(target):  # a loop in a folder: check_target says so
                errors.append(InputError(target, "output is a symlink loop; remove the link or choose another path"))
                return
            continue  # not writable etc.: the write check and the frame's own write report it
        if (info.st_dev, info.st_ino) in known:
            errors.append(InputError(target, "the output would overwrite an input; choose another output path"))
            return


def _header_or_error(path: Path, errors: list[InputError]) -> ImageHeader | None:
    try:
        return read_header(path)
    except InputError as error:
        errors.append(error)
        return None


def plan_run(input_pattern: str, plate_pattern: str, output_pattern: str, settings: MatteSettings,
             frames: str | list[int] | None = None, within_spec: str | None = None) -> RunPlan:
    """Check everything that can be checked cheaply and return the plan, or raise InputErrors.

    Raises:
        InputErrors: one entry per problem found (exit 2, nothing written).
    """
    errors: list[InputError] = []
    source = FramePattern(input_pattern)
    plate = FramePattern(plate_pattern)
    output = FramePattern(output_pattern)
    optional = {name: FramePattern(text) if text else None for name, text in
                (("seg", settings.seg if settings.seg not in ("auto", "none") else None),
                 ("garbage", settings.garbage), ("core", settings.core))}
    wanted, disk = _select_frames(source, frames, within_spec)
    if not wanted:
        raise InputError("--frames", "no frames to matte (the frame spec and --within leave none)")
    if len(wanted) > 1 and not output.is_sequence:
        errors.append(InputError(output.text, "several frames need a frame token in the output (e.g. matte.####.exr)"))
    if output.path(wanted[0]).suffix.lower() != ".exr":
        errors.append(InputError(output.text, "the output must be an .exr file"))

    headers: dict[int, ImageHeader] = {}
    canvas: Window | None = None
    display: Window | None = None
    present = _present_frames(source, wanted, disk, errors)
    checked: dict[Path, ImageHeader | None] = {}  # a single INPUT file is every frame: read it once
    for frame in present:
        path = source.path(frame)
        if path not in checked:
            header = _header_or_error(path, errors)
            checked[path] = header if header is not None and _rgb_or_error(header, errors) else None
        header = checked[path]
        if header is None:
            continue
        if header.data_window.intersection(header.display_window) is None:
            errors.append(InputError(path, f"data window ({header.data_window.describe()}) lies entirely outside "
                                           f"the display window ({header.display_window.describe()}): no pixel of "
                                           "the picture to matte; fix the file's windows"))
            continue
        if display is None:
            display = header.display_window
            canvas = header.display_window.union(header.data_window)
        elif (header.display_window.width, header.display_window.height) != (display.width, display.height):
            errors.append(InputError(path, f"is {header.display_window.width}x{header.display_window.height}, "
                                           f"the first frame is {display.width}x{display.height}"))
            continue
        elif (header.display_window.x, header.display_window.y) != (display.x, display.y):
            errors.append(InputError(path, f"display window is {header.display_window.describe()}, the first "
                                           f"frame's is {display.describe()}"))
            continue
        else:
            canvas = canvas.union(header.data_window)
        headers[frame] = header

    if display is not None:
        plate_headers = _check_companions(plate, "plate", present, display, errors, need_rgb=True)
        _check_plate_windows(plate, plate_headers, headers, display, errors)
        for name, pattern in optional.items():
            if pattern is not None:
                _check_companions(pattern, name, present, display, errors, need_rgb=False)

    cues = _motion_cue_files(source, settings, present, disk, errors)
    inputs = [source.path(f) for f in present] + [plate.path(f) for f in present] + cues
    inputs += [p.path(f) for p in optional.values() if p is not None for f in present]
    _check_overlap([output.path(f) for f in present], inputs, errors)
    try:
        check_writable(output.path(wanted[0]).parent)
        for target in (output.path(wanted[0]), output.path(wanted[-1])):  # widest frame numbers: longest names
            check_target(target, check_file=False)  # name and path limits (with the temp), the folder chain
    except InputError as error:
        errors.append(error)

    color = None
    try:
        color = ColorPipeline(resolve_config(settings.ocio), settings.colorspace, settings.output_colorspace)
    except InputError as error:
        errors.append(error)

    if errors:
        raise InputErrors(errors)
    return RunPlan(input=source, plate=plate, output=output, seg=optional["seg"], garbage=optional["garbage"],
                   core=optional["core"], frames=wanted, disk_frames=disk or wanted, canvas=canvas,
                   headers=headers, color=color)


def _check_companions(pattern: FramePattern, name: str, frames: list[int], display: Window,
                      errors: list[InputError], need_rgb: bool) -> dict[Path, ImageHeader]:
    """Check a plate / roto / garbage / core sequence: present, readable and the size of the frames.

    Returns the headers that passed, by path.
    """
    passed: dict[Path, ImageHeader] = {}
    first_frame: dict[Path, int] = {}
    for frame in frames:
        first_frame.setdefault(pattern.path(frame), frame)
    missing = [path for path in first_frame if not os.path.lexists(path)]
    if len(missing) > MAX_LISTED:
        errors.append(InputError(pattern.text, f"{len(missing)} {name} files are missing, for frames "
                                               f"{frame_ranges([first_frame[p] for p in missing])}"))
    else:
        errors.extend(InputError(path, f"missing {name} file") for path in missing)
    for path in sorted(set(first_frame) - set(missing)):
        header = _header_or_error(path, errors)
        if header is None:
            continue
        size = (header.display_window.width, header.display_window.height)
        if size != (display.width, display.height):
            errors.append(InputError(path, f"{name} is {size[0]}x{size[1]}, the frames are "
                                           f"{display.width}x{display.height}"))
        elif not need_rgb or _rgb_or_error(header, errors):
            passed[path] = header
    return passed


def _check_plate_windows(plate: FramePattern, plate_headers: dict[Path, ImageHeader],
                         headers: dict[int, ImageHeader], display: Window, errors: list[InputError]) -> None:
    """Frame and plate are matched on the display window: refuse a plate with no data where its frame has.

    A plate that covers only part of a frame's data is used where it has data; the rest is matted as
    "plate unknown" (one warning per plate file).
    """
    refused: set[Path] = set()
    warned: set[Path] = set()
    for frame, header in headers.items():
        path = plate.path(frame)
        plate_header = plate_headers.get(path)
        if plate_header is None or path in refused:
            continue
        data = matched_data_window(display, plate_header.display_window, plate_header.data_window)
        known = data.intersection(header.data_window)
        if known is None:
            refused.add(path)
            errors.append(InputError(path, f"the plate has no data where frame {frame} has: plate data window "
                                           f"{data.describe()} (matched on the display window), frame data "
                                           f"window {header.data_window.describe()}"))
        elif known != header.data_window and path not in warned:
            warned.add(path)
            share = known.width * known.height / (header.data_window.width * header.data_window.height)
            log.warning("%s: the plate has data on %.0f%% of frame %d's data window; the rest is matted as "
                        "plate unknown (alpha and colour from the network alone, no plate difference: expect a rough "
                        "matte there)", path, 100 * share, frame)
