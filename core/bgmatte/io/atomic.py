"""Write files atomically: into a hidden temp file in the target's folder, then rename over the target.

A reader (a comp, --skip-existing, a farm retry) therefore sees either the old file or the complete
new one, never half a frame. Temps are named ``.<name>.<host>-<pid>.tmp<suffix>`` (e.g.
``.matte.1001.exr.node7-4242.tmp.exr``): hidden, unique per host and process, and ending in the real
extension so OpenImageIO picks the format from the name. When that name would exceed the file
system's name limit (NAME_MAX, 255 bytes on most), the ``<name>`` part is cut and a hash of the
whole name added (``.<start of name>~<hash>.<host>-<pid>.tmp<suffix>``), so every legal target
name has a temp that fits. ``check_target`` tells before a run whether a target can be written.
"""
from __future__ import annotations

import errno
import hashlib
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


# Used where the file system cannot be asked (e.g. no ancestor folder can be queried).
DEFAULT_NAME_MAX = 255
DEFAULT_PATH_MAX = 4096
# A temp keeps the target's extension only when it is this short (OpenImageIO needs ".exr").
_MAX_TEMP_SUFFIX = 16
_HOST_MAX = 63


def _host() -> str:
    """This machine's short host name, safe inside a file name (no dots, no separators, at most 63 chars)."""
    return (re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname().split(".")[0]) or "host")[:_HOST_MAX]


def _limit(folder: Path, name: str, default: int) -> int:
    """A pathconf limit of ``folder`` (or of its nearest existing ancestor), else ``default``."""
    probe = Path(os.path.abspath(folder))
    while True:
        try:
            return int(os.pathconf(probe, name))
        except (OSError, ValueError, AttributeError):
            if probe == probe.parent:
                return default
            probe = probe.parent


def name_max(folder: str | Path) -> int:
    """The longest file name in bytes that ``folder``'s file system allows (255 where it cannot say)."""
    return _limit(Path(folder), "PC_NAME_MAX", DEFAULT_NAME_MAX)


def _bytes(text: str) -> int:
    return len(os.fsencode(text))


def temp_path_for(path: Path, limit: int | None = None) -> Path:
    """The temp file that stands in for ``path`` while this process writes it.

    Args:
        path: the target file.
        limit: the name limit in bytes; None asks the target folder's file system.
    """
    path = Path(path)
    suffix = path.suffix if _bytes(path.suffix) <= _MAX_TEMP_SUFFIX else ""
    tail = f".{_host()}-{os.getpid()}.tmp{suffix}"
    name = f".{path.name}{tail}"
    limit = name_max(path.parent) if limit is None else limit
    if _bytes(name) <= limit:
        return path.with_name(name)
    digest = hashlib.sha1(os.fsencode(path.name)).hexdigest()[:10]
    room = max(limit - _bytes(f".~{digest}{tail}"), 0)
    start = os.fsencode(path.name)[:room].decode("utf-8", errors="ignore")
    return path.with_name(f".{start}~{digest}{tail}")


def check_target(path: str | Path, what: str = "output", check_file: bool = True) -> None:
    """Check that ``path`` can be written atomically, before anything is written.

    Every part of the path must fit the file system's name limit (NAME_MAX), the path and its temp
    file its path limit (PATH_MAX); no folder on the way may be a file, a symlink loop or a broken
    symlink; the target must not be a folder or a symlink loop. The folder need not exist yet.
    Only metadata is read (a few stat calls), so it is cheap enough to run for every frame.

    Args:
        path: the file to be written.
        what: how the message names it ("output", "report").
        check_file: also look at the target itself (a folder or a link loop there is refused).

    Raises:
        InputError: (path, problem) naming the first problem found.
    """
    path = Path(path)
    limit = _check_name_lengths(path, path, what, last_is_file=True)
    path_limit = _limit(path.parent, "PC_PATH_MAX", DEFAULT_PATH_MAX)
    longest = max(_bytes(os.path.abspath(path)), _bytes(os.path.abspath(temp_path_for(path, limit))))
    if longest >= path_limit:
        raise InputError(path, f"{what} path is {longest} bytes with its temp file; the file system allows "
                               f"{path_limit - 1}: use a shorter folder or name")
    _check_folder_chain(path.parent, path, what)
    if not check_file:
        return
    try:
        os.stat(path)
    except FileNotFoundError:
        return
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise InputError(path, f"{what} is a symlink loop; remove the link or choose another path") from None
        raise InputError(path, f"cannot use the {what} path: {_reason(error)}") from None
    if os.path.isdir(path):
        raise InputError(path, f"{what} is a folder; give a file path")


def _check_name_lengths(path: Path, subject: Path, what: str, last_is_file: bool) -> int:
    """Raise InputError when a part of ``path`` is longer than NAME_MAX; returns the limit."""
    limit = name_max(path.parent)
    for index, part in enumerate(path.parts):
        size = _bytes(part)
        if size > limit:
            is_file = last_is_file and index == len(path.parts) - 1
            kind = "file name" if is_file else f"folder name {part[:24]}..."
            raise InputError(subject, f"{what} {kind} is {size} bytes; the file system allows at most {limit}")
    return limit


def _check_folder_chain(folder: Path, target: Path, what: str) -> None:
    """Raise InputError when the nearest existing folder on the way to ``target`` is not a usable folder."""
    probe = folder
    while True:
        try:
            os.stat(probe)
        except FileNotFoundError:
            if os.path.islink(probe):
                raise InputError(target, f"{what} folder {probe} is a broken symlink") from None
            if probe == probe.parent:
                return
            probe = probe.parent
            continue
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise InputError(target, f"{what} folder {probe} is a symlink loop") from None
            if error.errno == errno.ENOTDIR:
                raise InputError(target, f"{what} folder {probe}: part of it is a file, not a folder") from None
            raise InputError(target, f"cannot use the {what} folder {probe}: {_reason(error)}") from None
        if not os.path.isdir(probe):
            raise InputError(target, f"{what} folder {probe} is a file, not a folder")
        return


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
    _check_name_lengths(folder, folder, "output", last_is_file=False)
    _check_folder_chain(folder, folder, "output")
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
