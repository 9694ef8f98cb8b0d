"""The panel's settings, stored per scene as ``scene.bgmatte`` (saved in the .blend, read by farm renders)."""
from __future__ import annotations

import bpy

DEFAULT_CACHE = "//bgmatte/{footage}/"


class BGMatteSettings(bpy.types.PropertyGroup):
    """What to matte (footage, plate, optional mattes), with which model, over which frames, into which cache."""

    footage: bpy.props.PointerProperty(
        type=bpy.types.Image, name="Footage",
        description="The shot: an EXR image sequence whose file frame numbers are the scene's frames "
                    "(movies are refused: convert them to EXR frames first)")
    plate: bpy.props.PointerProperty(
        type=bpy.types.Image, name="Clean Plate",
        description="The same shot without the subject: one still EXR for every frame, or an EXR sequence")
    roto: bpy.props.PointerProperty(
        type=bpy.types.Image, name="Roto",
        description="Optional rough roto/mask sequence of the subject (soft segmentation prior); "
                    "empty: derived from the difference to the plate")
    garbage: bpy.props.PointerProperty(
        type=bpy.types.Image, name="Garbage Matte",
        description="Optional matte (still or sequence): where it is white, alpha is forced to 0")
    core: bpy.props.PointerProperty(
        type=bpy.types.Image, name="Core Matte",
        description="Optional matte (still or sequence): where it is white, alpha is forced to 1")
    model: bpy.props.StringProperty(
        name="Model", default="default",
        description="Model name (default = the shipped weights; small, tiny, paper = untrained configs) "
                    "or a path to a weights file (.pt)")
    device: bpy.props.EnumProperty(
        name="Device", default="auto",
        description="Where the network runs",
        items=(("auto", "Auto", "CUDA when available, else the CPU"),
               ("cpu", "CPU", "The CPU (fp32)"),
               ("cuda", "CUDA", "An NVIDIA GPU (fp16)")))
    use_scene_range: bpy.props.BoolProperty(
        name="Scene Frame Range", default=True,
        description="Matte the scene's frame range; off: the range below")
    frame_start: bpy.props.IntProperty(
        name="Start", default=1001, min=-1048574, max=1048574,
        description="First frame to matte (the footage file's own frame number)")
    frame_end: bpy.props.IntProperty(
        name="End", default=1100, min=-1048574, max=1048574,
        description="Last frame to matte (the footage file's own frame number)")
    cache_folder: bpy.props.StringProperty(
        name="Cache Folder", default=DEFAULT_CACHE, subtype="DIR_PATH",
        description="Where the baked matte frames go; // is the .blend's folder, {footage} the footage's name "
                    "(without extension and frame number)")
    matte_image: bpy.props.PointerProperty(
        type=bpy.types.Image, name="Matte",
        description="The baked matte sequence (set by Pull Matte); farm renders fill its missing frames")
