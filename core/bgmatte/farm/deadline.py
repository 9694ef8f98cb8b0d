"""Deadline back end: a FarmJob as a job info file and a plugin info file for the CommandLine plugin.

The files are plain ``Key=Value`` lines. The plugin info's ``Arguments=`` holds the chunk command
with Deadline's ``<STARTFRAME>``/``<ENDFRAME>`` tokens, quoted the way Deadline splits it (Windows
command-line rules, also on Linux workers); ``ShellExecute=False`` runs the executable without a
shell. Submission hands both files to ``deadlinecommand``.
"""
from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path, PurePosixPath, PureWindowsPath

from bgmatte.errors import BgmatteError, InputError
from bgmatte.farm.chunks import DEADLINE_TOKENS, FarmJob, chunk_command

logger = logging.getLogger(__name__)


def job_info(job: FarmJob, pool: str | None = None, group: str | None = None) -> dict[str, str]:
    """The job info entries: CommandLine plugin, name, frames, chunk size, environment, reservation.

    Deadline has no per-task core or memory reservation in a job info file: ``ConcurrentTasks=1``
    keeps one chunk per worker, the chunk's ``--threads`` bounds its CPU use, and the cores and
    memory are recorded as extra info (``bgmatte_cores``, ``bgmatte_memory_gb``, with ``--device
    cuda`` also ``bgmatte_gpus``) for a pool, group or event plugin to route on. The job's
    environment (``EnvironmentKeyValueN``) pins the OCIO config the submitter resolved.
    """
    info = {
        "Plugin": "CommandLine",
        "Name": job.name,
        "Comment": f"bgmatte matte {job.input} -> {job.output}; {job.cores} cores, {job.memory_gb} GB per chunk",
        "Frames": job.frame_range,
        "ChunkSize": str(job.chunk),
        "ConcurrentTasks": "1",
        "OutputDirectory0": _folder_of(job.output),
        "ExtraInfoKeyValue0": f"bgmatte_cores={job.cores}",
        "ExtraInfoKeyValue1": f"bgmatte_memory_gb={job.memory_gb}",
    }
    if job.gpus:
        info["ExtraInfoKeyValue2"] = f"bgmatte_gpus={job.gpus}"
    for index, (key, value) in enumerate(job.environment):
        info[f"EnvironmentKeyValue{index}"] = f"{key}={value}"
    if pool:
        info["Pool"] = pool
    if group:
        info["Group"] = group
    return info


def _folder_of(path: str) -> str:
    """The folder of an absolute POSIX or Windows path, written in the path's own style."""
    windows = PureWindowsPath(path)
    return str(windows.parent) if windows.drive else str(PurePosixPath(path).parent)


def plugin_info(job: FarmJob) -> dict[str, str]:
    """The CommandLine plugin entries: the absolute executable and the chunk's arguments."""
    argv = chunk_command(job, DEADLINE_TOKENS)
    return {
        "Executable": argv[0],
        "Arguments": subprocess.list2cmdline(argv[1:]),
        "Shell": "default",
        "ShellExecute": "False",
        "SingleFramesOnly": "False",
        "StartupDirectory": "",
    }


def info_text(entries: dict[str, str]) -> str:
    """``Key=Value`` lines, as Deadline reads job and plugin info files."""
    return "".join(f"{key}={value}\n" for key, value in entries.items())


def write_job_files(job: FarmJob, folder: Path, pool: str | None = None,
                    group: str | None = None) -> tuple[Path, Path]:
    """Write ``<name>.job_info.job`` and ``<name>.plugin_info.job`` into ``folder``.

    Returns:
        (job info path, plugin info path).
    """
    folder.mkdir(parents=True, exist_ok=True)
    job_path = folder / f"{job.name}.job_info.job"
    plugin_path = folder / f"{job.name}.plugin_info.job"
    job_path.write_text(info_text(job_info(job, pool=pool, group=group)), encoding="utf-8")
    plugin_path.write_text(info_text(plugin_info(job)), encoding="utf-8")
    return job_path, plugin_path


def find_deadlinecommand() -> str:
    """The ``deadlinecommand`` executable on PATH.

    Raises:
        InputError: ("deadlinecommand", problem) when it is not on PATH.
    """
    found = shutil.which("deadlinecommand")
    if found is None:
        raise InputError("deadlinecommand", "not found on PATH; install the Deadline client or add its bin "
                                            "folder to PATH, or write the job files with --dry-run DIR")
    return found


def submit(job: FarmJob, pool: str | None = None, group: str | None = None) -> str:
    """Submit ``job`` with ``deadlinecommand JOB_INFO PLUGIN_INFO`` and return its report (``JobID=...``).

    Raises:
        InputError: when deadlinecommand is not on PATH.
        BgmatteError: ("deadlinecommand", problem) when Deadline refuses the job.
    """
    command = find_deadlinecommand()
    with tempfile.TemporaryDirectory(prefix="bgmatte_deadline_") as folder:
        job_path, plugin_path = write_job_files(job, Path(folder), pool=pool, group=group)
        result = subprocess.run([command, str(job_path), str(plugin_path)],
                                capture_output=True, text=True, check=False)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        last_line = output.splitlines()[-1] if output else "no output"
        raise BgmatteError("deadlinecommand", f"submission failed (exit {result.returncode}): {last_line}")
    logger.info("submitted %s to Deadline", job.name)
    return output
