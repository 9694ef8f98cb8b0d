"""Write files atomically: into a hidden temp file in the target's folder, then rename over the target.

A reader (a comp, --skip-existing, a farm retry) therefore sees either the old file or the complete
new one, never half a frame. Temps are named ``.<name>.<host>-<pid>.tmp<suffix>`` (e.g.
``.matte.1001.exr.node7-4242.tmp.exr``): hidden, unique per host and process, and ending in the real
extension so OpenImageIO picks the format from the name.
"""
from __future__ import annotations

import logging
import os
import re
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bgmatte.errors import InputError

log = logging.getLogger(__name__)

_TEMP_NAME = re.compile(r"\.(?P<target>.+)\.(?P<host>[^.]+)-(?P<pid>\d+)\.tmp(?:\.[^.]+)?")


def _host() -> str:
    """This machine's short host name, safe inside a file name (no dots, no separators)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname().split(".")[0]) or "host"


def temp_path_for(path: Path) -> Path:
    """The temp file that stands in for ``path`` while this process writes it."""
    return path.with_name(f".{path.name}.{_host()}-{os.getpid()}.tmp{path.suffix}")


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temp path to write; on success it replaces ``path``, on any exception it is deleted.

    The output folder is created if needed. KeyboardInterrupt and cancellation also delete the temp,
    so an interrupted run leaves only complete files (and an existing good file stays untouched).

    Raises:
        InputError: (folder, problem) when the output folder cannot be created.
    """
    target = Path(path)
    _make_folder(target.parent)
    temp = temp_path_for(target)
    try:
        yield temp
        os.replace(temp, target)
    except BaseException:
        _discard(temp)
        raise


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Replace a text file (an index, a report) atomically, so a reader never sees half of it."""
    with atomic_output(path) as temp:
        temp.write_text(text, encoding="utf-8")
    return Path(path)


def check_writable(folder: str | Path) -> None:
    """Check that files can be created in ``folder`` (or that it can be created), leaving nothing behind.

    A real create-and-delete is used rather than ``os.access``, which misjudges network shares and ACLs.

    Raises:
        InputError: (folder, problem) when the folder is a file or cannot be written.
    """
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(folder, f"cannot create the output folder: {existing} is a file")
    try:
        handle, probe = tempfile.mkstemp(prefix=".bgmatte-write-check-", dir=existing)
    except OSError as error:
        raise InputError(folder, f"output folder is not writable: {_reason(error)}") from None
    os.close(handle)
    os.unlink(probe)


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Delete temps left in ``folder`` by processes of this host that are no longer running.

    Temps of other hosts are left alone: a process there may still be writing them.

    Returns:
        The temp files removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    host, removed = _host(), []
    for entry in folder.iterdir():
        match = _TEMP_NAME.fullmatch(entry.name)
        if match is None or match["host"] != host or _pid_alive(int(match["pid"])):
            continue
        try:
            entry.unlink()
        except FileNotFoundError:
            continue
        log.info("removed stale temp file %s", entry)
        removed.append(entry)
    return removed


def _discard(temp: Path) -> None:
    """Delete a failed temp; a failure to delete must not hide the error that got us here."""
    try:
        temp.unlink(missing_ok=True)
    except OSError as error:
        log.warning("cannot remove temp file %s: %s", temp, error)


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(folder, f"cannot create the output folder: {_reason(error)}") from None


def _reason(error: OSError) -> str:
    return (error.strerror or str(error)).lower()


def _pid_alive(pid: int) -> bool:
    """True when a process with this id runs on this machine (or we cannot tell)."""
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        return _pid_alive_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pid_alive_windows(pid: int) -> bool:
    """Windows: os.kill would terminate the process, so ask OpenProcess / GetExitCodeProcess."""
    import ctypes

    query_limited_information, still_active = 0x1000, 259
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    handle = kernel32.OpenProcess(query_limited_information, False, pid)
    if not handle:
        return ctypes.get_last_error() == 5  # access denied: it exists
    try:
        code = ctypes.c_ulong()
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        return code.value == still_active
    finally:
        kernel32.CloseHandle(handle)
