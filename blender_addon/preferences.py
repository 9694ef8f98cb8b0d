"""Add-on preferences: where the bgmatte core runs (Blender's own Python, or an external bgmatte)."""
from __future__ import annotations

import bpy

from . import engine


class BGMattePreferences(bpy.types.AddonPreferences):
    """Engine choice and the external ``bgmatte`` executable (or a Python that has bgmatte installed)."""

    bl_idname = __package__

    engine: bpy.props.EnumProperty(
        name="Engine", default="AUTO",
        description="Where the matte is computed",
        items=(("AUTO", "Auto", "In Blender's Python when it can import bgmatte and torch, else the external bgmatte"),
               ("EXTERNAL", "External", "Always run the external bgmatte as a subprocess (e.g. a CUDA environment)")))
    executable: bpy.props.StringProperty(
        name="bgmatte Executable", default="", subtype="FILE_PATH",
        description="Path to a bgmatte executable, or to a python with bgmatte installed; "
                    "empty: bgmatte on the PATH")

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.prop(self, "engine")
        layout.prop(self, "executable")
        layout.label(text=engine.describe(self.engine, self.executable), icon="INFO")


def addon_preferences(context: bpy.types.Context) -> BGMattePreferences:
    """This add-on's preferences."""
    return context.preferences.addons[__package__].preferences
