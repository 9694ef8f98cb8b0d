"""The exported graph: one packed [1, 6, H, W] tensor in, premultiplied RGBA [1, 4, H, W] out.

What Nuke's Inference node runs. It repeats ``bgmatte.pipeline.matte_arrays`` for one still frame
(``--seg auto --motion none``): the exposure normalisation (``bgmatte.color.exposure``, the same
torch function), the plate gain match, area downsampling to the working size, the
network encoding, the automatic soft segmentation, motion = four copies of the frame's grey, the
generator, the full-resolution refinement and the premultiplied foreground. Every step is the
core's own torch function (resampling, the exposure scale, the gain match, the prior, the
refinement and the clip-black gate, the noise floor, the premultiplied foreground with its
added-light bound, the encoding, the generator), the refinement, the gate and the foreground
computed on the whole frame at once.

Scripted, not traced: sizes, radii, thresholds and loop counts are computed from each frame at run
time, so any frame size works. Frozen at export: the weights, the working size (longest side) of the
model's config, the core's tuning constants, and the two colour matrices (script working space <->
ACEScg). Batches are taken one frame at a time (the Inference node sends one).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from bgmatte.color import exposure
from bgmatte.color.encoding import decode_from_network, encode_for_network, luminance
from bgmatte.priors.resample import downsample_area, working_shape
from bgmatte.model import Generator
from bgmatte.output import foreground
from bgmatte.priors import gain_match, motion, segmentation
from bgmatte.refine import noise_gate, uncertain
from bgmatte.refine.learned import DenseRefiner
from bgmatte.refine.guided_filter import guided_filter_coefficients

INPUT_CHANNELS = 6
OUTPUT_CHANNELS = 4


class GuidedCoefficients(nn.Module):
    """The core's ``guided_filter_coefficients`` with the refinement's radius and eps, for tracing."""

    def forward(self, guide_low: Tensor, src_low: Tensor) -> tuple[Tensor, Tensor]:
        """(1, 3, h, w) and (1, 1, h, w) float64 -> a (1, 1, 3, h, w), b (1, 1, h, w)."""
        return guided_filter_coefficients(guide_low, src_low, uncertain.GUIDE_RADIUS, uncertain.GUIDE_EPS)


def trace_guided_coefficients() -> torch.jit.ScriptModule:
    """GuidedCoefficients traced on a small example.

    The trace keeps the box filters and the closed-form 3x3 solve, which work at any size; what
    it freezes are the shape checks (a colour guide, one source channel), true for every frame,
    and the CPU device of its identity matrix, so the graph calls it on CPU tensors.
    """
    example = (torch.rand(1, 3, 12, 16, dtype=torch.float64), torch.rand(1, 1, 12, 16, dtype=torch.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        return torch.jit.trace(GuidedCoefficients(), example, check_trace=False)


def _matrix_weight(matrix: np.ndarray) -> Tensor:
    """A (3, 3) colour matrix as a 1x1 convolution weight (3, 3, 1, 1) float32."""
    return torch.from_numpy(np.ascontiguousarray(matrix, np.float32)).view(3, 3, 1, 1)


class MatteGraph(nn.Module):
    """Source and clean plate in, premultiplied RGBA out, with the core's steps for a still frame.

    Args:
        generator: a bgmatte Generator in eval mode (its config gives the working size).
        to_working: (3, 3) matrix from the script's working space to ACEScg.
        from_working: (3, 3) matrix from ACEScg back to the script's working space.
    """

    def __init__(self, generator: Generator, to_working: np.ndarray, from_working: np.ndarray) -> None:
        super().__init__()
        self.generator = generator
        self.guided = trace_guided_coefficients()
        self.refiner = None if generator.refiner is None else DenseRefiner(generator.refiner)
        self.register_buffer("to_working", _matrix_weight(to_working))
        self.register_buffer("from_working", _matrix_weight(from_working))
        self.working_size = int(generator.config.working_size)
        self.motion_frames = motion.MOTION_FRAMES
        self.exposure_working_size = exposure.EXPOSURE_WORKING_SIZE
        self.gain_working_size = gain_match.GAIN_WORKING_SIZE
        self.gain_confident_support = gain_match.GAIN_CONFIDENT_SUPPORT
        self.gain_background_alpha = gain_match.BACKGROUND_ALPHA
        self.gain_usable_cover = gain_match.USABLE_COVER
        self.gain_rerun_change = gain_match.GAIN_RERUN_CHANGE

    def forward(self, x: Tensor) -> Tensor:
        """Matte one frame.

        Args:
            x: (1, 6, H, W): source RGB then clean plate RGB, scene-linear in the script's working
                space, straight (not premultiplied); any H, W. Everything but the generator runs in
                float32 whatever the input's and the module's dtype (``.half()`` halves the generator).

        Returns:
            (1, 4, H, W) premultiplied RGB (the script's working space) and alpha in [0, 1],
            in the input's dtype.
        """
        packed = x.float()
        frame = F.conv2d(packed[:, 0:3], self.to_working.float())
        plate = F.conv2d(packed[:, 3:6], self.to_working.float())
        premult, alpha = self.matte_working(frame, plate)
        return torch.cat([F.conv2d(premult, self.from_working.float()), alpha], dim=1).to(x.dtype)

    def network_pass(self, frame: Tensor, plate: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
        """``pipeline.network_inputs`` + ``run_generator`` for a still: gain-matched (1, 3, H, W) frame
        and plate -> (1, 1, h, w) alpha and (1, 3, h, w) encoded foreground at the working size."""
        image_enc = encode_for_network(downsample_area(frame, height, width))
        plate_enc = encode_for_network(downsample_area(plate, height, width))
        if height != frame.shape[2] or width != frame.shape[3]:
            seg = segmentation.scripted_coverage_prior(frame, plate, image_enc, plate_enc)
        else:
            seg = segmentation.scripted_soft_segmentation(image_enc, plate_enc)
        motion = luminance(image_enc).repeat(1, self.motion_frames, 1, 1)
        # Only the generator follows the module's dtype (half after Nuke's "Optimize for Speed and Memory").
        net = self.to_working.dtype
        return self.generator(image_enc.to(net), plate_enc.to(net), seg.to(net), motion.to(net))

    def matte_working(self, frame: Tensor, plate: Tensor) -> tuple[Tensor, Tensor]:
        """``pipeline.matte_arrays`` for a still frame: (1, 3, H, W) ACEScg frame and plate ->
        ((1, 3, H, W) premultiplied ACEScg foreground, (1, 1, H, W) alpha)."""
        # As pipeline.network_inputs: every step sees the frame and plate scaled by k (from the plate).
        level_height, level_width = working_shape(plate.shape[2], plate.shape[3], self.exposure_working_size)
        plate_level = downsample_area(plate, level_height, level_width)
        k = exposure.scale_for_level(exposure.plate_level(plate_level, torch.ones_like(plate_level[:, 0:1])))
        frame = frame * k
        plate = plate * k
        gain_height, gain_width = working_shape(frame.shape[2], frame.shape[3], self.gain_working_size)
        frame_small = downsample_area(frame, gain_height, gain_width)[0].reshape(3, -1).t()
        plate_small = downsample_area(plate, gain_height, gain_width)[0].reshape(3, -1).t()
        usable = torch.ones(frame_small.shape[0], dtype=frame.dtype, device=frame.device)
        gain, support = gain_match.estimate_gain(frame_small, plate_small, usable)
        height, width = working_shape(frame.shape[2], frame.shape[3], self.working_size)
        alpha_low, fg_enc = self.network_pass(frame, plate * gain.view(1, 3, 1, 1), height, width)
        if support < self.gain_confident_support:
            # As pipeline.second_gain: re-estimate on the background the first pass found.
            background = (alpha_low.float() < self.gain_background_alpha).to(frame.dtype)
            covered = downsample_area(background, gain_height, gain_width).reshape(-1) >= self.gain_usable_cover
            second, second_support = gain_match.estimate_gain(frame_small, plate_small, covered.to(frame.dtype))
            change = torch.abs(torch.log(second.double() / gain.double())).max()
            if second_support > 0.0 and float(change) > self.gain_rerun_change:
                gain = second
                alpha_low, fg_enc = self.network_pass(frame, plate * gain.view(1, 3, 1, 1), height, width)
        plate = plate * gain.view(1, 3, 1, 1)
        alpha_low = alpha_low.float()
        fg_low = decode_from_network(fg_enc.float())
        frame_low = downsample_area(frame, height, width)
        plate_low = downsample_area(plate, height, width)
        guide, level = uncertain.refine_guide(frame_low, plate_low)
        # The traced guided filter holds CPU constants (its trace froze a device): run it on the CPU,
        # at the working size in float64 that costs milliseconds, and bring the result back.
        a, b = self.guided(guide.cpu(), alpha_low.double().cpu())
        alpha = uncertain.refine_whole_frame(alpha_low, frame, plate, fg_low, frame_low, plate_low, level,
                                             a.to(frame.device), b.to(frame.device))
        if self.refiner is not None:
            alpha = self.refiner(alpha, frame, plate, alpha_low, fg_low, self.to_working.dtype)
        noise = foreground.background_noise(frame, plate, alpha)
        alpha = noise_gate.gate_whole_frame(alpha, frame, plate, noise)
        premult = foreground.premultiplied_whole_frame(frame, plate, alpha, noise)
        return premult * (1.0 / k), alpha
