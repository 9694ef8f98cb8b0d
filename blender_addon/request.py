"""Turn the panel's settings into one matte run: file patterns, frames, colour and model.

Only what Blender knows is decided here (which files the Image datablocks point at, the footage's
colourspace, Blender's OCIO config and working space); every check of the files themselves
(frames present, sizes agree, headers open) is the core's, so Blender, Nuke and the farm refuse
the same inputs with the same messages.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import bpy

from .bgmatte_protocol import JSON_PROGRESS, matte_command_line
from .properties import DEFAULT_CACHE, BGMatteSettings

# The matte cache holds R,G,B,A (premultiplied) plus the straight foreground and the shadow layer,
# written on the display window because Blender drops an EXR's data-window offset.
LAYERS = ("fg", "shadow")
CACHE_NAME = "matte.####.exr"
# The core's motion cues read frames t-2k..t+2k; the add-on runs it with its default k = 1.
MOTION_REACH = 2
_FRAME_DIGITS = re.compile(r"(\d+)(?=\D*$)")
_TRAILING_FRAME = re.compile(r"[._-]?\d+$")


class RequestError(Exception):
    """A setting the run cannot start with; ``subject`` is the field or datablock, ``problem`` what is wrong.

    The add-on raises its own error here because Blender's Python may not have bgmatte (the external
    engine); its messages follow bgmatte.errors: ``<subject>: <problem>``.
    """

    def __init__(self, subject: str, problem: str) -> None:
        self.subject = subject
        self.problem = problem
        super().__init__(f"{subject}: {problem}")


@dataclass(frozen=True)
class MatteRequest:
    """One run of the core, in the terms of ``bgmatte matte`` (absolute paths, ``####`` patterns).

    Every run keeps the cache frames that are complete and were made with the same settings (the
    core's ``--skip-existing``), so pulling again after Esc resumes where it stopped.

    Attributes:
        input, plate: footage pattern and plate (pattern or single still).
        output: the cache pattern, ``<cache>/matte.####.exr``.
        first, last: the frame range (the footage files' own numbers).
        frame_list: only these frames of the range (sorted), e.g. a render's frames that lack a matte;
            empty = every frame from first to last.
        colorspace: the footage's colourspace name in Blender's config.
        output_colorspace: the blend file's working space (what the compositor works in).
        ocio: the OCIO config Blender uses ($OCIO, else its bundled config.ocio).
        seg: "auto" or a roto pattern; garbage, core: patterns or None.
        model, device: as ``--model`` / ``--device``.
    """

    input: str
    plate: str
    output: str
    first: int
    last: int
    colorspace: str
    output_colorspace: str
    ocio: str
    seg: str
    garbage: str | None
    core: str | None
    model: str
    device: str
    frame_list: tuple[int, ...] = ()

    @property
    def frames(self) -> str:
        """The frames as a spec of the core's syntax: "1001-1012", or the listed ones, e.g. "1001-1005x2,1010"."""
        return frame_spec(self.frame_list) if self.frame_list else f"{self.first}-{self.last}"

    def for_frames(self, frames: Iterable[int]) -> MatteRequest:
        """The same run over only ``frames`` (at least one), e.g. the frames of a render that lack a matte."""
        listed = tuple(sorted(set(frames)))
        return replace(self, first=listed[0], last=listed[-1], frame_list=listed)

    def command_line(self, executable: Sequence[str]) -> list[str]:
        """The ``bgmatte matte`` argv of this run after the ``executable`` words (with JSON progress on stdout)."""
        return matte_command_line(self.settings_keywords(), self.input, self.plate, self.output, frames=self.frames,
                                  skip_existing=True, progress=JSON_PROGRESS, model=self.model, device=self.device,
                                  executable=executable)

    def settings_keywords(self) -> dict:
        """Keyword arguments of ``bgmatte.settings.MatteSettings`` for the same run."""
        return {"colorspace": self.colorspace, "output_colorspace": self.output_colorspace, "ocio": self.ocio,
                "seg": self.seg, "garbage": self.garbage, "core": self.core, "layers": LAYERS, "flatten": True}

    def output_path(self, frame: int) -> Path:
        """The cache file of one frame."""
        return frame_path(self.output, frame)

    def input_path(self, frame: int) -> Path:
        """The footage file of one frame."""
        return frame_path(self.input, frame)

    def source_files(self, frame: int) -> list[Path]:
        """The files one frame's matte is made from: footage frames, plate, mattes, weights file (some may not exist).

        The footage frames are the frame and its motion cues (up to MOTION_REACH frames either side).
        """
        footage = [frame_path(self.input, near) for near in range(frame - MOTION_REACH, frame + MOTION_REACH + 1)]
        patterns = [self.plate, *(p for p in (self.garbage, self.core) if p)]
        if self.seg != "auto":
            patterns.append(self.seg)
        files = footage + [frame_path(pattern, frame) for pattern in patterns]
        return files + [Path(self.model)] if os.path.isfile(self.model) else files


def frame_spec(frames: Iterable[int]) -> str:
    """Frames in the core's ``--frames`` syntax: runs of one step become ``A-B`` or ``A-BxN``, others stay single.

    For example 1001, 1003, 1005, 1010 give "1001-1005x2,1010" and 1001, 1002 give "1001-1002".
    """
    listed = sorted(set(frames))
    items, index = [], 0
    while index < len(listed):
        end = index + 1
        step = listed[end] - listed[index] if end < len(listed) else 1
        while end + 1 < len(listed) and listed[end + 1] - listed[end] == step:
            end += 1
        if end < len(listed) and (step == 1 or end - index >= 2):
            items.append(f"{listed[index]}-{listed[end]}" + (f"x{step}" if step > 1 else ""))
            index = end + 1
        else:
            items.append(str(listed[index]))
            index += 1
    return ",".join(items)


def frame_path(pattern: str, frame: int) -> Path:
    """The file of ``frame`` in a ``#``-padded pattern made by this module (wider frames written wider)."""
    match = re.search(r"#+", Path(pattern).name)
    if match is None:
        return Path(pattern)
    number = f"{'-' if frame < 0 else ''}{abs(frame):0{len(match.group())}d}"
    return Path(pattern).with_name(Path(pattern).name.replace(match.group(), number, 1))


def blender_ocio_config() -> str:
    """The OCIO config Blender colour-manages with: $OCIO when set, else its bundled config."""
    return os.environ.get("OCIO") or os.path.join(bpy.utils.resource_path("LOCAL"), "datafiles",
                                                  "colormanagement", "config.ocio")


def image_path(image: bpy.types.Image, field: str, sequence_only: bool) -> str:
    """The absolute file (still) or ``####`` pattern (sequence) an Image datablock reads.

    Raises:
        RequestError: a movie, a generated or packed image, or a sequence without a frame number.
    """
    name = f"{field} '{image.name}'"
    if image.source == "MOVIE":
        raise RequestError(name, "is a movie; bgmatte reads EXR image sequences: render or convert the movie "
                                 "to EXR frames (e.g. Output > OpenEXR) and load those as an Image Sequence")
    if image.source not in {"FILE", "SEQUENCE"}:
        raise RequestError(name, "has no image file on disk (generated or render result); load an EXR file")
    if image.packed_file is not None:
        raise RequestError(name, "is packed into the .blend; unpack it to a file first (Image > Unpack)")
    if sequence_only and image.source != "SEQUENCE":
        raise RequestError(name, "is a single image; set its Source to Image Sequence "
                                 "(frame numbers come from the file names)")
    path = Path(bpy.path.abspath(image.filepath, library=image.library))
    if image.source == "FILE":
        return str(path)
    last = _FRAME_DIGITS.search(path.name)
    if last is None:
        raise RequestError(name, f"{path.name} has no frame number in its file name")
    return str(path.with_name(path.name[:last.start()] + "#" * len(last.group()) + path.name[last.end():]))


def cache_folder(settings: BGMatteSettings, footage: bpy.types.Image) -> Path:
    """The absolute cache folder: ``{footage}`` filled in, ``//`` resolved against the saved .blend.

    Raises:
        RequestError: ``//`` in an unsaved file, or an empty setting.
    """
    text = settings.cache_folder.strip()
    if not text:
        raise RequestError("Cache Folder", f"is empty; set a folder, e.g. {DEFAULT_CACHE}")
    if text.startswith("//") and not bpy.data.filepath:
        raise RequestError("Cache Folder", f"{text} is relative to the .blend, which is not saved yet; "
                                           "save the .blend or choose an absolute folder")
    return Path(bpy.path.abspath(text.replace("{footage}", footage_label(footage))))


def footage_label(footage: bpy.types.Image) -> str:
    """A folder-safe name for the footage: its datablock name without extension and frame number."""
    stem = Path(footage.name).stem
    return bpy.path.clean_name(_TRAILING_FRAME.sub("", stem) or stem)


def frame_range(settings: BGMatteSettings, scene: bpy.types.Scene) -> tuple[int, int]:
    """The frames to matte: the scene's range, or the panel's.

    Raises:
        RequestError: a range that ends before it starts.
    """
    start, end = ((scene.frame_start, scene.frame_end) if settings.use_scene_range
                  else (settings.frame_start, settings.frame_end))
    if end < start:
        raise RequestError("Frame Range", f"ends ({end}) before it starts ({start})")
    return start, end


def build_request(scene: bpy.types.Scene, frames: tuple[int, int] | None = None) -> MatteRequest:
    """The run the panel describes (``frames`` = (first, last) overrides the range, e.g. for a render).

    Raises:
        RequestError: the first setting that is missing or unusable.
    """
    settings = scene.bgmatte
    if settings.footage is None:
        raise RequestError("Footage", "not set; pick the shot's EXR image sequence")
    if settings.plate is None:
        raise RequestError("Clean Plate", "not set; pick the plate shot without the subject (a still or a sequence)")
    footage = settings.footage
    optional = {field: image_path(image, label, sequence_only=False) if image is not None else None
                for field, label, image in (("seg", "Roto", settings.roto), ("garbage", "Garbage Matte", settings.garbage),
                                            ("core", "Core Matte", settings.core))}
    first, last = frames or frame_range(settings, scene)
    model = settings.model.strip()
    if not model:
        raise RequestError("Model", "is empty; use default, or a path to a weights file")
    if model.startswith("//"):
        model = bpy.path.abspath(model)
    return MatteRequest(
        input=image_path(footage, "Footage", sequence_only=True),
        plate=image_path(settings.plate, "Clean Plate", sequence_only=False),
        output=str(cache_folder(settings, footage) / CACHE_NAME),
        first=first,
        last=last,
        colorspace=footage.colorspace_settings.name,
        output_colorspace=bpy.data.colorspace.working_space,
        ocio=blender_ocio_config(),
        seg=optional["seg"] or "auto",
        garbage=optional["garbage"],
        core=optional["core"],
        model=model,
        device=settings.device,
    )
