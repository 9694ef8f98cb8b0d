"""The checks that run before anything is written, and the plan of a run that passed them.

Every cheap problem is found here and reported together (one line each, exit 2): missing frames,
headers that do not open, sizes that disagree, missing channels, unknown colourspaces, an output
that would overwrite an input or cannot be written.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bgmatte.color import ColorPipeline, resolve_config
from bgmatte.errors import InputError, InputErrors
from bgmatte.io import ImageHeader, Window, check_writable, read_header, rgb_channels
from bgmatte.sequence import FramePattern, parse_frame_spec, within
from bgmatte.settings import MatteSettings

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


def _same_file(a: Path, b: Path) -> bool:
    """True when two paths name the same file (resolving links and relative parts)."""
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


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
    for frame in wanted:
        path = source.path(frame)
        if not path.exists():
            where = "inside the requested range" if source.is_sequence else ""
            errors.append(InputError(path, f"missing frame {frame} {where}".strip()))
            continue
        header = _header_or_error(path, errors)
        if header is None:
            continue
        if not _rgb_or_error(header, errors):
            continue
        if display is None:
            display = header.display_window
            canvas = header.display_window.union(header.data_window)
        elif (header.display_window.width, header.display_window.height) != (display.width, display.height):
            errors.append(InputError(path, f"is {header.display_window.width}x{header.display_window.height}, "
                                           f"the first frame is {display.width}x{display.height}"))
            continue
        else:
            canvas = canvas.union(header.data_window)
        headers[frame] = header

    if display is not None:
        _check_companions(plate, "plate", wanted, display, errors, need_rgb=True)
        for name, pattern in optional.items():
            if pattern is not None:
                _check_companions(pattern, name, wanted, display, errors, need_rgb=False)

    inputs = [source.path(f) for f in wanted] + [plate.path(f) for f in wanted]
    inputs += [p.path(f) for p in optional.values() if p is not None for f in wanted]
    for frame in wanted:
        target = output.path(frame)
        if any(_same_file(target, path) for path in inputs):
            errors.append(InputError(target, "the output would overwrite an input; choose another output path"))
            break
    try:
        check_writable(output.path(wanted[0]).parent)
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
                      errors: list[InputError], need_rgb: bool) -> None:
    """Check a plate / roto / garbage / core sequence: present, readable and the size of the frames."""
    paths = sorted({pattern.path(f) for f in frames})
    for path in paths:
        if not path.exists():
            errors.append(InputError(path, f"missing {name} file"))
            continue
        header = _header_or_error(path, errors)
        if header is None:
            continue
        size = (header.display_window.width, header.display_window.height)
        if size != (display.width, display.height):
            errors.append(InputError(path, f"{name} is {size[0]}x{size[1]}, the frames are "
                                           f"{display.width}x{display.height}"))
        elif need_rgb:
            _rgb_or_error(header, errors)
