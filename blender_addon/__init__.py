"""bgmatte for Blender's compositor: pull a background matte from footage and a clean plate.

A thin adapter: the matting is the bgmatte core's (in Blender's Python, or an external bgmatte).
"""
import bpy

from . import render_handler
from .operators import BGMATTE_OT_pull_matte
from .panel import BGMATTE_PT_background_matte
from .preferences import BGMattePreferences
from .properties import BGMatteSettings

classes = (
    BGMattePreferences,
    BGMatteSettings,
    BGMATTE_OT_pull_matte,
    BGMATTE_PT_background_matte,
)


def register() -> None:
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.bgmatte = bpy.props.PointerProperty(type=BGMatteSettings)
    render_handler.install()


def unregister() -> None:
    render_handler.uninstall()
    del bpy.types.Scene.bgmatte
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
