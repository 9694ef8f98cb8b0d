"""What the Background Matte node's knobs call: create, on_create and analyse.

Analyse: read the knobs, note what the inputs are (bgmatte_nuke.stale), render the inputs to EXR in
the cache folder (Nuke's own render, in the main thread), then run bgmatte in a worker thread with a
Nuke progress task that can be cancelled, and finally reload the node's Read of the cached matte
(main thread); when every frame was computed or kept, the inputs' record is saved and the node is
no longer stale. Without a GUI (`nuke -t`) the same runs in the calling thread.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import nuke

from bgmatte_nuke import render_check, stale
from bgmatte_nuke.bgmatte_protocol import EXIT_OK
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
    stale.register(NODE_CLASS)
    if node["colorspace"].value():
        changed = stale.refresh(node)  # a loaded script: say at once whether its inputs changed since Analyse
        if changed and not nuke.env.get("gui"):
            log.warning("bgmatte: %s: %s", node.fullName(), node["stale"].value())
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


def job_for(settings: NodeSettings, masks: dict[str, str]) -> MatteJob:
    """The bgmatte run for a node's settings, on its cache folder's rendered inputs.

    ``masks``: the rendered matte inputs by core setting, "seg" (Roto: replaces the automatic
    segmentation), "garbage" (forces alpha 0) and "core" (forces alpha 1); absent = not connected.
    """
    layout = settings.cache
    return MatteJob(source=layout.source.as_posix(), plate=layout.plate(settings.plate_still).as_posix(),
                    output=layout.matte.as_posix(), frames=settings.frame_spec, colorspace=settings.colorspace,
                    ocio=settings.ocio, seg=masks.get("seg", "auto"), motion_gap=settings.motion_gap,
                    model=settings.model, device=settings.device, garbage=masks.get("garbage"),
                    core=masks.get("core"))


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


def finish(node, result: RunResult, total: int, settings: NodeSettings | None = None,
           inputs: dict | None = None) -> None:
    """Main thread: show the outcome on the node, reload its cached matte, report problems.

    When every frame was computed or kept, ``inputs`` (what the inputs were when they were
    rendered) becomes the record the stale check compares with: the node is up to date again.
    """
    if result.exit_code == EXIT_OK and settings is not None and inputs is not None:
        stale.save(settings, inputs)
    stale.show(node, stale.changes(node))  # also an input that changed during the run, or a failed run
    stale.set_status(node, _status(result, total))
    node.node(READ_NODE)["reload"].execute()
    problems = result.errors + result.failed
    if problems and nuke.env.get("gui"):
        nuke.message("bgmatte: Background Matte\n" + "\n".join(problems[:12]))
    for line in problems:
        log.error("bgmatte: %s", line)


def _run(node, job: MatteJob, settings: NodeSettings, gui: bool, inputs: dict | None = None) -> RunResult:
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
        nuke.executeInMainThread(finish, args=(node, result, len(settings.frames), settings, inputs))
    else:
        finish(node, result, len(settings.frames), settings, inputs)
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
        stale.set_status(node, f"not analysed: {error}")
        if gui:
            nuke.message(f"bgmatte: {error}")
        else:
            log.error("bgmatte: %s", error)
        return None
    # The Read inside the gizmo reads [value parent.cache]: keep a plain path there, not an expression.
    node["cache"].setValue(settings.cache.folder.as_posix())
    stale.set_status(node, "rendering inputs")
    inputs = stale.record(node, settings)  # before rendering: a change during the render shows as stale
    try:
        masks = render_inputs(node, settings)
    except RuntimeError as error:
        stale.set_status(node, f"not analysed: inputs not rendered: {error}")
        log.error("bgmatte: inputs not rendered: %s", error)
        return None
    job = job_for(settings, masks)
    if not gui:
        return _run(node, job, settings, gui=False, inputs=inputs)
    worker = threading.Thread(target=_run, args=(node, job, settings, True, inputs), name="bgmatte-analyse",
                              daemon=True)
    worker.start()
    return worker
