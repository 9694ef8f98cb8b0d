"""A farm job as data: the frames, the chunk size, and the one command line every chunk runs.

Pure functions, no scheduler: the back ends (OpenCue, Deadline) only put a scheduler's frame
tokens into ``chunk_command`` and write the result in their own file format. Every chunk gets the
whole ``--frames`` spec plus ``--within START-END`` from the scheduler's tokens, so stepped and
listed specs chunk correctly and a too-large end token on a short last chunk does no harm.

What changes a chunk's pixels travels with the job: the OCIO config the submitting shell resolved
(``--ocio``, else ``$OCIO``, else bgmatte's bundled config) is pinned as an absolute ``--ocio`` in
the command and as ``OCIO`` in the job's environment, so no worker falls back to its own. A
``--report FILE`` becomes one report per chunk, ``FILE`` with ``.START-END`` before its extension.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import NamedTuple

from bgmatte.errors import InputError, InputErrors
from bgmatte.protocol import FARM_PROGRESS, matte_command_line
from bgmatte.sequence import parse_frame_spec


class FrameTokens(NamedTuple):
    """The words a scheduler replaces with the first and last frame of a chunk."""

    start: str
    end: str


OPENCUE_TOKENS = FrameTokens("#FRAME_START#", "#FRAME_END#")
DEADLINE_TOKENS = FrameTokens("<STARTFRAME>", "<ENDFRAME>")

# Options that bgmatte submit sets on every chunk (a user value would fight the farm's), each with
# whether it takes a value.
FARM_OWNED_OPTIONS = {"--within": True, "--threads": True, "--progress": True, "--skip-existing": False}
# The most cores a chunk may reserve: its --threads, which bgmatte matte bounds the same way.
MAX_CORES = 1024
DEFAULT_GPU_MEMORY_GB = 8

# Matte options whose value is a path, with a test of whether a given value is one.
# Farm workers do not share the submitter's working folder, so these are made absolute.
_PATH_OPTIONS = {
    "--ocio": lambda value: not value.startswith("ocio://"),
    "--seg": lambda value: value not in ("auto", "none"),
    "--garbage": lambda value: True,
    "--core": lambda value: True,
    "--report": lambda value: True,
    "--model": lambda value: "/" in value or "\\" in value or value.endswith(".pt"),
}
_REQUIRED = {"--plate": "PLATE", "-o": "OUTPUT", "--frames": "SPEC"}
# Path options the job holds itself: --ocio is pinned for every chunk, --report made per chunk.
_KEPT_APART = ("--ocio", "--report")
_ALIASES = {"--output": "-o"}
_NAME_TOKEN = re.compile(r"[#@%$]")
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class FarmJob:
    """One bgmatte matte run split into chunks on a render farm.

    Attributes:
        name: job name, letters, digits, ``_`` and ``-`` only.
        executable: absolute path of the ``bgmatte`` executable as the farm workers see it.
        input: absolute INPUT pattern (e.g. ``/show/sh010/frame.####.exr``).
        plate: absolute PLATE pattern or still.
        output: absolute OUTPUT pattern.
        frames: the requested frames, sorted and unique (the file's own numbers).
        matte_options: the other matte options, verbatim except that path values are absolute.
        chunk: frames per chunk (one scheduler task).
        cores: CPU cores reserved per chunk; also the chunk's ``--threads``.
        memory_gb: memory reserved per chunk, in GB.
        ocio: the OCIO config every chunk uses (absolute path or ``ocio://`` name), pinned as
            ``--ocio`` and as ``OCIO`` in ``environment``; None only for jobs built by hand.
        report: absolute ``--report`` path the user gave; each chunk writes its own (chunk_report_path).
        gpus: GPUs reserved per chunk (1 with ``--device cuda``, else 0).
        gpu_memory_gb: GPU memory reserved per chunk when ``gpus`` is set, in GB.
        environment: (name, value) pairs every chunk's process gets.
    """

    name: str
    executable: str
    input: str
    plate: str
    output: str
    frames: tuple[int, ...]
    matte_options: tuple[str, ...]
    chunk: int
    cores: int
    memory_gb: int
    ocio: str | None = None
    report: str | None = None
    gpus: int = 0
    gpu_memory_gb: int = 0
    environment: tuple[tuple[str, str], ...] = ()

    @property
    def frame_range(self) -> str:
        """The frames as a range string both OpenCue and Deadline read (``1001-1100``, ``1-9x2,20``)."""
        return frame_range_string(self.frames)


def frame_range_string(frames: Iterable[int]) -> str:
    """Compact range text of ``frames``: runs of one step become ``A-B`` or ``A-BxS``, the rest a list.

    The result uses only the syntax OpenCue's FrameSet and Deadline's ``Frames=`` share
    (``1001-1100``, ``1001-1099x2``, ``1001,1005,1010-1020``), and ``parse_frame_spec`` reads it
    back to the same frames.
    """
    ordered = sorted(set(frames))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i + 1
        if j < len(ordered):
            step = ordered[j] - ordered[i]
            while j + 1 < len(ordered) and ordered[j + 1] - ordered[j] == step:
                j += 1
            if step == 1 or j - i >= 2:
                suffix = "" if step == 1 else f"x{step}"
                parts.append(f"{ordered[i]}-{ordered[j]}{suffix}")
                i = j + 1
                continue
        parts.append(str(ordered[i]))
        i += 1
    return ",".join(parts)


def chunk_frames(frames: Sequence[int], chunk: int) -> list[list[int]]:
    """The frames of each scheduler task: consecutive runs of ``chunk`` frames in frame order.

    This is how OpenCue and Deadline cut a frame list into tasks; each task then runs the chunk
    command with its first and last frame as ``--within``.
    """
    if chunk < 1:
        raise ValueError(f"chunk size must be 1 or more, got {chunk}")
    ordered = sorted(set(frames))
    return [ordered[i:i + chunk] for i in range(0, len(ordered), chunk)]


def chunk_command(job: FarmJob, tokens: FrameTokens) -> list[str]:
    """The argv every chunk runs, with the scheduler's frame tokens in ``--within``.

    Returns:
        ``[executable, "matte", INPUT, "--plate", PLATE, "-o", OUTPUT, "--frames", RANGE,
        "--within", "START-END", "--threads", N, "--skip-existing", "--progress", "farm",
        "--ocio", CONFIG, ...]`` followed by the user's other matte options and, when the user
        asked for one, ``--report`` with the chunk's own path (chunk_report_path).
    """
    report = ["--report", chunk_report_path(job.report, tokens)] if job.report is not None else []
    return matte_command_line({"ocio": job.ocio}, job.input, job.plate, job.output, frames=job.frame_range,
                              within=f"{tokens.start}-{tokens.end}", threads=job.cores, skip_existing=True,
                              progress=FARM_PROGRESS, executable=(job.executable,),
                              extra=[*job.matte_options, *report])


def chunk_report_path(report: str, tokens: FrameTokens) -> str:
    """The report path of one chunk: ``.START-END`` (the scheduler's tokens) before the extension.

    ``/show/out/run.json`` -> ``/show/out/run.#FRAME_START#-#FRAME_END#.json`` on OpenCue, so each
    chunk writes its own report and none overwrites another's. POSIX and Windows paths both work.
    """
    cut = max(report.rfind("/"), report.rfind("\\")) + 1
    folder, name = report[:cut], report[cut:]
    dot = name.rfind(".")
    stem, extension = (name[:dot], name[dot:]) if dot > 0 else (name, "")
    return f"{folder}{stem}.{tokens.start}-{tokens.end}{extension}"


def is_absolute_anywhere(value: str) -> bool:
    """True for a path absolute on POSIX (``/mnt/show``) or Windows (``S:\\show``, ``\\\\server\\share``).

    Workers may run another OS than the submitter, so either form is taken as it is.
    """
    return PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute()


def absolute_path(value: str, cwd: Path) -> str:
    """``value`` made absolute against ``cwd``; a path already absolute on POSIX or Windows is kept.

    Symlinks are not resolved: studios reach shared storage through links that the workers have too.
    """
    if is_absolute_anywhere(value):
        return value
    return os.path.abspath(os.path.join(cwd, value))


def default_job_name(output: str) -> str:
    """A job name from the OUTPUT pattern: ``out/m.####.exr`` -> ``bgmatte_m``."""
    filename = PureWindowsPath(output).name
    stem = _NAME_TOKEN.split(filename)[0] if _NAME_TOKEN.search(filename) else filename.rsplit(".", 1)[0]
    stem = _NAME_UNSAFE.sub("_", stem).strip("_-")
    return f"bgmatte_{stem}" if stem else "bgmatte"


def farm_job(
    matte_args: Sequence[str],
    *,
    executable: str,
    cwd: Path,
    chunk: int,
    cores: int,
    memory_gb: int,
    name: str | None = None,
    environ: Mapping[str, str] | None = None,
    gpu_memory_gb: int = DEFAULT_GPU_MEMORY_GB,
) -> FarmJob:
    """Read ``INPUT --plate PLATE -o OUTPUT --frames SPEC [matte options]`` into a FarmJob.

    Checks lightly (the farm runs the real checks): INPUT, --plate, -o and --frames are present,
    the frame spec reads, no farm-owned option is given; path values become absolute against
    ``cwd``. Other options pass through verbatim. The OCIO config is pinned (``--ocio``, else
    ``$OCIO`` of ``environ``, else the bundled config's path), ``--report`` is kept apart for
    per-chunk paths, and ``--device cuda`` reserves one GPU with ``gpu_memory_gb``.

    Args:
        environ: the submitting shell's environment; None = ``os.environ``.

    Raises:
        InputErrors: one entry per problem, subject = the option (or INPUT).
    """
    problems: list[InputError] = []
    tokens = list(matte_args)
    if not tokens or tokens[0].startswith("-"):
        problems.append(InputError("INPUT", "missing; give the frame pattern first, e.g. "
                                            "shot/frame.####.exr --plate shot/plate.####.exr -o out/matte.####.exr"))
        input_pattern = None
    else:
        input_pattern = absolute_path(tokens.pop(0), cwd)

    required: dict[str, str] = {}
    kept: dict[str, str] = {}
    options: list[str] = []
    while tokens:
        token = tokens.pop(0)
        option, separator, inline = token.partition("=") if token.startswith("--") else (token, "", "")
        option = _ALIASES.get(option, option)
        if option in FARM_OWNED_OPTIONS:
            problems.append(InputError(option, "is set by bgmatte submit on every chunk; leave it out"))
            if FARM_OWNED_OPTIONS[option] and not separator and tokens:
                tokens.pop(0)
            continue
        if option not in _REQUIRED and option not in _PATH_OPTIONS:
            options.append(token)
            continue
        if separator:
            value = inline
        elif tokens:
            value = tokens.pop(0)
        else:
            problems.append(InputError(option, "needs a value"))
            continue
        if option in _REQUIRED:
            required[option] = value
        elif option in _KEPT_APART:
            kept[option] = absolute_path(value, cwd) if _PATH_OPTIONS[option](value) else value
        elif _PATH_OPTIONS[option](value):
            options += [option, absolute_path(value, cwd)]
        else:
            options += [option, value]

    for option, metavar in _REQUIRED.items():
        if option not in required:
            problems.append(InputError(option, f"missing; a farm job needs {option} {metavar}"))
    frames: list[int] = []
    if "--frames" in required:
        try:
            frames = parse_frame_spec(required["--frames"])
        except InputError as error:
            problems.append(error)
    if name is not None and (not name or _NAME_UNSAFE.search(name)):
        problems.append(InputError("--name", f"{name!r} is not a job name; use letters, digits, '_' and '-'"))
    if problems:
        raise InputErrors(problems)

    output = absolute_path(required["-o"], cwd)
    ocio = kept.get("--ocio") or _pinned_ocio(os.environ if environ is None else environ, cwd)
    gpus = 1 if _option_value(options, "--device") == "cuda" else 0
    return FarmJob(
        name=name or default_job_name(output),
        executable=executable,
        input=input_pattern,
        plate=absolute_path(required["--plate"], cwd),
        output=output,
        frames=tuple(frames),
        matte_options=tuple(options),
        chunk=chunk,
        cores=cores,
        memory_gb=memory_gb,
        ocio=ocio,
        report=kept.get("--report"),
        gpus=gpus,
        gpu_memory_gb=gpu_memory_gb if gpus else 0,
        environment=(("OCIO", ocio),),
    )


def _pinned_ocio(environ: Mapping[str, str], cwd: Path) -> str:
    """The config a run in the submitting shell would use without --ocio: $OCIO, else the bundled one."""
    value = environ.get("OCIO", "")
    if value:
        return value if value.startswith("ocio://") else absolute_path(value, cwd)
    from bgmatte.color.config import bundled_config_path

    return os.path.abspath(bundled_config_path())


def _option_value(options: Sequence[str], name: str) -> str | None:
    """The value of ``name`` in an argv list (``--name VALUE`` or ``--name=VALUE``); the last one wins."""
    value = None
    for i, token in enumerate(options):
        if token == name and i + 1 < len(options):
            value = options[i + 1]
        elif token.startswith(name + "="):
            value = token.split("=", 1)[1]
    return value
