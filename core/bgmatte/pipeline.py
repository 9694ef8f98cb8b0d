"""One frame, from arrays: priors -> generator -> full-resolution refinement -> premultiplied output.

Everything here is working linear (scene-linear ACEScg), float32. The frame's inputs come in as
channels-last NumPy (`FrameInputs`, from the I/O), become NCHW tensors on the model's device once
(`FrameTensors`), and every stage runs there as torch: exposure normalisation, gain match, priors,
motion cues, the generator (in the model's dtype: fp16 on CUDA), refinement, the noise gate, the
premultiplied foreground and the layers; the result comes back to NumPy once (`MatteResult`, for the
writers). File reading, colour conversion and writing live in the api; this module is what the
Python array-level call, the benchmark and the tests share, so every host gets the same pixels for
the same frame.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from bgmatte.color.encoding import decode_from_network, encode_for_network
from bgmatte.color.exposure import plate_exposure
from bgmatte.output.foreground import background_noise, premultiplied_tensor
from bgmatte.output.layers import shadow_tensor, straight_tensor
from bgmatte.priors import motion_grey, resize_area, stack_motion_cues, working_shape
from bgmatte.priors.gain_match import GAIN_CONFIDENT_SUPPORT, gain_changed, match_plate_gain, network_background
from bgmatte.priors.resample import as_array, as_nchw, downsample_area, upsample_bilinear
from bgmatte.priors.segmentation import coverage_prior, override_mattes, rough_blob, soft_prior
from bgmatte.refine.learned import refine_patch_tensors
from bgmatte.refine.noise_gate import gate_alpha
from bgmatte.refine.uncertain import refine_band

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
            `prepare`, after the exposure normalisation, like the frame's own.
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
class FrameTensors:
    """`FrameInputs` on a device: every map a (1, C, H, W) float32 tensor (neighbours (1, 3, h, w)),
    the fixed gain a (3,) tensor; None where the inputs hold None."""

    frame: Tensor
    plate: Tensor
    seg: Tensor | None
    use_seg: bool
    neighbours: list[Tensor] | None
    garbage: Tensor | None
    core: Tensor | None
    plate_valid: Tensor | None
    gain: Tensor | None

    @classmethod
    def of(cls, inputs: FrameInputs, device: torch.device | str = "cpu") -> "FrameTensors":
        """The I/O boundary in: each array crosses to ``device`` once (one contiguous NCHW copy)."""
        def move(x: np.ndarray | None) -> Tensor | None:
            if x is None:
                return None
            if torch.device(device).type == "cpu":
                return as_nchw(x)
            # Channels-last memory crosses as one block; the NCHW copy is made on the device.
            pixels = torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(device, non_blocking=False)
            return (pixels[..., None] if pixels.dim() == 2 else pixels).permute(2, 0, 1)[None].contiguous()

        return cls(frame=move(inputs.frame), plate=move(inputs.plate), seg=move(inputs.seg), use_seg=inputs.use_seg,
                   neighbours=None if inputs.neighbours is None else [move(n) for n in inputs.neighbours],
                   garbage=move(inputs.garbage), core=move(inputs.core), plate_valid=move(inputs.plate_valid),
                   gain=None if inputs.gain is None else torch.as_tensor(np.asarray(inputs.gain, np.float32)).to(device))


@dataclass
class PreparedTensors:
    """The generator's inputs of one frame at working resolution, as tensors on the model's device
    (what `NetworkInputs` holds as arrays), with the linear working-size copies refinement reuses.

    Attributes:
        image, plate: (1, 3, h, w) frame and gain-matched plate in the network encoding.
        seg: (1, 1, h, w) soft segmentation in [0, 1] (garbage/core mattes applied).
        motion: (1, 4, h, w) encoded grey cues t-2k, t-k, t+k, t+2k.
        matched_plate: (1, 3, H, W) working-linear plate after the gain match, times k.
        gain: (3,) the exposure gain applied to the plate.
        gain_support: weighted share of the frame that agrees with an estimated gain (1 when given).
        exposure: k.
        frame: (1, 3, H, W) working-linear frame times k.
        frame_low, plate_low: (1, 3, h, w) ``frame`` and ``matched_plate`` area-downsampled (linear).
    """

    image: Tensor
    plate: Tensor
    seg: Tensor
    motion: Tensor
    matched_plate: Tensor
    gain: Tensor
    gain_support: float
    exposure: float
    frame: Tensor
    frame_low: Tensor
    plate_low: Tensor


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

    @classmethod
    def of(cls, prepared: PreparedTensors) -> "NetworkInputs":
        """The I/O boundary out, for the NumPy callers (training)."""
        return cls(image=as_array(prepared.image), plate=as_array(prepared.plate), seg=as_array(prepared.seg),
                   motion=as_array(prepared.motion), matched_plate=as_array(prepared.matched_plate),
                   gain=prepared.gain.cpu().numpy(), gain_support=prepared.gain_support, exposure=prepared.exposure,
                   frame=as_array(prepared.frame))


def _scaled(pixels: Tensor, k: float) -> Tensor:
    """``pixels * k`` in float32 (the tensor itself when k is 1)."""
    return pixels if k == 1.0 else pixels * k


def prepare(inputs: FrameTensors, working_size: int, gain: Tensor | None = None,
            exposure: float | None = None) -> PreparedTensors:
    """Prepare one frame for the generator on its device: exposure normalisation, gain match,
    downsample, encode, priors, motion cues.

    Args:
        inputs: the frame's full-resolution working-linear inputs as tensors.
        working_size: the model's working size (longest side, pixels).
        gain: (3,) plate gain to apply; None = ``inputs.gain``, else estimated from the frame.
        exposure: the normalisation k; None = measured on the plate (`plate_exposure`).
    """
    height, width = inputs.frame.shape[2], inputs.frame.shape[3]
    k = plate_exposure(inputs.plate, inputs.plate_valid) if exposure is None else float(exposure)
    frame = _scaled(inputs.frame, k)
    gain = inputs.gain if gain is None else gain
    support = 1.0
    if gain is None:
        usable = [m for m in (inputs.plate_valid, None if inputs.core is None else 1.0 - inputs.core) if m is not None]
        plate, gain, support = match_plate_gain(frame, _scaled(inputs.plate, k), usable)
    else:
        gain = torch.as_tensor(gain, dtype=torch.float32).to(frame.device)
        plate = inputs.plate * (gain * k).view(1, 3, 1, 1)
    size = working_shape(height, width, working_size)
    frame_low = downsample_area(frame, *size)
    plate_low = downsample_area(plate, *size)
    image_enc = encode_for_network(frame_low)
    plate_enc = encode_for_network(plate_low)
    if not inputs.use_seg:
        seg = torch.zeros((1, 1, *size), dtype=torch.float32, device=frame.device)
    elif inputs.seg is not None:
        seg = rough_blob(downsample_area(inputs.seg, *size))
    elif size != (height, width):
        seg = coverage_prior(frame, plate, image_enc, plate_enc)
    else:
        seg = soft_prior(image_enc, plate_enc)
    small = {name: downsample_area(m, *size) for name, m in (("garbage", inputs.garbage), ("core", inputs.core))
             if m is not None}
    seg = override_mattes(seg.clone(), garbage=small.get("garbage"), core=small.get("core"))
    grey = motion_grey(image_enc)
    cues = [grey] * 4 if inputs.neighbours is None else [_neighbour_cue(n, size, k) for n in inputs.neighbours]
    return PreparedTensors(image=image_enc, plate=plate_enc, seg=seg, motion=stack_motion_cues(cues),
                           matched_plate=plate, gain=gain, gain_support=support, exposure=k, frame=frame,
                           frame_low=frame_low, plate_low=plate_low)


def network_inputs(inputs: FrameInputs, working_size: int, gain: np.ndarray | None = None,
                   exposure: float | None = None) -> NetworkInputs:
    """`prepare` for arrays on the CPU: exposure normalisation, gain match, downsample, encode, priors,
    motion cues.

    Inference (`matte_arrays`) and stage-2 training both use the same `prepare`, so they see the same inputs.

    Args:
        inputs: the frame's full-resolution working-linear inputs.
        working_size: the model's working size (longest side, pixels).
        gain: (3,) plate gain to apply; None = ``inputs.gain``, else estimated from the frame.
        exposure: the normalisation k; None = measured on the plate (`exposure_scale`).
    """
    gain_t = None if gain is None else torch.as_tensor(np.asarray(gain, np.float32))
    return NetworkInputs.of(prepare(FrameTensors.of(inputs), working_size, gain_t, exposure))


def _neighbour_cue(neighbour: Tensor, size: tuple[int, int], k: float) -> Tensor:
    """The encoded grey motion cue (1, 1, h, w) of a working-size linear neighbour, exposure-normalised by k."""
    if tuple(neighbour.shape) != (1, 3, *size):
        raise ValueError(f"a neighbour must be (h, w, 3) working linear at the working size {size} "
                         f"(pipeline.working_linear), got shape {tuple(neighbour.shape[2:]) + (neighbour.shape[1],)}")
    return motion_grey(encode_for_network(_scaled(neighbour, k)))


def second_gain(inputs: FrameTensors, prepared: PreparedTensors, alpha_low: Tensor) -> tuple[Tensor, float] | None:
    """An uncertain estimated gain re-estimated on the background the network's first pass found.

    Returns (gain, support) when the new gain differs from the first enough to re-run the network,
    else None.
    """
    if inputs.gain is not None or prepared.gain_support >= GAIN_CONFIDENT_SUPPORT:
        return None
    usable = [network_background(alpha_low)] + ([] if inputs.plate_valid is None else [inputs.plate_valid])
    k = prepared.exposure
    _, gain, support = match_plate_gain(prepared.frame, _scaled(inputs.plate, k), usable)
    if support == 0.0 or not gain_changed(prepared.gain, gain):
        return None
    log.debug("plate gain re-estimated on the network's background: %s -> %s", prepared.gain.tolist(), gain.tolist())
    return gain, support


@torch.no_grad()
def run_generator(model: torch.nn.Module, image: Tensor, plate: Tensor, seg: Tensor, motion: Tensor
                  ) -> tuple[Tensor, Tensor]:
    """Run the generator on encoded (1, C, h, w) tensors in its dtype (fp16 on CUDA); returns float32
    alpha (1, 1, h, w) and encoded foreground (1, 3, h, w) on its device."""
    param = next(model.parameters())

    def net(x: Tensor) -> Tensor:
        return x.to(device=param.device, dtype=param.dtype)

    alpha, fg = model(net(image), net(plate), net(seg), net(motion))
    return alpha.float().contiguous(), fg.float().contiguous()


def generator_pass(model: torch.nn.Module, inputs: FrameTensors, prepared: PreparedTensors, working_size: int
                   ) -> tuple[PreparedTensors, Tensor, Tensor]:
    """The generator on prepared inputs (`prepare` at ``working_size``), run again on a re-estimated
    gain when the first was uncertain.

    Returns:
        (prepared, alpha_low, fg_low): the inputs of the pass kept (the second one's when it ran),
        the network alpha (1, 1, h, w) and its straight foreground (1, 3, h, w) in working linear.
    """
    alpha_low, fg_enc = run_generator(model, prepared.image, prepared.plate, prepared.seg, prepared.motion)
    refined = second_gain(inputs, prepared, alpha_low)
    if refined is not None:
        prepared = prepare(inputs, working_size, gain=refined[0], exposure=prepared.exposure)
        prepared.gain_support = refined[1]
        alpha_low, fg_enc = run_generator(model, prepared.image, prepared.plate, prepared.seg, prepared.motion)
    return prepared, alpha_low, decode_from_network(fg_enc)


def network_pass(model: torch.nn.Module, inputs: FrameInputs, prepared: NetworkInputs, working_size: int
                 ) -> tuple[NetworkInputs, np.ndarray, np.ndarray]:
    """`generator_pass` for arrays (training): ``prepared`` is `network_inputs` at ``working_size``.

    Returns:
        (prepared, alpha_low, fg_low): the inputs of the pass kept (the second one's when it ran),
        the network alpha (h, w) and its straight foreground (h, w, 3) in working linear.
    """
    tensors = FrameTensors.of(inputs)
    first = PreparedTensors(
        image=as_nchw(prepared.image), plate=as_nchw(prepared.plate), seg=as_nchw(prepared.seg),
        motion=as_nchw(prepared.motion), matched_plate=as_nchw(prepared.matched_plate),
        gain=torch.as_tensor(np.asarray(prepared.gain, np.float32)), gain_support=prepared.gain_support,
        exposure=prepared.exposure, frame=as_nchw(prepared.frame), frame_low=None, plate_low=None)
    kept, alpha_low, fg_low = generator_pass(model, tensors, first, working_size)
    return (prepared if kept is first else NetworkInputs.of(kept)), as_array(alpha_low), as_array(fg_low)


def matte_arrays(model: torch.nn.Module, inputs: FrameInputs, layers: tuple[str, ...] = ()) -> MatteResult:
    """Pull the matte of one frame: gain match, priors, generator, refinement, premultiplied output.

    The inputs cross to the model's device once and every stage runs there (`matte_tensors`); the
    result crosses back once.

    Args:
        model: a bgmatte Generator (its config gives the working size; its parameters the device).
        inputs: the frame's full-resolution working-linear inputs.
        layers: extra layers to compute, among "fg" and "shadow".

    Returns:
        The alpha, premultiplied working-linear foreground and requested layers at full resolution.
        All the maths runs on exposure-normalised pixels (`bgmatte.color.exposure`); the outputs in
        light units are brought back to the input's exposure, so the matte does not depend on it.
    """
    device = next(model.parameters()).device
    t0 = time.perf_counter()
    tensors = FrameTensors.of(inputs, device)
    transfer = time.perf_counter() - t0
    result, timings = matte_tensors(model, tensors, layers)
    t0 = time.perf_counter()
    matte = MatteResult(alpha=as_array(result["alpha"]), premult=as_array(result["premult"]),
                        layers={name: as_array(result[name]) for name in layers if name in result},
                        gain=result["gain"].cpu().numpy(), gain_support=result["gain_support"],
                        noise_floor=result["noise_floor"].cpu().numpy(), exposure=result["exposure"], timings=timings)
    timings["output"] += time.perf_counter() - t0
    timings["priors"] += transfer
    return matte


def _synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so the stage timings measure the stages (no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def matte_tensors(model: torch.nn.Module, inputs: FrameTensors, layers: tuple[str, ...] = ()
                  ) -> tuple[dict, dict[str, float]]:
    """`matte_arrays` on tensors, every stage on the inputs' device.

    Returns:
        (result, timings): ``result`` holds (1, 1, H, W) "alpha", (1, 3, H, W) "premult", the requested
        layers ("fg" (1, 3, H, W), "shadow" (1, 1, H, W)), the (3,) "gain" and "noise_floor" tensors, and
        the floats "gain_support" and "exposure"; ``timings`` seconds per stage.
    """
    device = inputs.frame.device
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    height, width = inputs.frame.shape[2], inputs.frame.shape[3]
    prepared = prepare(inputs, model.config.working_size)
    k = prepared.exposure
    frame = prepared.frame
    _synchronize(device)
    timings["priors"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    prepared, alpha_low, fg_low = generator_pass(model, inputs, prepared, model.config.working_size)
    plate = prepared.matched_plate
    _synchronize(device)
    timings["network"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    alpha = refine_band(alpha_low, frame, plate, fg_low, prepared.frame_low, prepared.plate_low)
    if model.refiner is not None:
        alpha = refine_patch_tensors(model.refiner, alpha, frame, plate, alpha_low, fg_low)
    alpha = override_mattes(alpha, garbage=inputs.garbage, core=inputs.core)
    _synchronize(device)
    timings["refine"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    need_fg_net = inputs.plate_valid is not None or "fg" in layers
    fg_net = upsample_bilinear(fg_low, [height, width]) if need_fg_net else None
    noise = background_noise(frame, plate, alpha, inputs.plate_valid)
    alpha = gate_alpha(alpha, frame, plate, noise, valid=inputs.plate_valid)
    premult = premultiplied_tensor(frame, plate, alpha, fg_net=fg_net, plate_valid=inputs.plate_valid,
                                   noise_floor=noise)
    if inputs.garbage is not None:  # what a garbage matte removes leaves no added light either
        premult *= 1.0 - inputs.garbage.clamp(0.0, 1.0)
    result: dict = {"alpha": alpha, "gain": prepared.gain, "gain_support": prepared.gain_support, "exposure": k,
                    "noise_floor": noise / k}
    if "fg" in layers:
        result["fg"] = _scaled(straight_tensor(premult, alpha, fg_net), 1.0 / k)
    if "shadow" in layers:
        result["shadow"] = shadow_tensor(frame, plate, alpha, noise)
    result["premult"] = premult if k == 1.0 else premult.mul_(1.0 / k)  # in place: a 4K frame holds no second copy
    _synchronize(device)
    timings["output"] = time.perf_counter() - t0
    return result, timings
