"""No silent staleness: the node says when its inputs or settings changed since the last complete Analyse.

At Analyse the node records, per input (Source, CleanPlate, Roto, Garbage, Core), a digest of what
feeds it: every upstream node's class and knob values (UI-only knobs left out) and, for each node
with a file knob (Read, a precomp's Write), the core's input signature of each file the analysed
frames read (``bgmatte.fingerprint.file_signature``: path, size, mtime and a hash of both ends,
the same signature ``--skip-existing`` uses), plus the knobs that change the matte. It is saved as
``<cache>/nuke_inputs.json`` only when every frame was computed or kept. `refresh` recomputes it
and, when it differs, sets the ``stale`` knob and prefixes the label line (``status``) with
"stale: inputs changed since Analyse (<which>)". Analyse clears it again.

Analyse itself always re-renders the inputs and runs the core with ``skip_existing``: the core's
per-frame input fingerprints then recompute only the frames whose inputs (frame, motion-cue
neighbours, plate, mattes) changed, and keep the others.

When bgmatte does not import in Nuke's Python (external mode), files are signed by path, size and
mtime only (no content sample). Not seen: a change that no knob and no file shows (e.g. a gizmo
whose Python reads something else). The check runs on load, after Analyse, on the node's Check
button and in the GUI at most every REFRESH_SECONDS per node (Nuke's updateUI callback).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time

import nuke

from bgmatte_nuke.errors import NodeError
from bgmatte_nuke.settings import CLEAN_PLATE, INPUT_NAMES, SOURCE, NodeSettings, read_settings

STALE_PREFIX = "stale: inputs changed since Analyse"
REFRESH_SECONDS = 10.0
UI_KNOBS = frozenset({
    "name", "xpos", "ypos", "selected", "label", "note_font", "note_font_size", "note_font_color",
    "tile_color", "gl_color", "hide_input", "cached", "postage_stamp", "postage_stamp_frame", "icon",
    "help", "onCreate", "onDestroy", "knobChanged", "updateUI", "autolabel", "indicators", "dope_sheet",
    "bookmark", "panel", "reload", "lock_connections", "process_mask", "status", "stale",
    "analysed_status", "check_stale", "view"})
_PATTERN = re.compile(r"#+|%0?(\d*)d")
_last_refresh: dict[str, float] = {}
_changed: dict[str, list[str]] = {}
_registered: list[bool] = []


def _sign_file(path: str) -> str:
    """The core's input signature of a file; path, size and mtime when bgmatte does not import here."""
    try:
        from bgmatte.fingerprint import file_signature
    except ImportError:
        try:
            info = os.stat(path)
        except OSError:
            return f"missing|{os.path.abspath(path)}"
        return f"{os.path.realpath(path)}|{info.st_size}|{info.st_mtime_ns}"
    try:
        return file_signature(path)
    except Exception as error:  # noqa: BLE001 - a FIFO or unreadable file: say so, do not stop the check
        return f"unreadable|{path}|{error}"


def _frame_file(pattern: str, frame: int) -> str:
    """One frame of a Nuke file pattern (``####`` or ``%04d``)."""
    def pad(match: re.Match) -> str:
        width = len(match.group()) if match.group().startswith("#") else int(match.group(1) or 0)
        return f"{frame:0{width}d}"
    return _PATTERN.sub(pad, pattern, count=1)


def _knob_text(knob) -> str:
    script = getattr(knob, "toScript", None)
    try:
        return str(script() if script is not None else knob.value())
    except Exception:  # noqa: BLE001 - a knob Nuke cannot print is left out
        return ""


def _files(node, frames: list[int]) -> list[str]:
    """Signatures of the files a node with a file knob reads on ``frames`` (held at its first / last)."""
    knob = node.knob("file")
    if knob is None or not str(knob.value()).strip():
        return []
    pattern = nuke.filename(node) if hasattr(nuke, "filename") else str(knob.value())
    pattern = str(pattern or knob.value())
    first, last = node.knob("first"), node.knob("last")
    held = frames
    if first is not None and last is not None:
        low, high = int(first.value()), int(last.value())
        held = sorted({min(max(f, low), high) for f in frames})
    return [_sign_file(_frame_file(pattern, f)) for f in (held if _PATTERN.search(pattern) else held[:1])]


