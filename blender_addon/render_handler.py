"""Farm and headless renders: bake a frame missing from the matte cache before the compositor reads it.

``blender -b shot.blend -a`` on a farm node runs this ``render_pre`` handler for every frame. When
the scene was set up with Pull Matte (it has a matte image) and the cache lacks the frame, the core
computes it there and then, so a farm render needs no manual bake. A frame whose cache file exists
is taken as it is (the core writes whole files only); delete the cache to force new settings.
Problems are printed as ``bgmatte: error: <subject>: <problem>`` lines on stderr for the farm log;
in a background render (a farm task) Blender then exits with status 3, so the task fails loudly
instead of rendering a frame without its matte.
"""
from __future__ import annotations

import os
import sys

import bpy
from bpy.app.handlers import persistent

from .jobs import EXIT_OK
from .preferences import addon_preferences
from .pull import progress_line, start_pull
from .request import RequestError, build_request


FAILED_FRAME_EXIT = 3  # the core's exit code for a frame that failed


def _error(message: str) -> None:
    print(f"bgmatte: error: {message}", file=sys.stderr, flush=True)


def _fail_task() -> None:
    """Stop a background (farm) render at once; in the UI the printed error is enough."""
    if bpy.app.background:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(FAILED_FRAME_EXIT)


@persistent
def bake_missing_frame(scene: bpy.types.Scene, *_args) -> None:
    """Matte ``scene.frame_current`` into the cache if its file is missing and its footage frame exists."""
    settings = scene.bgmatte
    if settings.matte_image is None or not scene.render.use_compositing:
        return
    frame = scene.frame_current
    try:
        request = build_request(scene, frames=(frame, frame))
        if request.output_path(frame).is_file() or not request.input_path(frame).is_file():
            return
        job = start_pull(request, addon_preferences(bpy.context))
    except RequestError as error:
        _error(str(error))
        _fail_task()
        return
    result = job.run_to_end(lambda event: print(progress_line(event), flush=True))
    if result.exit_code != EXIT_OK:
        for _, message in result.messages(request):
            _error(message.removeprefix("bgmatte: "))
        _fail_task()
    if result.done:
        settings.matte_image.reload()


def install() -> None:
    """Add the handler (once, even if the add-on is registered again)."""
    if bake_missing_frame not in bpy.app.handlers.render_pre:
        bpy.app.handlers.render_pre.append(bake_missing_frame)


def uninstall() -> None:
    """Remove the handler."""
    if bake_missing_frame in bpy.app.handlers.render_pre:
        bpy.app.handlers.render_pre.remove(bake_missing_frame)
