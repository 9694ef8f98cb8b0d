"""``bpy.ops.bgmatte.pull_matte()``: bake the matte to the cache and wire it into the compositor."""
from __future__ import annotations

import bpy

from .bgmatte_protocol import EXIT_CANCELLED, ProgressEvent, progress_text
from .jobs import MatteJob
from .preferences import addon_preferences
from .pull import apply_result, start_pull
from .request import RequestError, build_request

TIMER_SECONDS = 0.2


class BGMATTE_OT_pull_matte(bpy.types.Operator):
    """Pull a premultiplied matte from the footage and its clean plate, bake it to EXR and wire the compositor"""

    bl_idname = "bgmatte.pull_matte"
    bl_label = "Pull Matte"
    bl_options = {"REGISTER"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        """Run to the end in this call: background mode, scripts and farms."""
        try:
            job = start_pull(build_request(context.scene), addon_preferences(context))
        except RequestError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        job.run_to_end(lambda event: print(progress_text(event), flush=True))
        return self._finish(context.scene, job)

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        """Start in the background and follow it with a timer; Esc cancels, keeping complete frames."""
        if bpy.app.background:
            return self.execute(context)
        try:
            self._job = start_pull(build_request(context.scene), addon_preferences(context))
        except RequestError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self._scene_name = context.scene.name
        self._area = context.area
        window_manager = context.window_manager
        self._timer = window_manager.event_timer_add(TIMER_SECONDS, window=context.window)
        window_manager.progress_begin(0, 100)
        self._show(context, "bgmatte: starting (Esc to cancel)")
        window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        """Follow the job on each timer tick; Esc asks it to stop; other events pass through to Blender."""
        if event.type == "ESC" and event.value == "PRESS":
            self._job.cancel()
            self._show(context, "bgmatte: cancelling after the current frame...")
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        for frame_event in self._job.events():
            self._progress(context, frame_event)
        if not self._job.finished:
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        context.window_manager.progress_end()
        self._show(context, None)
        scene = bpy.data.scenes.get(self._scene_name)
        if scene is None:
            self.report({"ERROR"}, f"bgmatte: scene '{self._scene_name}' was removed during the pull")
            return {"CANCELLED"}
        return self._finish(scene, self._job)

    def _progress(self, context: bpy.types.Context, event: ProgressEvent) -> None:
        context.window_manager.progress_update(int(100 * event.done / max(event.total, 1)))
        if not self._job.cancelling:
            self._show(context, f"bgmatte: frame {event.frame} {event.status} ({event.done}/{event.total}), "
                                "Esc to cancel")

    def _show(self, context: bpy.types.Context, text: str | None) -> None:
        """Progress text in the node editor's header and the status bar (None clears both)."""
        if self._area is not None:
            self._area.header_text_set(text)
        if context.workspace is not None:
            context.workspace.status_text_set(text)

    def _finish(self, scene: bpy.types.Scene, job: MatteJob) -> set[str]:
        """Report how the run ended and wire the compositor when the cache has frames."""
        for level, message in job.result.messages(job.request):
            self.report({level}, message)
        wired = apply_result(scene, job)
        return {"FINISHED"} if wired and job.result.exit_code != EXIT_CANCELLED else {"CANCELLED"}
