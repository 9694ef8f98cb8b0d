"""The classic peers bgmatte is measured against: a difference key, closed-form matting, Blender's key.

Each peer pulls an alpha from a frame and its clean plate (both (H, W, 3) float32 scene-linear
ACEScg, straight, no alpha) with a few parameters that the benchmark grid-searches on the tune
split. None of them gain-matches or aligns the plate: they are the tools as an artist gets them.

- ``difference_key``: alpha = clip(|I - B| / threshold), |.| the RGB distance.
- ``closed_form``: ``pymatting.estimate_alpha_cf`` (Levin et al. 2008) with a trimap from the plate
  difference (background below ``low``, foreground above ``high``, unknown between).
- ``BlenderDifferenceKey``: Blender's Difference Key compositor node (``CompositorNodeDiffMatte``,
  inputs Tolerance and Falloff) run through ``bpy`` in one subprocess for a batch of frames.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from bgmatte.data.exr import read_exr

log = logging.getLogger(__name__)

# Grids wide enough that the best value lies inside them on the validation set (linear-light
# differences: a 1-4 % exposure drift on a plate with highlights above 1 needs loose thresholds).
DIFFERENCE_THRESHOLDS = (0.02, 0.04, 0.08, 0.15, 0.3, 0.6, 1.2)
TRIMAP_THRESHOLDS = ((0.02, 0.08), (0.04, 0.15), (0.08, 0.3), (0.08, 0.6), (0.15, 0.6), (0.3, 1.2))
BLENDER_TOLERANCES = (0.0, 0.02, 0.05, 0.1, 0.2, 0.4)
BLENDER_FALLOFFS = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8)


def plate_difference(frame: np.ndarray, plate: np.ndarray, blur_sigma: float = 0.0) -> np.ndarray:
    """(H, W) float32 RGB distance |frame - plate| in linear light, optionally Gaussian-blurred first."""
    delta = frame - plate
    if blur_sigma > 0:
        delta = cv2.GaussianBlur(delta, (0, 0), blur_sigma)
    return np.sqrt(np.sum(delta * delta, axis=2)).astype(np.float32)


def difference_key(frame: np.ndarray, plate: np.ndarray, threshold: float) -> np.ndarray:
    """The plain difference key: (H, W) float32 alpha = clip(|frame - plate| / threshold, 0, 1)."""
    return np.clip(plate_difference(frame, plate) / threshold, 0.0, 1.0)


def difference_trimap(frame: np.ndarray, plate: np.ndarray, low: float, high: float) -> np.ndarray:
    """(H, W) float64 trimap from the plate difference (blurred 1 px against noise): 0, 0.5 or 1."""
    difference = plate_difference(frame, plate, blur_sigma=1.0)
    trimap = np.full(difference.shape, 0.5)
    trimap[difference < low] = 0.0
    trimap[difference > high] = 1.0
    return trimap


def closed_form(frame: np.ndarray, plate: np.ndarray, low: float, high: float) -> np.ndarray:
    """Closed-form matting (pymatting) on a plate-difference trimap: (H, W) float32 alpha in [0, 1].

    The image goes to pymatting in a display encoding (linear ** (1/2.2), clipped to [0, 1]), the
    range its colour-line model expects. A trimap without both known regions is returned as the
    alpha (nothing to propagate from).
    """
    from pymatting import estimate_alpha_cf

    trimap = difference_trimap(frame, plate, low, high)
    if not (trimap == 0).any() or not (trimap == 1).any() or not (trimap == 0.5).any():
        return trimap.astype(np.float32)
    image = np.clip(np.maximum(frame, 0.0) ** (1 / 2.2), 0.0, 1.0).astype(np.float64)
    chatter = io.StringIO()
    with contextlib.redirect_stdout(chatter):  # pymatting prints solver warnings to stdout (the table's stream)
        alpha = estimate_alpha_cf(image, trimap)
    if chatter.getvalue().strip():
        log.debug("pymatting: %s", chatter.getvalue().strip())
    return np.clip(alpha, 0.0, 1.0).astype(np.float32)


CLOSED_FORM_MAX_UNKNOWN = 400_000
"""Unknown trimap pixels above which closed-form matting runs on a downsampled copy (its sparse
solve grows faster than linearly: ~6 s for 260 k unknown pixels of a 1920x1080 frame on two
cores, 74 s for 1.3 M)."""


def closed_form_bounded(frame: np.ndarray, plate: np.ndarray, low: float, high: float,
                        max_unknown: int = CLOSED_FORM_MAX_UNKNOWN) -> tuple[np.ndarray, int]:
    """``closed_form`` at full resolution while its trimap has at most ``max_unknown`` unknown
    pixels; otherwise on a 2x (4x, ...) area-downsampled frame and plate, the alpha upsampled
    bilinearly and the full-resolution trimap's known pixels (0 and 1) put back.

    Returns:
        (H, W) float32 alpha and the downsampling factor used (1: full resolution).
    """
    trimap = difference_trimap(frame, plate, low, high)
    factor = 1
    unknown = int((trimap == 0.5).sum())
    while unknown > max_unknown and min(frame.shape[:2]) // (2 * factor) >= 32:
        factor *= 2
        unknown //= 4
    if factor == 1:
        return closed_form(frame, plate, low, high), 1
    size = (frame.shape[1] // factor, frame.shape[0] // factor)
    small = closed_form(cv2.resize(frame, size, interpolation=cv2.INTER_AREA),
                        cv2.resize(plate, size, interpolation=cv2.INTER_AREA), low, high)
    alpha = cv2.resize(small, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)
    alpha[trimap == 0.0] = 0.0
    alpha[trimap == 1.0] = 1.0
    return np.clip(alpha, 0.0, 1.0).astype(np.float32), factor


_BLENDER_SCRIPT = r'''
import json, sys, time
import bpy
jobs = json.load(open(sys.argv[1]))
scene = bpy.context.scene
for thing in list(scene.objects):
    bpy.data.objects.remove(thing)
scene.render.engine = "BLENDER_WORKBENCH"
scene.render.resolution_percentage = 100
scene.render.image_settings.file_format = "OPEN_EXR"
scene.render.image_settings.color_depth = "32"
scene.render.use_compositing = True
scene.view_settings.view_transform = "Standard"
tree = bpy.data.node_groups.new("bgmatte benchmark", "CompositorNodeTree")
scene.compositing_node_group = tree
tree.interface.new_socket(name="Image", in_out="OUTPUT", socket_type="NodeSocketColor")
frame_node = tree.nodes.new("CompositorNodeImage")
plate_node = tree.nodes.new("CompositorNodeImage")
key = tree.nodes.new("CompositorNodeDiffMatte")
output = tree.nodes.new("NodeGroupOutput")
tree.links.new(frame_node.outputs["Image"], key.inputs["Image 1"])
tree.links.new(plate_node.outputs["Image"], key.inputs["Image 2"])
tree.links.new(key.outputs["Matte"], output.inputs[0])
seconds = []
for job in jobs:
    started = time.perf_counter()
    images = []
    for node, path in ((frame_node, job["frame"]), (plate_node, job["plate"])):
        image = bpy.data.images.load(path)
        image.colorspace_settings.name = "Non-Color"
        node.image = image
        images.append(image)
    scene.render.resolution_x, scene.render.resolution_y = images[0].size
    for tolerance, falloff, out in job["renders"]:
        key.inputs["Tolerance"].default_value = tolerance
        key.inputs["Falloff"].default_value = falloff
        scene.render.filepath = out
        bpy.ops.render.render(write_still=True)
    for image in images:
        bpy.data.images.remove(image)
    seconds.append((time.perf_counter() - started) / max(1, len(job["renders"])))
json.dump({"seconds": seconds, "blender": bpy.app.version_string}, open(sys.argv[2], "w"))
'''


@dataclass(frozen=True)
class KeyJob:
    """One frame for Blender's key: frame and plate EXR paths and the (tolerance, falloff) pairs to render."""

    frame: Path
    plate: Path
    settings: tuple[tuple[float, float], ...]


