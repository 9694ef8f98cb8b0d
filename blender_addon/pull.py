"""Start a pull from the panel's settings on the chosen engine, and wire its result into the compositor.

Shared by the operator (interactive and background) and the farm render handler.
"""
from __future__ import annotations

import bpy

from . import engine
from .compositor import matte_image, wire_matte
from .jobs import MatteJob, start_job
from .preferences import BGMattePreferences
from .request import MatteRequest


def start_pull(request: MatteRequest, preferences: BGMattePreferences) -> MatteJob:
    """Start the matte run in the background on the engine the preferences choose.

    Raises:
        RequestError: no engine: bgmatte is not importable and no external bgmatte is found.
    """
    in_process = engine.use_in_process(preferences.engine)
    command = None if in_process else engine.external_command(preferences.executable)
    return start_job(request, in_process, command)


def apply_result(scene: bpy.types.Scene, job: MatteJob) -> bool:
    """Point the matte image at the cache and wire the compositor, when the cache has frames.

    Returns:
        True when the compositor was wired.
    """
    result, request = job.result, job.request
    if result is None or not result.has_frames:
        return False
    first_file = request.output_path(min(result.done + result.skipped))
    image = matte_image(scene.bgmatte, first_file, request.output_colorspace)
    wire_matte(scene, image, request.first, request.last)
    return True