def _tree(upstream, frames: list[int]) -> str:
    """A digest of everything upstream of one input, as of now."""
    parts, seen, pending = [], set(), [upstream]
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        knobs = {name: _knob_text(knob) for name, knob in sorted(node.knobs().items()) if name not in UI_KNOBS}
        parts.append({"class": node.Class(), "knobs": knobs, "files": _files(node, frames)})
        if hasattr(node, "nodes"):
            pending.extend(node.nodes())
        pending.extend(node.dependencies())
    return hashlib.blake2b(json.dumps(parts, sort_keys=True).encode(), digest_size=16).hexdigest()


def _frames(index: int, settings: NodeSettings) -> list[int]:
    if index == SOURCE:
        handles = 2 * settings.motion_gap
        return list(range(settings.first - handles, settings.last + handles + 1))
    if index == CLEAN_PLATE and settings.plate_still:
        return [settings.first]
    return settings.frames


def record(node, settings: NodeSettings) -> dict:
    """What the node's inputs and matte settings are now (digests by input name, and "settings")."""
    inputs = {}
    for index, name in enumerate(INPUT_NAMES):
        upstream = node.input(index)
        inputs[name] = None if upstream is None else _tree(upstream, _frames(index, settings))
    matte = {"model": settings.model, "colorspace": settings.colorspace, "ocio": settings.ocio,
             "motion_gap": settings.motion_gap, "first": settings.first, "last": settings.last,
             "plate_still": settings.plate_still}
    return {"inputs": inputs, "settings": matte}


def save(settings: NodeSettings, current: dict) -> None:
    """Keep ``current`` as the record of the last complete Analyse (atomically)."""
    path = settings.cache.inputs_record
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps(current, indent=1, sort_keys=True))
    os.replace(temp, path)


def changes(node) -> list[str]:
    """What changed since the last complete Analyse: input names, and "settings"; [] when nothing or never analysed."""
    try:
        settings = read_settings(node)
    except NodeError:
        return []
    try:
        stored = json.loads(settings.cache.inputs_record.read_text())
    except (OSError, ValueError):
        return []
    current = record(node, settings)
    changed = [name for name in INPUT_NAMES if stored.get("inputs", {}).get(name) != current["inputs"][name]]
    return changed + (["settings"] if stored.get("settings") != current["settings"] else [])


def show(node, changed: list[str]) -> None:
    """Set the ``stale`` knob and the label line (``status``) from the last Analyse status and ``changed``."""
    _changed[node.fullName()] = list(changed)
    text = f"{STALE_PREFIX} ({', '.join(changed)}): press Analyse" if changed else ""
    node["stale"].setValue(text)
    base = str(node["analysed_status"].value())
    status = f"{text}\n{base}" if text and base else text or base
    if node["status"].value() != status:
        node["status"].setValue(status)


def set_status(node, text: str) -> None:
    """Set the outcome line of Analyse (kept under the stale line while the node is stale)."""
    node["analysed_status"].setValue(text)
    show(node, _changed.get(node.fullName(), []))


def refresh(node=None) -> list[str]:
    """Check the node now and show the result; returns what changed."""
    node = node if node is not None else nuke.thisNode()
    changed = changes(node)
    show(node, changed)
    _last_refresh[node.fullName()] = time.monotonic()
    return changed


def refresh_now_and_then() -> None:
    """Nuke's updateUI callback: refresh a node at most every REFRESH_SECONDS."""
    node = nuke.thisNode()
    if time.monotonic() - _last_refresh.get(node.fullName(), float("-inf")) >= REFRESH_SECONDS:
        refresh(node)


def register(node_class: str) -> None:
    """Install the GUI's periodic check once per Nuke session (the node's onCreate calls this)."""
    if not _registered:
        nuke.addUpdateUI(refresh_now_and_then, nodeClass=node_class)
        _registered.append(True)