@dataclass
class BlenderRun:
    """The mattes of a batch: per job, (tolerance, falloff) -> (H, W) float32 alpha; seconds per render."""

    mattes: list[dict[tuple[float, float], np.ndarray]]
    seconds_per_render: list[float]
    blender_version: str


def blender_difference_key(jobs: list[KeyJob], timeout: float = 1800.0) -> BlenderRun:
    """Run Blender's Difference Key node on every job in one ``bpy`` subprocess (startup paid once).

    Blender's user folders live in a temporary folder, so the user's own Blender setup is neither
    read nor changed. Images are read as Non-Color (no colour conversion: the key sees the EXR values).

    Raises:
        RuntimeError: the subprocess failed (its stderr tail is in the message).
    """
    with tempfile.TemporaryDirectory(prefix="bgmatte-blender-key-") as temp:
        home = Path(temp)
        env = dict(os.environ)
        for name in ("RESOURCES", "CONFIG", "SCRIPTS", "EXTENSIONS"):
            env[f"BLENDER_USER_{name}"] = str(home / name.lower())
        env["HOME"] = str(home)
        env.pop("OCIO", None)
        payload = []
        for j, job in enumerate(jobs):
            renders = [[t, f, str(home / f"key_{j:04d}_{s:03d}.exr")] for s, (t, f) in enumerate(job.settings)]
            payload.append({"frame": str(job.frame.resolve()), "plate": str(job.plate.resolve()), "renders": renders})
        (home / "jobs.json").write_text(json.dumps(payload))
        (home / "key.py").write_text(_BLENDER_SCRIPT)
        command = [sys.executable, str(home / "key.py"), str(home / "jobs.json"), str(home / "result.json")]
        done = subprocess.run(command,
                              env=env, cwd=home, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0 or not (home / "result.json").exists():
            raise RuntimeError(f"Blender difference key failed ({done.returncode}): {done.stderr[-2000:]}")
        result = json.loads((home / "result.json").read_text())
        mattes = []
        for job, entry in zip(jobs, payload):
            mattes.append({(t, f): read_exr(Path(out), ("R",))[..., 0] for t, f, out in entry["renders"]})
    return BlenderRun(mattes=mattes, seconds_per_render=result["seconds"], blender_version=result["blender"])
