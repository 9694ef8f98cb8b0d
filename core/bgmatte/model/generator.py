"""The generator of Background Matting (Sengupta et al. 2020, Fig. 2): encoders, context switching, heads."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from bgmatte.model.config import GeneratorConfig
from bgmatte.model.context_switching import ContextSwitchingBlock
from bgmatte.model.decoder import ResidualDecoder
from bgmatte.model.encoders import Encoder
from bgmatte.model.heads import AlphaHead, ForegroundHead
from bgmatte.model.refiner import PatchRefiner

IMAGE_CHANNELS = 3
SEG_CHANNELS = 1
MOTION_CHANNELS = 4


class Generator(nn.Module):
    """Image, plate, soft segmentation and motion cues in; alpha and straight foreground out.

    One code path for CPU and CUDA, fp32 and fp16 (``.half()``), NCHW or channels_last: the
    caller puts the inputs on the parameters' device and dtype. Only basic ops (conv, batch
    norm, ReLU, bilinear upsampling, tanh, pad, cat) so that it scripts and traces for export.

    Attributes:
        config: the GeneratorConfig it was built from.
        refiner: the learned full-resolution refiner (`PatchRefiner`), or None.
        provenance: plain-type dict saying where the weights come from (set by the registry).
    """

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        self.provenance: dict = {}
        self.pad_multiple = 2**config.downsamples
        widths = config.level_widths
        self.image_encoder = Encoder(IMAGE_CHANNELS, widths, config.norm)
        self.plate_encoder = Encoder(IMAGE_CHANNELS, widths, config.norm)
        self.seg_encoder = Encoder(SEG_CHANNELS, widths, config.norm)
        self.motion_encoder = Encoder(MOTION_CHANNELS, widths, config.norm)
        self.context_switching = ContextSwitchingBlock(widths[-1], config.selector_width,
                                                       config.combinator_width, config.norm)
        self.shared_decoder = ResidualDecoder(config.combinator_width, config.shared_blocks, config.norm)
        self.alpha_head = AlphaHead(config.combinator_width, widths, config.head_blocks, config.norm,
                                    skips=config.alpha_skips)
        self.alpha_skips = config.alpha_skips
        self.foreground_head = ForegroundHead(config.combinator_width, widths, config.head_blocks, config.norm)
        # Run by the refinement stage at full resolution, not by forward (bgmatte.refine.learned).
        self.refiner = PatchRefiner(config.refiner_width) if config.refiner_width else None

    def forward(self, image: Tensor, plate: Tensor, seg: Tensor, motion: Tensor) -> tuple[Tensor, Tensor]:
        """Pull alpha and foreground at the working resolution.

        Any H, W: inputs are padded (replicate) on the right and bottom to a multiple of 2**d (at
        least 2 * 2**d, so reflection padding always fits) and the outputs cropped back.

        Args:
            image: (B, 3, H, W) frame in the network encoding (ACEScct curve; values ~0..1.5).
            plate: (B, 3, H, W) clean plate, same encoding, registered to the frame.
            seg: (B, 1, H, W) soft segmentation in [0, 1].
            motion: (B, 4, H, W) encoded grey frames t-2k, t-k, t+k, t+2k.

        Returns:
            alpha: (B, 1, H, W) in [0, 1].
            fg: (B, 3, H, W) straight foreground colour in the network encoding.
        """
        height, width = image.shape[-2], image.shape[-1]
        multiple = self.pad_multiple
        pad_h = max((height + multiple - 1) // multiple * multiple, 2 * multiple) - height
        pad_w = max((width + multiple - 1) // multiple * multiple, 2 * multiple) - width
        if pad_h > 0 or pad_w > 0:
            padding = [0, pad_w, 0, pad_h]
            image = F.pad(image, padding, mode="replicate")
            plate = F.pad(plate, padding, mode="replicate")
            seg = F.pad(seg, padding, mode="replicate")
            motion = F.pad(motion, padding, mode="replicate")
        image_levels = self.image_encoder.levels(image)
        plate_levels = self.plate_encoder.levels(plate)
        skip, image_features, plate_features = image_levels[-2], image_levels[-1], plate_levels[-1]
        alpha_skips: list[Tensor] = []
        if self.alpha_skips:
            for level in range(len(image_levels) - 2, -1, -1):
                alpha_skips.append(torch.cat([image_levels[level], plate_levels[level]], dim=1))
        _, seg_features = self.seg_encoder(seg)
        _, motion_features = self.motion_encoder(motion)
        features = self.context_switching(image_features, plate_features, seg_features, motion_features)
        features = self.shared_decoder(features)
        alpha = self.alpha_head(features, alpha_skips)
        fg = self.foreground_head(features, skip, image)
        return alpha[..., :height, :width], fg[..., :height, :width]
