"""OpenCue back end: a FarmJob as a pyoutline job (one Shell layer) and its job spec XML.

pyoutline (package ``opencue-pyoutline``, the ``farm`` extra) is imported only when called. The
spec comes from pyoutline's own serialiser without the pycuerun wrapper, so the layer runs the
bgmatte command directly and no outline session is created; a dry run writes that spec and a
real submission sends the very same text to the Cuebot.
"""
from __future__ import annotations

import logging
import shlex
from pathlib import Path

from bgmatte.errors import BgmatteError, InputError
from bgmatte.farm.chunks import OPENCUE_TOKENS, FarmJob, chunk_command, chunk_frames

logger = logging.getLogger(__name__)

LAYER_NAME = "bgmatte"


def command_line(job: FarmJob) -> str:
    """The chunk command as one POSIX shell line (RQD on Linux/macOS runs it through a shell).

    Every argument is quoted where needed, so ``#`` in frame patterns and the ``#FRAME_START#``
    tokens reach bgmatte as written; RQD replaces the tokens before the shell sees the line.
    """
    return shlex.join(chunk_command(job, OPENCUE_TOKENS))


def _import_pyoutline():
    """The pyoutline modules, or an InputError that says how to install them."""
    try:
        import outline
        import outline.backend.cue
        import outline.cuerun
        import outline.modules.shell
    except ImportError as error:
        raise InputError("opencue", f"pyoutline is not installed ({error}); "
                                    "install it with: pip install 'bgmatte[farm]'") from error
    return outline


def build_launcher(job: FarmJob, show: str | None = None, shot: str | None = None):
    """A pyoutline ``OutlineLauncher`` for ``job``: one Shell layer with its range, chunk and reservation.

    The layer's environment carries ``job.environment`` (the pinned ``OCIO``); with ``--device cuda``
    it also reserves ``job.gpus`` GPUs and ``job.gpu_memory_gb`` of GPU memory (pyoutline's ``gpus``
    and ``gpu_memory`` layer arguments, job spec 1.12 and later).

    Args:
        job: the farm job.
        show: OpenCue show; None = pyoutline's default (``$SHOW``, else its config).
        shot: OpenCue shot; None = pyoutline's default (``$SHOT``, else its config).
    """
    outline = _import_pyoutline()
    job_outline = outline.Outline(job.name, show=show, shot=shot)
    reservation = {"gpus": job.gpus, "gpu_memory": f"{job.gpu_memory_gb}g"} if job.gpus else {}
    layer = outline.modules.shell.Shell(
        LAYER_NAME,
        command=command_line(job),
        range=job.frame_range,
        chunk=job.chunk,
        cores=job.cores,
        memory=f"{job.memory_gb}g",
        env=dict(job.environment),
        **reservation,
    )
    job_outline.add_layer(layer)
    return outline.cuerun.OutlineLauncher(job_outline)


def job_spec(job: FarmJob, show: str | None = None, shot: str | None = None) -> str:
    """The OpenCue job spec XML of ``job``, as pyoutline serialises it for the Cuebot."""
    launcher = build_launcher(job, show=show, shot=shot)
    return _import_pyoutline().backend.cue.serialize_simple(launcher)


def write_dry_run(job: FarmJob, folder: Path, show: str | None = None, shot: str | None = None) -> list[Path]:
    """Write ``<name>.opencue.xml`` (the job spec) and ``<name>.command.txt`` into ``folder``.

    Returns:
        The paths written.
    """
    spec = job_spec(job, show=show, shot=shot)
    chunks = chunk_frames(job.frames, job.chunk)
    folder.mkdir(parents=True, exist_ok=True)
    spec_path = folder / f"{job.name}.opencue.xml"
    command_path = folder / f"{job.name}.command.txt"
    spec_path.write_text(spec, encoding="utf-8")
    gpus = f", {job.gpus} GPU with {job.gpu_memory_gb} GB" if job.gpus else ""
    environment = "".join(f"# environment: {key}={value}\n" for key, value in job.environment)
    command_path.write_text(
        f"# OpenCue job {job.name}: frames {job.frame_range} ({len(job.frames)} frames) in "
        f"{len(chunks)} chunks of up to {job.chunk}; each reserves {job.cores} cores and {job.memory_gb} GB"
        f"{gpus}\n{environment}"
        f"{command_line(job)}\n",
        encoding="utf-8",
    )
    return [spec_path, command_path]


def submit(job: FarmJob, show: str | None = None, shot: str | None = None) -> list[str]:
    """Send the job spec to the Cuebot (``$CUEBOT_HOSTS`` or opencue's config) and return the job names.

    Raises:
        BgmatteError: ("cuebot", problem) when the Cuebot cannot be reached or refuses the job.
    """
    spec = job_spec(job, show=show, shot=shot)
    import opencue

    try:
        jobs = opencue.api.launchSpecAndWait(spec)
    except opencue.exception.CueException as error:
        raise BgmatteError("cuebot", f"submission failed: {error}; set CUEBOT_HOSTS, "
                                     "or write the job spec with --dry-run DIR") from error
    names = [launched.name() for launched in jobs]
    logger.info("submitted %s to OpenCue", ", ".join(names))
    return names
