"""Farm and headless renders: bake the frames a render lacks in one matte run before the compositor reads them.

``blender -b shot.blend -a`` on a farm node (or ``-f``, F12, Render Animation) renders a scene set
up with Pull Matte (it has a matte image). At the render's first frame the ``render_pre`` handler
(not ``render_init``, which runs before Blender sets the frame of a still render) works out the
frames the render composites (see chunk) whose cache file is missing or older than its inputs,
and starts one bake for all of them: one ``bgmatte`` process, or one run in Blender's Python, so
the model loads once per chunk. The bake goes on while Blender renders; each frame's
``render_pre`` waits only for that frame's matte, and a frame whose cache is current does not
wait. A chunk whose frames are all current starts nothing.

The bake is stopped when the render is cancelled (``render_cancel``), when a render whose frames
the command line does not list ends (``render_complete``: a still render keeps the frame it
needed, and the frame in progress is dropped), when another file is loaded, and when Blender
exits; the core deletes a frame it was writing, so only complete frames stay in the cache.

No handler changes a datablock. Blender warns that handlers changing data during a render can
crash it unless Render > Lock Interface is on; here Pull Matte pointed the matte image and its
Image node at the cache sequence before any render, the handlers only have files written, and
the compositor reads each frame's file when it composites that frame, so no lock is needed.

Problems are printed as ``bgmatte: error: <subject>: <problem>`` lines on stderr for the farm log;
in a background render (a farm task) Blender then exits with status 3, so the task fails loudly
instead of rendering a frame without its matte.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import bpy
from bpy.app.handlers import persistent

from .bgmatte_protocol import ERROR_PREFIX, EXIT_CANCELLED, EXIT_FRAMES, ProgressEvent, progress_text
from .chunk import STALE, bake_state, command_line_frames, mark_current, render_frames
from .jobs import JobResult, MatteJob
from .preferences import addon_preferences
from .pull import start_pull
from .request import MatteRequest, RequestError, build_request

BAKED = ("done", "skipped")


@dataclass
class Bake:
    """One matte run over the frames a render lacks, and the status it reported for each frame so far."""

    job: MatteJob
    stale: frozenset[int]
    statuses: dict[int, str] = field(default_factory=dict)
    reported: bool = False

    @property
    def request(self) -> MatteRequest:
        """The run: its frames are the ones that lacked a matte."""
        return self.job.request

    @property
    def frames(self) -> frozenset[int]:
        """The frames this run bakes."""
        return frozenset(self.request.frame_list)

    def wait_for(self, frame: int) -> str | None:
        """Block until the run reports ``frame``: its status, or None when the run ended without it."""
        while frame not in self.statuses and not self.job.finished:
            for event in self.job.events(timeout=0.25):
                self._record(event)
        for event in self.job.events():
            self._record(event)
        return self.statuses.get(frame)

    def stop(self) -> JobResult:
        """Interrupt the run (a no-op once it has ended) and wait for its end; complete frames stay."""
        self.job.cancel()
        return self.job.run_to_end(self._record)

    def _record(self, event: ProgressEvent) -> None:
        """Log a finished frame; a stale frame the core re-checked and kept is dated current."""
        print(progress_text(event), flush=True)
        self.statuses[event.frame] = event.status
        if event.status == "skipped" and event.frame in self.stale:
            mark_current(self.request, event.frame)


@dataclass(frozen=True)
class RenderChunk:
    """The frames a render composites from its first on, and the bake of those that lacked a matte."""

    frames: frozenset[int]
    listed: bool  # the command line lists the frames: this process renders them all, render after render
    bake: Bake | None


_chunks: dict[str, RenderChunk] = {}


def _uses_matte(scene: bpy.types.Scene) -> bool:
    """True for a scene set up with Pull Matte whose render runs the compositor."""
    settings = getattr(scene, "bgmatte", None)
    return settings is not None and settings.matte_image is not None and scene.render.use_compositing


def _start_chunk(scene: bpy.types.Scene, first: int) -> RenderChunk:
    """Plan the frames from ``first`` on and start one bake for those lacking a matte (none if all are current).

    Raises:
        RequestError: the panel's settings cannot make a run, or no engine is found.
    """
    _stop(scene.name)
    listed = command_line_frames(sys.argv, scene.frame_start, scene.frame_end)
    frames = render_frames(scene, first, listed)
    request = build_request(scene, frames=(first, first))
    states = {frame: bake_state(request, frame) for frame in frames}
    todo = [frame for frame, state in states.items() if state]
    bake = None
    if todo:
        job = start_pull(request.for_frames(todo), addon_preferences(bpy.context))
        bake = Bake(job, frozenset(frame for frame, state in states.items() if state == STALE))
        print(f"bgmatte: baking {len(todo)} of the render's {len(frames)} frames in one run: "
              f"{job.request.frames}", flush=True)
    chunk = RenderChunk(frozenset(frames), listed is not None, bake)
    _chunks[scene.name] = chunk
    return chunk


def _await_frame(bake: Bake, frame: int) -> None:
    """Wait for the frame's matte; when the run failed it or ended without it, stop the run and report once."""
    if bake.wait_for(frame) in BAKED or bake.reported:
        return
    bake.reported = True
    result = bake.stop()
    _fail(result.errors or [f"{bake.request.output_path(frame)}: no matte was baked for frame {frame} "
                            f"(bgmatte exited with code {result.exit_code})"])


