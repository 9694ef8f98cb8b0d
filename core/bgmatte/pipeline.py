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
from bgmatte.color.exposure import exposure_scale
from bgmatte.output import estimate_noise_floor, premultiplied_foreground, shadow_layer, straight_foreground
from bgmatte.priors import (
    apply_overrides,
    combine_mattes,
    motion_grey,
    process_mask,
    resize_area,
    resize_linear,
    soft_segmentation,
    stack_motion_cues,
    working_shape,
)
from bgmatte.priors.gain_match import GAIN_CONFIDENT_SUPPORT, gain_changed, match_gain, network_background
from bgmatte.refine import gate_small_alpha, refine_alpha, refine_patches

log = logging.getLogger(__name__)


@dataclass
class FrameInputs:
    """The full-resolution inputs of one frame, all on the same canvas.

    Attributes:
        frame: (H, W, 3) working linear.
        plate: (H, W, 3) working linear clean plate (already registered when aligning).
        seg: (H, W) user roto/mask in [0, 1], or None for the automatic prior.
        use_seg: False for ``--seg none`` (an empty prior).
        neighbours: four (h, w, 3) working-linear frames t-2k, t-k, t+k, t+2k at the model's working
            size (`working_linear`), or None for a still. Their grey motion cues are made in
            `network_inputs`, after the exposure normalisation, like the frame's own.
        garbage: (H, W) forced-background matte, or None.
        core: (H, W) forced-foreground matte, or None.
        plate_valid: (H, W) float in [0, 1] where the plate can be trusted, or None (everywhere).
        gain: (3,) fixed plate gain (``--gain-match off`` or ``R,G,B``), or None to estimate it.
    """

    frame: np.ndarray
    plate: np.ndarray
    seg: np.ndarray | None = None
    use_seg: bool = True
    neighbours: list[np.ndarray] | None = None
    garbage: np.ndarray | None = None
    core: np.ndarray | None = None
    plate_valid: np.ndarray | None = None
    gain: np.ndarray | None = None


@dataclass
class MatteResult:
    """The matte of one frame.

    Attributes:
        alpha: (H, W) in [0, 1].
        premult: (H, W, 3) premultiplied foreground, working linear (the input's exposure).
        layers: optional "fg" (H, W, 3) straight foreground and "shadow" (H, W).
        gain: (3,) exposure gain applied to the plate.
        gain_support: weighted share of the frame that agrees with an estimated gain (1 when fixed).
        noise_floor: (3,) noise sigma of frame minus plate on the background.
        exposure: the exposure normalisation k the frame's maths ran at (see bgmatte.color.exposure).
        timings: seconds per stage.
    """

    alpha: np.ndarray
    premult: np.ndarray
    layers: dict[str, np.ndarray] = field(default_factory=dict)
    gain: np.ndarray | None = None
    gain_support: float = 1.0
    noise_floor: np.ndarray | None = None
    exposure: float = 1.0
    timings: dict[str, float] = field(default_factory=dict)


