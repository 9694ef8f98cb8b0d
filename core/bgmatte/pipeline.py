"""One frame, from arrays: priors -> generator -> full-resolution refinement -> premultiplied output.

Everything here is working linear (scene-linear ACEScg), float32, channels-last. File reading,
colour conversion and writing live in the api; this module is what the Python array-level call,
the benchmark and the tests share, so every host gets the same pixels for the same frame.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from bgmatte.color.encoding import decode_from_network, encode_for_network
from bgmatte.output import estimate_noise_floor, premultiplied_foreground, shadow_layer, straight_foreground
from bgmatte.priors import (
    apply_overrides,
    combine_mattes,
    match_gain,
    motion_grey,
    process_mask,
    resize_area,
    resize_linear,
    soft_segmentation,
    stack_motion_cues,
    working_shape,
)
from bgmatte.refine import refine_alpha

log = logging.getLogger(__name__)


@dataclass
class FrameInputs:
    """The full-resolution inputs of one frame, all on the same canvas.

    Attributes:
        frame: (H, W, 3) working linear.
        plate: (H, W, 3) working linear clean plate (already registered when aligning).
        seg: (H, W) user roto/mask in [0, 1], or None for the automatic prior.
        use_seg: False for ``--seg none`` (an empty prior).
        neighbours: four (H, W, 3) working-linear frames t-2k, t-k, t+k, t+2k, or None for a still.
            Entries may also be (h, w) grey cues already at working resolution (cached).
        garbage: (H, W) forced-background matte, or None.
        core: (H, W) forced-foreground matte, or None.
        plate_valid: (H, W) float in [0, 1] where the plate can be trusted, or None (everywhere).
    """

    frame: np.ndarray
    plate: np.ndarray
    seg: np.ndarray | None = None
    use_seg: bool = True
    neighbours: list[np.ndarray] | None = None
    garbage: np.ndarray | None = None
    core: np.ndarray | None = None
    plate_valid: np.ndarray | None = None


@dataclass
class MatteResult:
    """The matte of one frame.

    Attributes:
        alpha: (H, W) in [0, 1].
        premult: (H, W, 3) premultiplied foreground, working linear.
        layers: optional "fg" (H, W, 3) straight foreground and "shadow" (H, W).
        gain: (3,) exposure gain applied to the plate.
        noise_floor: (3,) noise sigma of frame minus plate on the background.
        timings: seconds per stage.
    """

    alpha: np.ndarray
    premult: np.ndarray
    layers: dict[str, np.ndarray] = field(default_factory=dict)
    gain: np.ndarray | None = None
    noise_floor: np.ndarray | None = None
    timings: dict[str, float] = field(default_factory=dict)


def to_network_input(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Downsample a working-linear (H, W, 3) image to the working size and encode it for the network."""
    return encode_for_network(resize_area(frame, size))


