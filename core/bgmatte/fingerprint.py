"""Input fingerprints for ``--skip-existing``: a cheap signature of every file a frame's pixels depend on.

A frame's output is current only if it was made from the same inputs: the frame file, its motion-cue
neighbours (t-2k, t-k, t+k, t+2k, clamped at the first/last INPUT frame on disk, as
``sequence.neighbour_frames`` does), the plate (a still or this frame's), the roto/segmentation,
garbage and core mattes, the model weights file and the OCIO config (the resolved config file, or
the ``ocio://`` built-in's name), plus the canvas and the frame number. The output's header holds
digests of them next to the settings fingerprint; a re-run with ``--skip-existing`` skips a frame
only when the settings fingerprint and one of these two input digests match:

* the quick digest (``bgmatte:inputs``): per file its resolved path, size, ``st_mtime_ns`` and a
  BLAKE2b hash of its first and last 8 KiB (the whole file when it is smaller);
* the content digest (``bgmatte:inputs_content``): per file its resolved path and a BLAKE2b hash
  of all its bytes. It is computed only when a frame is written, or on a skip check whose quick
  digest differs: a host that re-renders identical inputs (Nuke's Analyse writes its cache inputs
  again each time) then keeps its mattes, at the cost of reading those inputs once.

Why this mix for the quick digest:

* ``stat`` is one call per file and catches almost every re-render, copy or swap.
* Modification times alone are unreliable: some network file systems keep them coarsely or take
  them from another host's clock, and ``cp -p``, ``rsync -t`` or an archive restore set them back
  to the old value. Size and a content sample catch those cases: an EXR's header (windows,
  channels, compression, metadata) and its chunk offset table sit at the start of the file and the
  last chunk at its end, so a re-render at another size, a truncation or a re-encode changes them
  even when the time does not.
* A full content hash on every re-run would read every byte of every input, which costs as much
  as reading the frames; the quick digest reads at most 16 KiB per file. Each file is signed once
  per run (a still plate once for the whole sequence).

Not seen: an edit that keeps the size, the modification time and both ends of the file (e.g. a few
pixels changed in the middle of an uncompressed EXR, with the time then reset by hand). Run without
``--skip-existing`` to recompute everything. Non-regular files (FIFOs, sockets, devices) are never
opened: they are refused with an InputError.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from bgmatte.color.config import BUILTIN_PREFIX
from bgmatte.errors import InputError
from bgmatte.sequence import neighbour_frames

if TYPE_CHECKING:
    from bgmatte.plan import RunPlan
    from bgmatte.settings import MatteSettings

SAMPLE_BYTES = 8192
INPUTS_ATTRIBUTE = "bgmatte:inputs"
CONTENT_ATTRIBUTE = "bgmatte:inputs_content"
_CHUNK = 1 << 20
MISSING = "missing"


def file_kind(mode: int) -> str:
    """A short name for a non-regular file type, for error lines ("FIFO", "socket", ...)."""
    for test, name in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "a special file"


def stat_regular(path: str | Path) -> os.stat_result | None:
    """``os.stat`` of a regular file (links followed); None when nothing is there.

    Raises:
        InputError: (path, problem) for a symbolic-link loop, a FIFO, socket, device or folder, or a
            file that cannot be looked at.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise InputError(path, "is a symlink loop; remove the link or point it at a file") from None
        raise InputError(path, f"cannot look at the file: {(error.strerror or str(error)).lower()}") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError(path, f"is {file_kind(info.st_mode)}, not a regular file; bgmatte reads only files")
    return info


