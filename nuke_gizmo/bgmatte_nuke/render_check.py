"""Renders that need a matte frame missing from the cache stop with a clear message.

Policy (GUI renders and command-line renders such as `nuke -x shot.nk` on a farm alike): the node
never computes mattes inside a Nuke render. Before each frame a Write renders, every Background
Matte node upstream of it is checked; if its matte for that frame (held at the first / last frame
outside the node's range) is not in the cache, the render stops with a message that names the
node, the frame, the cache folder and what to do: press Analyse, or run the node's analysis
headless first (`nuke -t <NUKE_PATH>/bgmatte_nuke/analyse_script.py shot.nk`).
Why: the matte needs the whole frame range for its motion cues, a GPU, and minutes per shot;
done inside render chunks it would be repeated by every chunk and would race on the cache.
"""
from __future__ import annotations

import nuke

from bgmatte_nuke.cache import frame_path
from bgmatte_nuke.errors import NodeError
from bgmatte_nuke.settings import cache_folder

MARKER_KNOB = "bgmatte_node"
_registered: list[bool] = []


def register() -> None:
    """Install the per-frame check once per Nuke session (the node's onCreate calls this)."""
    if not _registered:
        nuke.addBeforeFrameRender(check_frame, nodeClass="Write")
        _registered.append(True)


def is_matte_node(node) -> bool:
    """Whether a node is a Background Matte node (gizmo, or a copy converted to a Group)."""
    return node.knob(MARKER_KNOB) is not None


def upstream_matte_nodes(start) -> list:
    """The enabled Background Matte nodes that ``start`` depends on, looking inside upstream groups."""
    found, seen, pending = [], set(), list(start.dependencies())
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if is_matte_node(node):
            if not node["disable"].value():
                found.append(node)
        elif hasattr(node, "nodes"):
            pending.extend(node.nodes())
        pending.extend(node.dependencies())
    return found


def missing_matte(node, frame: int) -> str | None:
    """The message for a node whose matte of ``frame`` is not in its cache, or None when it is there."""
    first, last = int(node["first_frame"].value()), int(node["last_frame"].value())
    held = min(max(frame, first), last)
    try:
        path = frame_path(cache_folder(node) / "matte" / "matte.####.exr", held)
    except NodeError as error:
        return f"bgmatte: {node.fullName()}: {error}"
    if path.is_file():
        return None
    return (f"bgmatte: {node.fullName()}: matte frame {held} is not in the cache ({path.as_posix()}); "
            "press Analyse on the node before rendering (renders never compute mattes)")


def check_frame() -> None:
    """beforeFrameRender callback: raise when a matte this Write needs for this frame is missing."""
    frame = int(nuke.frame())
    problems = [m for m in (missing_matte(node, frame) for node in upstream_matte_nodes(nuke.thisNode())) if m]
    if problems:
        raise RuntimeError("\n".join(problems))
