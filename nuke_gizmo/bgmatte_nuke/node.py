"""What the Background Matte node's knobs call: create, on_create and analyse.

Analyse: read the knobs, render the inputs to EXR in the cache folder (Nuke's own render, in the
main thread), then run bgmatte in a worker thread with a Nuke progress task that can be cancelled,
and finally reload the node's Read of the cached matte (main thread). Without a GUI (`nuke -t`)
the same runs in the calling thread.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import nuke

from bgmatte_nuke import render_check
from bgmatte_nuke.errors import NodeError
from bgmatte_nuke.inputs import render_inputs
from bgmatte_nuke.runner import MatteJob, RunResult, run_job
from bgmatte_nuke.script_colour import script_colour
from bgmatte_nuke.settings import NodeSettings, check_inputs, read_settings

log = logging.getLogger(__name__)

NODE_CLASS = "bgmatte_BackgroundMatte"
READ_NODE = "BGM_CacheRead"
TASK_TITLE = "bgmatte: Background Matte"


def create():
    """Menu command: add a Background Matte node (its onCreate fills the defaults)."""
    return nuke.createNode(NODE_CLASS)


def on_create() -> None:
    """The gizmo's onCreate: fill the colour knobs, frame range and cache folder from the script; arm the render check.

    Runs whenever the node is created or its script is loaded (GUI and command line); a node that
    already holds a colourspace (from a saved script) is left alone. The cache folder is pinned to
    a plain path when the script is saved (else Analyse pins it).
    """
    node = nuke.thisNode()
    render_check.register()
    if node["colorspace"].value():
        return
    root = nuke.root()
    ocio, colorspace = script_colour(root, getattr(nuke, "EXE_PATH", ""))
    node["colorspace"].setValue(colorspace)
    node["ocio_config"].setValue(ocio)
    node["first_frame"].setValue(int(root["first_frame"].value()))
    node["last_frame"].setValue(int(root["last_frame"].value()))
    cache = str(node["cache"].evaluate())
    if Path(cache).is_absolute():
        node["cache"].setValue(cache)


def job_for(settings: NodeSettings, roto: str | None) -> MatteJob:
    """The bgmatte run for a node's settings, on its cache folder's rendered inputs."""
    layout = settings.cache
    return MatteJob(source=layout.source.as_posix(), plate=layout.plate(settings.plate_still).as_posix(),
                    output=layout.matte.as_posix(), frames=settings.frame_spec, colorspace=settings.colorspace,
                    ocio=settings.ocio, seg=roto or "auto", motion_gap=settings.motion_gap, model=settings.model,
                    device=settings.device)


def _status(result: RunResult, total: int) -> str:
    """One line for the node's status knob."""
    if result.errors:
        return "failed: " + result.errors[0]
    text = f"{result.done} of {total} frames computed"
    if result.skipped:
        text += f", {result.skipped} already in the cache"
    if result.failed:
        text += f", {len(result.failed)} failed"
    return text + (" (cancelled)" if result.cancelled else "")


def finish(node, result: RunResult, total: int) -> None:
    """Main thread: show the outcome on the node, reload its cached matte, report problems."""
    node["status"].setValue(_status(result, total))
    node.node(READ_NODE)["reload"].execute()
    problems = result.errors + result.failed
    if problems and nuke.env.get("gui"):
        nuke.message("bgmatte: Background Matte\n" + "\n".join(problems[:12]))
    for line in problems:
        log.error("bgmatte: %s", line)


def _run(node, job: MatteJob, settings: NodeSettings, gui: bool) -> RunResult:
    """Run the job with a Nuke progress task (GUI) or log lines (command line); report back."""
    task = nuke.ProgressTask(TASK_TITLE) if gui else None

    def progress(frame: int, done: int, total: int, status: str) -> None:
        if task is not None:
            task.setProgress(int(100 * done / max(total, 1)))
            task.setMessage(f"frame {frame} {status} ({done}/{total})")
        else:
            log.info("bgmatte: frame %d %s (%d/%d)", frame, status, done, total)

    try:
        result = run_job(job, settings.run_in, settings.external_python(), progress,
                         task.isCancelled if task is not None else (lambda: False))
    finally:
        task = None  # Nuke closes a progress task when it is released
    if gui:
        nuke.executeInMainThread(finish, args=(node, result, len(settings.frames)))
    else:
        finish(node, result, len(settings.frames))
    return result


def analyse(node=None) -> threading.Thread | RunResult | None:
    """The Analyse button: render the inputs, compute the matte into the cache, reload the output.

    Returns:
        The worker thread (GUI), the result (no GUI), or None when a knob or input is wrong
        (the artist is told which, and nothing is rendered).
    """
    node = node if node is not None else nuke.thisNode()
    gui = bool(nuke.env.get("gui"))
    try:
        check_inputs(node)
        settings = read_settings(node)
    except NodeError as error:
        node["status"].setValue(f"not analysed: {error}")
        if gui:
            nuke.message(f"bgmatte: {error}")
        else:
            log.error("bgmatte: %s", error)
        return None
    # The Read inside the gizmo reads [value parent.cache]: keep a plain path there, not an expression.
    node["cache"].setValue(settings.cache.folder.as_posix())
    node["status"].setValue("rendering inputs")
    try:
        roto = render_inputs(node, settings)
    except RuntimeError as error:
        node["status"].setValue(f"not analysed: inputs not rendered: {error}")
        log.error("bgmatte: inputs not rendered: %s", error)
        return None
    job = job_for(settings, roto)
    if not gui:
        return _run(node, job, settings, gui=False)
    worker = threading.Thread(target=_run, args=(node, job, settings, True), name="bgmatte-analyse", daemon=True)
    worker.start()
    return worker
