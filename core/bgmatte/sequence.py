"""Frame patterns, frame specs, --within chunks and motion-cue neighbours.

Frame numbers are always the file's own (1001-1100 stays 1001-1100); nothing here re-bases them.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from bgmatte.errors import InputError

# One frame token: a run of '#' or '@' (one digit each), printf '%d' / '%04d', Houdini '$F' / '$F4'.
_TOKEN = re.compile(r"#+|@+|%(0?\d+)?d|\$F(\d*)")
_FRAME_EXAMPLE = "use e.g. 1001-1100, 1001-1100x2, 1001,1005,1010-1020 or -5--1"
_SPEC_ITEM = re.compile(r"(-?\d+)(?:-(-?\d+)(?:x(\d+))?)?")
_WITHIN = re.compile(r"(-?\d+)(?:-(-?\d+))?")
_MAX_FRAMES = 1_000_000


class FramePattern:
    """A sequence pattern such as ``plate.####.exr`` (or a single file, the same for every frame).

    ``#`` and ``@`` are one digit each (``####`` pads to 4, as Nuke and Blender do), ``%04d`` / ``%d``
    are printf style, ``$F4`` / ``$F`` are Houdini style. Frames wider than the padding are written
    wider; negative frames are written as a minus and the padded magnitude (``-0005``). The token
    must be in the file name; folder names are taken as they are.

    Attributes:
        text: the pattern as given.
        is_sequence: False for a single file without a frame token.
        padding: digits of the frame token (0 for a single file).
    """

    def __init__(self, text: str | Path) -> None:
        self.text = str(text)
        path = Path(self.text)
        tokens = list(_TOKEN.finditer(path.name))
        if len(tokens) > 1:
            raise InputError(self.text, "has more than one frame token; use one, e.g. shot.####.exr")
        self._folder = path.parent
        self.is_sequence = bool(tokens)
        if tokens:
            token = tokens[0]
            self._prefix = path.name[: token.start()]
            self._suffix = path.name[token.end():]
            self.padding = _padding_of(token)
        else:
            self._prefix, self._suffix, self.padding = path.name, "", 0

    def path(self, frame: int) -> Path:
        """The file of ``frame`` (the single file itself when the pattern has no token)."""
        if not self.is_sequence:
            return self._folder / self._prefix
        sign = "-" if frame < 0 else ""
        return self._folder / f"{self._prefix}{sign}{abs(frame):0{self.padding}d}{self._suffix}"

    def frames_on_disk(self) -> list[int]:
        """Sorted frame numbers of the files in the pattern's folder that match it.

        A number with more digits than the padding counts only without a leading zero (``10000``
        matches ``####``, ``01000`` does not), so two patterns of different padding never share files.
        A single file has no frame numbers: the result is empty.
        """
        if not self.is_sequence or not self._folder.is_dir():
            return []
        matcher = re.compile(re.escape(self._prefix) + r"(-?)(\d+)" + re.escape(self._suffix))
        frames = set()
        for entry in self._folder.iterdir():
            match = matcher.fullmatch(entry.name)
            if match is None:
                continue
            digits = match.group(2)
            if len(digits) == self.padding or (len(digits) > self.padding and not digits.startswith("0")):
                frames.add(-int(digits) if match.group(1) else int(digits))
        return sorted(frames)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"FramePattern({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FramePattern) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def _padding_of(token: re.Match) -> int:
    """Digits a matched frame token pads to (``%d`` and ``$F`` do not pad: 1)."""
    text = token.group(0)
    if text[0] in "#@":
        return len(text)
    width = token.group(1) if text.startswith("%") else token.group(2)
    return int(width) if width else 1


def parse_frame_spec(spec: str) -> list[int]:
    """Frames of a spec such as ``1001-1100``, ``1001-1100x2``, ``1001,1005,1010-1020`` or ``-5--1``.

    Returns:
        The frames, sorted and unique.

    Raises:
        InputError: ("--frames", problem) for a spec that cannot be read, with a valid example.
    """
    frames: set[int] = set()
    items = spec.split(",")
    for item in items:
        compact = "".join(item.split())
        match = _SPEC_ITEM.fullmatch(compact)
        if match is None:
            raise InputError("--frames", f"cannot read {item.strip()!r} in {spec!r}; {_FRAME_EXAMPLE}")
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) is not None else start
        step = int(match.group(3)) if match.group(3) is not None else 1
        if start > end:
            raise InputError("--frames", f"{compact!r} starts after it ends; {_FRAME_EXAMPLE}")
        if step < 1:
            raise InputError("--frames", f"{compact!r} has step 0; the step after 'x' must be 1 or more, "
                                         "e.g. 1001-1100x2")
        if (end - start) // step + 1 + len(frames) > _MAX_FRAMES:
            raise InputError("--frames", f"{spec!r} asks for more than {_MAX_FRAMES} frames; {_FRAME_EXAMPLE}")
        frames.update(range(start, end + 1, step))
    return sorted(frames)


def within(frames: Iterable[int], spec: str) -> list[int]:
    """The frames inside ``START-END`` (inclusive) or equal to a single number ``N``.

    Farm chunks pass the scheduler's tokens here, so an end beyond the last frame does no harm.

    Raises:
        InputError: ("--within", problem) for a range that cannot be read or starts after it ends.
    """
    compact = "".join(spec.split())
    match = _WITHIN.fullmatch(compact)
    if match is None:
        raise InputError("--within", f"cannot read {spec!r}; use START-END, e.g. 1001-1010, or one frame, e.g. 1001")
    start = int(match.group(1))
    end = int(match.group(2)) if match.group(2) is not None else start
    if start > end:
        raise InputError("--within", f"{compact!r} starts after it ends; use START-END, e.g. 1001-1010")
    return sorted({f for f in frames if start <= f <= end})


def neighbour_frames(t: int, k: int, first: int, last: int) -> tuple[int, int, int, int]:
    """Motion-cue frames (t-2k, t-k, t+k, t+2k), each clamped to [first, last].

    ``first`` and ``last`` are the first and last INPUT frames on disk, never the requested range,
    so a farm chunk gets the same motion cues as a whole run.
    """
    if first > last:
        raise ValueError(f"first frame {first} is after last frame {last}")
    return tuple(min(max(t + d * k, first), last) for d in (-2, -1, 1, 2))  # type: ignore[return-value]
