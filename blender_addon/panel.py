"""The "Background Matte" panel in the compositor's sidebar (Node Editor > N > bgmatte)."""
from __future__ import annotations

import bpy

from . import engine
from .preferences import addon_preferences
from .request import RequestError, cache_folder


class BGMATTE_PT_background_matte(bpy.types.Panel):
    """Footage, plate, optional mattes, model, frames and cache; the Pull Matte button"""

    bl_label = "Background Matte"
    bl_idname = "BGMATTE_PT_background_matte"
    bl_space_type = "NODE_EDITOR"
    bl_region_type = "UI"
    bl_category = "bgmatte"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        space = context.space_data
        return space is not None and getattr(space, "tree_type", "") == "CompositorNodeTree"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.bgmatte
        layout.use_property_split = True
        layout.use_property_decorate = False

        inputs = layout.column(heading="Inputs")
        for name in ("footage", "plate"):
            inputs.template_ID(settings, name, open="image.open")
        mattes = layout.column(heading="Optional")
        for name in ("roto", "garbage", "core"):
            mattes.template_ID(settings, name, open="image.open")

        network = layout.column()
        network.prop(settings, "model")
        network.prop(settings, "device")

        frames = layout.column()
        frames.prop(settings, "use_scene_range")
        if settings.use_scene_range:
            frames.label(text=f"Frames {context.scene.frame_start}-{context.scene.frame_end}")
        else:
            frames.prop(settings, "frame_start")
            frames.prop(settings, "frame_end")

        layout.prop(settings, "cache_folder")
        if settings.footage is not None:
            try:
                layout.label(text=str(cache_folder(settings, settings.footage)), icon="FILE_FOLDER")
            except RequestError as error:
                layout.label(text=error.problem, icon="ERROR")
        preferences = addon_preferences(context)
        layout.label(text=engine.describe(preferences.engine, preferences.executable), icon="INFO")
        layout.operator("bgmatte.pull_matte", icon="NODE_COMPOSITING")