def _fail(problems: list[str]) -> None:
    """Print the problems for the farm log; a background render (a farm task) then exits with status 3 at once."""
    for problem in problems:
        print(f"{ERROR_PREFIX}{problem}", file=sys.stderr, flush=True)
    if bpy.app.background:
        stop_all()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_FRAMES)


def _stop(scene_name: str) -> Bake | None:
    """Forget the scene's chunk and stop its bake; returns the stopped bake, if there was one."""
    chunk = _chunks.pop(scene_name, None)
    if chunk is None or chunk.bake is None:
        return None
    chunk.bake.stop()
    return chunk.bake


@persistent
def stop_all(*_args) -> None:
    """Stop every bake and wait for it (another file loads, the add-on is disabled, Blender exits)."""
    for scene_name in list(_chunks):
        _stop(scene_name)


@persistent
def bake_render_chunk(scene: bpy.types.Scene, *_args) -> None:
    """render_pre: at a frame new to the render, start the bake of the frames lacking a matte; wait for this one's."""
    if not _uses_matte(scene):
        return
    frame = scene.frame_current
    chunk = _chunks.get(scene.name)
    if chunk is None or frame not in chunk.frames:
        try:
            chunk = _start_chunk(scene, frame)
        except RequestError as error:
            _fail([str(error)])
            return
    if chunk.bake is not None and frame in chunk.bake.frames:
        _await_frame(chunk.bake, frame)


@persistent
def end_render(scene: bpy.types.Scene, *_args) -> None:
    """render_complete: stop a bake that served this render only; keep one whose frames the command line lists."""
    chunk = _chunks.get(scene.name)
    if chunk is not None and not chunk.listed:
        _stop(scene.name)


@persistent
def cancel_render(scene: bpy.types.Scene, *_args) -> None:
    """render_cancel: stop the scene's bake at once, keeping its complete frames, and say so in the log."""
    bake = _stop(scene.name)
    if bake is not None and bake.job.result.exit_code == EXIT_CANCELLED:
        _, message = bake.job.result.messages(bake.request)[0]
        print(f"{message} (render cancelled)", flush=True)


def _handlers() -> list[tuple[list, Callable]]:
    """(handler list, handler) pairs this add-on installs."""
    handlers = bpy.app.handlers
    return [(handlers.render_pre, bake_render_chunk), (handlers.render_complete, end_render),
            (handlers.render_cancel, cancel_render), (handlers.load_pre, stop_all)]


def install() -> None:
    """Add the handlers (once, even if the add-on is registered again)."""
    for handler_list, handler in _handlers():
        if handler not in handler_list:
            handler_list.append(handler)


def uninstall() -> None:
    """Stop every bake and remove the handlers; Blender disables its add-ons when it exits, so this runs then too."""
    stop_all()
    for handler_list, handler in _handlers():
        if handler in handler_list:
            handler_list.remove(handler)