def to_network_input(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Downsample a working-linear (H, W, 3) image to the working size and encode it for the network."""
    return encode_for_network(resize_area(frame, size))


def working_linear(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A neighbour frame as `FrameInputs.neighbours` holds it: (h, w, 3) working linear at the working size.

    Area averaging is linear, so the exposure normalisation can be applied after it.
    """
    return resize_area(frame, size)


@dataclass
class NetworkInputs:
    """The generator's inputs of one frame at working resolution, and the gain-matched plate.

    Every array is exposure-normalised: the frame, plate and neighbours were multiplied by
    ``exposure`` (k, from `bgmatte.color.exposure.exposure_scale`) before anything else.

    Attributes:
        image, plate: (h, w, 3) frame and gain-matched plate in the network encoding.
        seg: (h, w) soft segmentation in [0, 1] (garbage/core mattes applied).
        motion: (h, w, 4) encoded grey cues t-2k, t-k, t+k, t+2k.
        matched_plate: (H, W, 3) full-resolution working-linear plate after the gain match, times k.
        gain: (3,) the exposure gain applied to the plate.
        gain_support: weighted share of the frame that agrees with an estimated gain (1 when given).
        exposure: k.
        frame: (H, W, 3) full-resolution working-linear frame times k (what the later stages use).
    """

    image: np.ndarray
    plate: np.ndarray
    seg: np.ndarray
    motion: np.ndarray
    matched_plate: np.ndarray
    gain: np.ndarray
    gain_support: float = 1.0
    exposure: float = 1.0
    frame: np.ndarray | None = None


def _scaled(pixels: np.ndarray, k: float) -> np.ndarray:
    """``pixels * k`` in float32 (the array itself when k is 1)."""
    return pixels if k == 1.0 else pixels * np.float32(k)


def network_inputs(inputs: FrameInputs, working_size: int, gain: np.ndarray | None = None,
                   exposure: float | None = None) -> NetworkInputs:
    """Prepare one frame for the generator: exposure normalisation, gain match, downsample, encode,
    priors, motion cues.

    Inference (`matte_arrays`) and stage-2 training both use it, so they see the same inputs.

    Args:
        inputs: the frame's full-resolution working-linear inputs.
        working_size: the model's working size (longest side, pixels).
        gain: (3,) plate gain to apply; None = ``inputs.gain``, else estimated from the frame.
        exposure: the normalisation k; None = measured on the plate (`exposure_scale`).
    """
    height, width = inputs.frame.shape[:2]
    k = exposure_scale(inputs.plate, inputs.plate_valid) if exposure is None else float(exposure)
    frame = _scaled(inputs.frame, k)
    gain = inputs.gain if gain is None else gain
    support = 1.0
    if gain is None:
        usable = [m for m in (inputs.plate_valid, None if inputs.core is None else 1.0 - inputs.core) if m is not None]
        plate, gain, support = match_gain(frame, _scaled(inputs.plate, k), usable)
    else:
        gain = np.asarray(gain, np.float32)
        plate = inputs.plate * (gain * np.float32(k))
    size = working_shape(height, width, working_size)
    image_enc = to_network_input(frame, size)
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
    cues = [grey] * 4 if inputs.neighbours is None else [_neighbour_cue(n, size, k) for n in inputs.neighbours]
    return NetworkInputs(image=image_enc, plate=plate_enc, seg=seg, motion=stack_motion_cues(cues),
                         matched_plate=plate, gain=gain, gain_support=support, exposure=k, frame=frame)


def _neighbour_cue(neighbour: np.ndarray, size: tuple[int, int], k: float) -> np.ndarray:
    """The encoded grey motion cue (h, w) of a working-size linear neighbour, exposure-normalised by k."""
    if neighbour.shape != (*size, 3):
        raise ValueError(f"a neighbour must be (h, w, 3) working linear at the working size {size} "
                         f"(pipeline.working_linear), got shape {neighbour.shape}")
    return motion_grey(encode_for_network(_scaled(neighbour, k)))


def second_gain(inputs: FrameInputs, prepared: NetworkInputs, alpha_low: np.ndarray
                ) -> tuple[np.ndarray, float] | None:
    """An uncertain estimated gain re-estimated on the background the network's first pass found.

    Returns (gain, support) when the new gain differs from the first enough to re-run the network,
    else None.
    """
    if inputs.gain is not None or prepared.gain_support >= GAIN_CONFIDENT_SUPPORT:
        return None
    usable = [network_background(alpha_low)] + ([] if inputs.plate_valid is None else [inputs.plate_valid])
    k = prepared.exposure
    _, gain, support = match_gain(prepared.frame, _scaled(inputs.plate, k), usable)
    if support == 0.0 or not gain_changed(prepared.gain, gain):
        return None
    log.debug("plate gain re-estimated on the network's background: %s -> %s", prepared.gain, gain)
    return gain, support


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


def network_pass(model: torch.nn.Module, inputs: FrameInputs, prepared: NetworkInputs, working_size: int
                 ) -> tuple[NetworkInputs, np.ndarray, np.ndarray]:
    """The generator on prepared inputs (`network_inputs` at ``working_size``), run again on a
    re-estimated gain when the first was uncertain.

    Returns:
        (prepared, alpha_low, fg_low): the inputs of the pass kept (the second one's when it ran),
        the network alpha (h, w) and its straight foreground (h, w, 3) in working linear.
    """
    alpha_low, fg_enc = run_generator(model, prepared.image, prepared.plate, prepared.seg, prepared.motion)
    refined = second_gain(inputs, prepared, alpha_low)
    if refined is not None:
        prepared = network_inputs(inputs, working_size, gain=refined[0], exposure=prepared.exposure)
        prepared.gain_support = refined[1]
        alpha_low, fg_enc = run_generator(model, prepared.image, prepared.plate, prepared.seg, prepared.motion)
    return prepared, alpha_low, decode_from_network(fg_enc)


def matte_arrays(model: torch.nn.Module, inputs: FrameInputs, layers: tuple[str, ...] = ()) -> MatteResult:
    """Pull the matte of one frame: gain match, priors, generator, refinement, premultiplied output.

    Args:
        model: a bgmatte Generator (its config gives the working size).
        inputs: the frame's full-resolution working-linear inputs.
        layers: extra layers to compute, among "fg" and "shadow".

    Returns:
        The alpha, premultiplied working-linear foreground and requested layers at full resolution.
        All the maths runs on exposure-normalised pixels (`bgmatte.color.exposure`); the outputs in
        light units are brought back to the input's exposure, so the matte does not depend on it.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    height, width = inputs.frame.shape[:2]
    prepared = network_inputs(inputs, model.config.working_size)
    k = prepared.exposure
    frame = prepared.frame
    timings["priors"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    prepared, alpha_low, fg_low = network_pass(model, inputs, prepared, model.config.working_size)
    plate = prepared.matched_plate
    timings["network"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    alpha = refine_alpha(alpha_low, frame, plate, fg_low)
    if model.refiner is not None:
        alpha = refine_patches(model.refiner, alpha, frame, plate, alpha_low, fg_low)
    alpha = apply_overrides(alpha, garbage=inputs.garbage, core=inputs.core)
    timings["refine"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    need_fg_net = inputs.plate_valid is not None or "fg" in layers
    fg_net = resize_linear(fg_low, (height, width)) if need_fg_net else None
    noise = estimate_noise_floor(frame, plate, alpha, valid=inputs.plate_valid)
    alpha = gate_small_alpha(alpha, frame, plate, noise, valid=inputs.plate_valid)
    premult = premultiplied_foreground(frame, plate, alpha, fg_net=fg_net, plate_valid=inputs.plate_valid,
                                       noise_floor=noise)
    if inputs.garbage is not None:  # what a garbage matte removes leaves no added light either
        premult *= 1.0 - np.clip(inputs.garbage, 0.0, 1.0)[..., None]
    extra: dict[str, np.ndarray] = {}
    if "fg" in layers:
        extra["fg"] = _scaled(straight_foreground(premult, alpha, fg_net), 1.0 / k)
    if "shadow" in layers:
        extra["shadow"] = shadow_layer(frame, plate, alpha, noise)
    timings["output"] = time.perf_counter() - t0
    return MatteResult(alpha=alpha, premult=_scaled(premult, 1.0 / k), layers=extra, gain=prepared.gain,
                       gain_support=prepared.gain_support, noise_floor=noise / np.float32(k), exposure=k,
                       timings=timings)
