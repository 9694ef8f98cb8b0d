"""Wire a baked matte into the scene's compositor with built-in nodes only.

Python cannot compute pixels inside Blender's compositor, so the core bakes frames to EXR files and
this module points nodes at them::

    [Background Matte group] --Image--> [Alpha Over: Foreground]  --> [Group Output]
        inside: Image node on matte.####.exr      ^ Background: plug the new plate here

The group's outputs: Image (premultiplied RGBA), Alpha, Foreground (straight colour, the ``fg``
layer) and Shadow (the ``shadow`` layer: plate-relative darkening outside the subject). Re-pulling
rebuilds the group's inside and keeps the user's links in the scene's tree.
"""
from __future__ import annotations

from pathlib import Path

import bpy

from .properties import BGMatteSettings

GROUP_NAME = "Background Matte"
TREE_NAME = "Compositing"
MATTE_NODE = "bgmatte Background Matte"
OVER_NODE = "bgmatte Alpha Over"
READ_NODE = "bgmatte Matte Sequence"
# (group output, socket type, Image node output reading the baked EXR)
GROUP_OUTPUTS = (
    ("Image", "NodeSocketColor", "Combined"),
    ("Alpha", "NodeSocketFloat", "Alpha"),
    ("Foreground", "NodeSocketColor", "fg"),
    ("Shadow", "NodeSocketFloat", "shadow"),
)


def matte_image(settings: BGMatteSettings, first_file: Path, colorspace: str) -> bpy.types.Image:
    """The Image datablock of the cache sequence, premultiplied and tagged with its colourspace.

    Args:
        settings: the scene's bgmatte settings (its ``matte_image`` is reused and set).
        first_file: an existing cache frame (Blender derives the sequence from any of its files).
        colorspace: the colourspace the core wrote (the blend file's working space).
    """
    image = settings.matte_image
    if image is None:
        image = bpy.data.images.new(f"bgmatte {settings.footage.name}", 8, 8, alpha=True, float_buffer=True)
        settings.matte_image = image
    image.source = "SEQUENCE"
    relative = settings.cache_folder.startswith("//") and bpy.data.filepath
    image.filepath = bpy.path.relpath(str(first_file)) if relative else str(first_file)
    image.colorspace_settings.name = colorspace
    image.alpha_mode = "PREMUL"
    image.reload()
    return image


def compositor_tree(scene: bpy.types.Scene) -> bpy.types.NodeTree:
    """The scene's compositing node group, created (with an Image output) when the scene has none."""
    tree = scene.compositing_node_group
    if tree is None:
        tree = bpy.data.node_groups.new(TREE_NAME, "CompositorNodeTree")
        scene.compositing_node_group = tree
    if not any(item.in_out == "OUTPUT" for item in tree.interface.items_tree if item.item_type == "SOCKET"):
        tree.interface.new_socket(name="Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    return tree


def build_group(group: bpy.types.NodeTree, image: bpy.types.Image, first: int, last: int) -> None:
    """Fill the group: an Image node reading the cache (file frame = scene frame) to the four outputs."""
    names = [item.name for item in group.interface.items_tree if item.item_type == "SOCKET"]
    if names != [name for name, _, _ in GROUP_OUTPUTS]:
        group.interface.clear()
        for name, socket_type, _ in GROUP_OUTPUTS:
            group.interface.new_socket(name=name, in_out="OUTPUT", socket_type=socket_type)
    group.nodes.clear()
    read = group.nodes.new("CompositorNodeImage")
    read.name = read.label = READ_NODE
    read.image = image
    # Blender reads file frame (scene frame - frame_start + 1 + frame_offset): this maps frame f to file f.
    read.frame_start, read.frame_offset, read.frame_duration = first, first - 1, last - first + 1
    output = group.nodes.new("NodeGroupOutput")
    read.location, output.location = (-300, 0), (100, 0)
    for name, _, source in GROUP_OUTPUTS:
        group.links.new(read.outputs[source], output.inputs[name])


def _group_output(tree: bpy.types.NodeTree) -> bpy.types.Node:
    for node in tree.nodes:
        if node.bl_idname == "NodeGroupOutput":
            return node
    node = tree.nodes.new("NodeGroupOutput")
    node.location = (400, 0)
    return node


def wire_matte(scene: bpy.types.Scene, image: bpy.types.Image, first: int, last: int) -> bpy.types.Node:
    """Add (or refresh) the Background Matte group node and an Alpha Over in the scene's compositor.

    Links already made by the user are kept: the Alpha Over and the output are only linked when free.

    Returns:
        The group node in the scene's tree.
    """
    tree = compositor_tree(scene)
    node = tree.nodes.get(MATTE_NODE)
    if node is None:
        node = tree.nodes.new("CompositorNodeGroup")
        node.name, node.label, node.location = MATTE_NODE, GROUP_NAME, (-200, 0)
    group = node.node_tree or bpy.data.node_groups.new(GROUP_NAME, "CompositorNodeTree")
    build_group(group, image, first, last)
    node.node_tree = group
    over = tree.nodes.get(OVER_NODE)
    if over is None:
        over = tree.nodes.new("CompositorNodeAlphaOver")
        over.name, over.location = OVER_NODE, (100, 0)
    if not over.inputs["Foreground"].is_linked:
        tree.links.new(node.outputs["Image"], over.inputs["Foreground"])
    output = _group_output(tree)
    if not output.inputs[0].is_linked:
        tree.links.new(over.outputs[0], output.inputs[0])
    return node