def grey_cue(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The paper's motion cue of one frame: the grey image at working resolution, (h, w)."""
    return motion_grey(to_network_input(frame, size))


@dataclass
class NetworkInputs:
    """The generator's inputs of one frame at working resolution, and the gain-matched plate.

    Attributes:
        image, plate: (h, w, 3) frame and gain-matched plate in the network encoding.
        seg: (h, w) soft segmentation in [0, 1] (garbage/core mattes applied).
        motion: (h, w, 4) encoded grey cues t-2k, t-k, t+k, t+2k.
        matched_plate: (H, W, 3) full-resolution working-linear plate after the gain match.
        gain: (3,) the exposure gain applied to the plate.
    """

    image: np.ndarray
    plate: np.ndarray
    seg: np.ndarray
    motion: np.ndarray
    matched_plate: np.ndarray
    gain: np.ndarray


def network_inputs(inputs: FrameInputs, working_size: int) -> NetworkInputs:
    """Prepare one frame for the generator: gain match, downsample, encode, priors, motion cues.

    Inference (`matte_arrays`) and stage-2 training both use it, so they see the same inputs.

    Args:
        inputs: the frame's full-resolution working-linear inputs.
        working_size: the model's working size (longest side, pixels).
    """
    height, width = inputs.frame.shape[:2]
    plate, gain = match_gain(inputs.frame, inputs.plate, valid=inputs.plate_valid)
    size = working_shape(height, width, working_size)
    image_enc = to_network_input(inputs.frame, size)
    plate_enc = to_network_input(plate, size)
    if not inputs.use_seg:
        seg = np.zeros(size, np.float32)
    elif inputs.seg is not None:
        seg = process_mask(resize_area(inputs.seg, size))
    else:
        seg = soft_segmentation(image_enc, plate_enc)
    small = {name: resize_area(m, size) for name, m in (("garbage", inputs.garbage), ("core", inputs.core))
             if m is not None}
    seg = combine_mattes(seg, garbage=small.get("garbage"), core=small.get("core"))
    grey = motion_grey(image_enc)
    cues = [grey] * 4 if inputs.neighbours is None else [
        n if n.ndim == 2 else grey_cue(n, size) for n in inputs.neighbours]
    return NetworkInputs(image=image_enc, plate=plate_enc, seg=seg, motion=stack_motion_cues(cues),
                         matched_plate=plate, gain=gain)


@torch.no_grad()
def run_generator(model: torch.nn.Module, image: np.ndarray, plate: np.ndarray, seg: np.ndarray,
                  motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run the generator on encoded (h, w, C) arrays; returns alpha (h, w) and encoded fg (h, w, 3)."""
    param = next(model.parameters())

    def tensor(x: np.ndarray) -> torch.Tensor:
        x = x[..., None] if x.ndim == 2 else x
        t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
        return t.to(device=param.device, dtype=param.dtype)

    alpha, fg = model(tensor(image), tensor(plate), tensor(seg), tensor(motion))
    alpha_np = alpha[0, 0].float().cpu().numpy()
    fg_np = fg[0].float().permute(1, 2, 0).cpu().numpy()
    return np.ascontiguousarray(alpha_np), np.ascontiguousarray(fg_np)


def matte_arrays(model: torch.nn.Module, inputs: FrameInputs, layers: tuple[str, ...] = ()) -> MatteResult:
    """Pull the matte of one frame: gain match, priors, generator, refinement, premultiplied output.

    Args:
        model: a bgmatte Generator (its config gives the working size).
        inputs: the frame's full-resolution working-linear inputs.
        layers: extra layers to compute, among "fg" and "shadow".

    Returns:
        The alpha, premultiplied working-linear foreground and requested layers at full resolution.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    frame = inputs.frame
    height, width = frame.shape[:2]
    prepared = network_inputs(inputs, model.config.working_size)
    plate = prepared.matched_plate
    timings["priors"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    alpha_low, fg_enc = run_generator(model, prepared.image, prepared.plate, prepared.seg, prepared.motion)
    fg_low = decode_from_network(fg_enc)
    timings["network"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    alpha = refine_alpha(alpha_low, frame, plate, fg_low)
    alpha = apply_overrides(alpha, garbage=inputs.garbage, core=inputs.core)
    timings["refine"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    need_fg_net = inputs.plate_valid is not None or "fg" in layers
    fg_net = resize_linear(fg_low, (height, width)) if need_fg_net else None
    noise = estimate_noise_floor(frame, plate, alpha, valid=inputs.plate_valid)
    premult = premultiplied_foreground(frame, plate, alpha, fg_net=fg_net, plate_valid=inputs.plate_valid,
                                       noise_floor=noise)
    extra: dict[str, np.ndarray] = {}
    if "fg" in layers:
        extra["fg"] = straight_foreground(premult, alpha, fg_net)
    if "shadow" in layers:
        extra["shadow"] = shadow_layer(frame, plate, alpha, noise)
    timings["output"] = time.perf_counter() - t0
    return MatteResult(alpha=alpha, premult=premult, layers=extra, gain=prepared.gain, noise_floor=noise, timings=timings)
