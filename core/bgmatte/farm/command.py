"""Submit a matte job to a render farm (OpenCue or Deadline), chunked by frames.

  bgmatte submit opencue  [--chunk N] [--cores N] [--memory GB] [--dry-run DIR]
                          INPUT --plate PLATE -o OUTPUT --frames SPEC [matte options]
  bgmatte submit deadline [--chunk N] [--cores N] [--memory GB] [--dry-run DIR]
                          INPUT --plate PLATE -o OUTPUT --frames SPEC [matte options]

Submit options come before INPUT; everything from INPUT on is the matte command line, passed to
every chunk verbatim (relative paths made absolute, since workers do not share your folder).
Each chunk runs the absolute path of this bgmatte executable:

  /abs/bgmatte matte INPUT --plate PLATE -o OUTPUT --frames SPEC --within START-END
                     --threads CORES --skip-existing --progress farm --ocio CONFIG [matte options]

where START-END are the scheduler's frame tokens (OpenCue #FRAME_START#-#FRAME_END#, Deadline
<STARTFRAME>-<ENDFRAME>). --frames takes 1001-1100, 1001-1100x2 or 1001,1005,1010-1020.
CONFIG is the OCIO config this shell resolves (--ocio, else $OCIO, else bgmatte's bundled one),
made absolute and also set as OCIO in the job's environment, so every worker uses the same.
--report FILE gives one report per chunk: FILE with .START-END before its extension.
--progress farm prints the JSON progress objects plus 'Progress: N%' lines (Deadline's task
progress). With --device cuda the OpenCue layer reserves a GPU (--gpu-memory GB of its memory).
--dry-run DIR writes the job files (OpenCue job spec XML, Deadline job and plugin info) without
contacting a farm. OpenCue submission uses pyoutline (pip install 'bgmatte[farm]') and the
Cuebot from $CUEBOT_HOSTS; Deadline submission needs deadlinecommand on PATH.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from bgmatte.errors import InputError, InputErrors
from bgmatte.farm import deadline, opencue
from bgmatte.farm.chunks import DEFAULT_GPU_MEMORY_GB, MAX_CORES, farm_job, is_absolute_anywhere

MATTE_METAVAR = "INPUT --plate PLATE -o OUTPUT --frames SPEC [matte options]"


def _positive_int(text: str) -> int:
    """argparse type: a whole number of 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _cores(text: str) -> int:
    """argparse type: cores per chunk, 1 to MAX_CORES (each chunk's --threads)."""
    value = _positive_int(text)
    if value > MAX_CORES:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_CORES} (it is each chunk's --threads), got {value}")
    return value


COMMON_OPTIONS = (
    ("--chunk", dict(type=_positive_int, default=10, metavar="N",
                     help="frames per chunk (one farm task); default 10")),
    ("--cores", dict(type=_cores, default=4, metavar="N",
                     help=f"CPU cores reserved per chunk, also passed as its --threads (1 to {MAX_CORES}); default 4")),
    ("--memory", dict(type=_positive_int, default=16, metavar="GB",
                      help="memory reserved per chunk in GB; default 16")),
    ("--dry-run", dict(type=Path, metavar="DIR",
                       help="write the job files into DIR instead of submitting")),
    ("--name", dict(metavar="NAME", help="job name; default bgmatte_<output name>")),
    ("--executable", dict(metavar="PATH",
                          help="absolute path of bgmatte as the workers see it; default this installation's")),
)
FARM_OPTIONS = {
    "opencue": (
        ("--show", dict(metavar="SHOW", help="OpenCue show; default $SHOW, else pyoutline's config")),
        ("--shot", dict(metavar="SHOT", help="OpenCue shot; default $SHOT, else pyoutline's config")),
        ("--gpu-memory", dict(type=_positive_int, default=DEFAULT_GPU_MEMORY_GB, metavar="GB",
                              help="GPU memory reserved per chunk with --device cuda (one GPU); "
                                   f"default {DEFAULT_GPU_MEMORY_GB}")),
    ),
    "deadline": (
        ("--pool", dict(metavar="POOL", help="Deadline pool; default the repository's")),
        ("--group", dict(metavar="GROUP", help="Deadline group, e.g. machines with enough memory")),
    ),
}
FARM_SUMMARIES = {
    "opencue": "submit to OpenCue through pyoutline: one Shell layer, chunked",
    "deadline": "submit to Deadline's CommandLine plugin through deadlinecommand, chunked",
}
SUBMIT_OPTION_NAMES = frozenset(name for name, _ in COMMON_OPTIONS) | frozenset(
    name for options in FARM_OPTIONS.values() for name, _ in options)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One sub-command per farm, each with the submit options and then the matte command line."""
    farms = parser.add_subparsers(dest="farm", required=True, metavar="FARM")
    for farm, summary in FARM_SUMMARIES.items():
        sub = farms.add_parser(farm, help=summary, description=f"{summary}.\n\n{__doc__}",
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        for name, options in COMMON_OPTIONS + FARM_OPTIONS[farm]:
            sub.add_argument(name, **options)
        sub.add_argument("matte_args", nargs=argparse.REMAINDER, metavar=MATTE_METAVAR,
                         help="the matte command line every chunk runs (see bgmatte matte --help)")


def bgmatte_executable() -> str:
    """The absolute path of this installation's ``bgmatte`` console script.

    Raises:
        InputError: ("--executable", problem) when neither the script beside this Python nor one
            on PATH exists.
    """
    beside = Path(sys.executable).parent / ("bgmatte.exe" if os.name == "nt" else "bgmatte")
    if beside.is_file():
        return str(beside.absolute())
    on_path = shutil.which("bgmatte")
    if on_path is not None:
        return os.path.abspath(on_path)
    raise InputError("--executable", "cannot find the bgmatte executable beside this Python or on PATH; "
                                     "give the absolute path the farm workers use")


def _executable(value: str | None) -> str:
    """The --executable value checked to be absolute (POSIX or Windows), or this installation's."""
    if value is None:
        return bgmatte_executable()
    if not is_absolute_anywhere(value):
        raise InputError("--executable", f"{value!r} is not absolute; give the path the farm workers use")
    return value


def run(args: argparse.Namespace) -> int:
    """Check the job, then write its files (--dry-run) or submit it; nothing is written on a bad job."""
    misplaced = [token.split("=", 1)[0] for token in args.matte_args
                 if token.split("=", 1)[0] in SUBMIT_OPTION_NAMES]
    if misplaced:
        raise InputErrors([InputError(name, "is a submit option; put it before INPUT") for name in misplaced])
    if args.dry_run is not None and args.dry_run.exists() and not args.dry_run.is_dir():
        raise InputError(args.dry_run, "exists and is not a folder; --dry-run needs a folder")
    job = farm_job(args.matte_args, executable=_executable(args.executable), cwd=Path.cwd(),
                   chunk=args.chunk, cores=args.cores, memory_gb=args.memory, name=args.name,
                   gpu_memory_gb=getattr(args, "gpu_memory", DEFAULT_GPU_MEMORY_GB))

    if args.farm == "opencue":
        if args.dry_run is not None:
            written = opencue.write_dry_run(job, args.dry_run, show=args.show, shot=args.shot)
        else:
            for name in opencue.submit(job, show=args.show, shot=args.shot):
                print(f"bgmatte: submitted OpenCue job {name}")
            return 0
    else:
        if args.dry_run is not None:
            written = list(deadline.write_job_files(job, args.dry_run, pool=args.pool, group=args.group))
        else:
            print(deadline.submit(job, pool=args.pool, group=args.group))
            return 0
    for path in written:
        print(f"bgmatte: wrote {path}")
    return 0