def open_regular(path: str | Path) -> BinaryIO:
    """Open a file for binary reading without ever blocking: non-blocking, then checked with fstat.

    A FIFO swapped in after `stat_regular` looked would block a plain ``open`` until a writer came.

    Raises:
        InputError: the open file is not a regular file.
        OSError: it cannot be opened.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise InputError(path, f"is {file_kind(mode)}, not a regular file; bgmatte reads only files")
    return os.fdopen(fd, "rb")


def file_signature(path: str | Path) -> str:
    """``<resolved path>|<size>|<mtime_ns>|<hash of first and last 8 KiB>``, or ``missing|<path>``.

    Raises:
        InputError: the path is a link loop or not a regular file (see `stat_regular`), or unreadable.
    """
    info = stat_regular(path)
    if info is None:
        return f"{MISSING}|{os.path.abspath(path)}"
    digest = hashlib.blake2b(digest_size=16)
    try:
        with open_regular(path) as handle:
            if info.st_size <= 2 * SAMPLE_BYTES:
                digest.update(handle.read())
            else:
                digest.update(handle.read(SAMPLE_BYTES))
                handle.seek(-SAMPLE_BYTES, os.SEEK_END)
                digest.update(handle.read(SAMPLE_BYTES))
    except OSError as error:
        raise InputError(path, f"cannot read the file: {(error.strerror or str(error)).lower()}") from None
    return f"{os.path.realpath(path)}|{info.st_size}|{info.st_mtime_ns}|{digest.hexdigest()}"


def content_signature(path: str | Path) -> str:
    """``<resolved path>|<BLAKE2b of every byte>``, or ``missing|<path>``; raises like `file_signature`."""
    if stat_regular(path) is None:
        return f"{MISSING}|{os.path.abspath(path)}"
    digest = hashlib.blake2b(digest_size=16)
    try:
        with open_regular(path) as handle:
            while block := handle.read(_CHUNK):
                digest.update(block)
    except OSError as error:
        raise InputError(path, f"cannot read the file: {(error.strerror or str(error)).lower()}") from None
    return f"{os.path.realpath(path)}|{digest.hexdigest()}"


class InputFingerprints:
    """The input fingerprint of each frame of one planned run; every file is signed once per run.

    Sign a frame before reading its pixels (`attributes`): frames read ahead as motion cues were
    then signed before they were read, so a file that changes during the run is recomputed next time.

    Args:
        plan: the checked run (patterns, frames on disk, canvas, colour config).
        settings: the run's settings (motion cues, gap, mattes).
        model_id: the loaded model's id (its name and a hash of its parameters and config).
        weights_file: the weights file it was loaded from, or None for a registered (seeded) config.
    """

    def __init__(self, plan: RunPlan, settings: MatteSettings, model_id: str,
                 weights_file: str | Path | None) -> None:
        self.plan = plan
        self.settings = settings
        self._quick: dict[Path, str] = {}
        self._content: dict[Path, str] = {}
        canvas = plan.canvas
        source = plan.color.resolved.source
        builtin = source.startswith(BUILTIN_PREFIX)
        weights = os.path.realpath(weights_file) if weights_file is not None else None
        shared = {"model": model_id, "canvas": [canvas.x, canvas.y, canvas.width, canvas.height]}
        self._shared = {  # the model's content is its parameter hash, in model_id
            "quick": dict(shared, weights=weights and file_signature(weights),
                          ocio=f"builtin|{source}" if builtin else file_signature(source)),
            "content": dict(shared, weights=weights,
                            ocio=f"builtin|{source}" if builtin else content_signature(source)),
        }

    def files(self, frame: int) -> dict[str, list[Path]]:
        """The files frame ``frame``'s pixels are made from, by role."""
        plan = self.plan
        files = {"frame": [plan.input.path(frame)], "plate": [plan.plate.path(frame)]}
        if self.settings.motion == "auto" and plan.input.is_sequence:
            first, last = plan.disk_frames[0], plan.disk_frames[-1]
            cues = neighbour_frames(frame, self.settings.motion_gap, first, last)
            files["motion"] = [plan.input.path(f) for f in cues]
            if plan.plate.is_sequence:  # a cropped neighbour is filled from its own plate
                files["motion_plates"] = [plan.plate.path(f) for f in cues]
        for role, pattern in (("seg", plan.seg), ("garbage", plan.garbage), ("core", plan.core)):
            if pattern is not None:
                files[role] = [pattern.path(frame)]
        return files

    def _digest(self, frame: int, kind: str, sign, cache: dict[Path, str]) -> str:
        def cached(path: Path) -> str:
            if path not in cache:
                cache[path] = sign(path)
            return cache[path]

        payload = dict(self._shared[kind], frame=frame,
                       files={role: [cached(p) for p in paths] for role, paths in self.files(frame).items()})
        return hashlib.blake2b(json.dumps(payload, sort_keys=True).encode(), digest_size=16).hexdigest()

    def of(self, frame: int) -> str:
        """The quick input fingerprint of one frame (32 hex digits; stat and 16 KiB per file).

        Raises:
            InputError: one of its files became a link loop, a non-regular file or unreadable.
        """
        return self._digest(frame, "quick", file_signature, self._quick)

    def content_of(self, frame: int) -> str:
        """The content fingerprint of one frame (32 hex digits; every byte of each file, once per run)."""
        return self._digest(frame, "content", content_signature, self._content)

    def attributes(self, frame: int) -> dict[str, str]:
        """Both fingerprints as output header attributes; sign a frame with this before reading its pixels."""
        return {INPUTS_ATTRIBUTE: self.of(frame), CONTENT_ATTRIBUTE: self.content_of(frame)}

    def unchanged(self, frame: int, stored: Mapping[str, str]) -> bool:
        """Whether an output's header says it was made from this frame's current inputs.

        The quick digest decides when it matches; else the content digest (read only then) does.
        """
        if stored.get(INPUTS_ATTRIBUTE) == self.of(frame):
            return True
        return CONTENT_ATTRIBUTE in stored and stored[CONTENT_ATTRIBUTE] == self.content_of(frame)

