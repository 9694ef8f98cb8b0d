"""The learned full-resolution refiner: a few small convolutions on square patches of the uncertain band.

Background Matting V2 (Lin et al., CVPR 2021) refines the patches where its coarse matte is unsure
with a second network at full resolution. Ours is smaller and sits after the analytic refinement
(`bgmatte.refine.uncertain`): it sees the full-resolution frame and plate, the analytic alpha and
the network's upsampled alpha and foreground, and predicts a correction to the analytic alpha, so
that strands thinner than a pixel of the working image come back and noise in the plate projection
is not taken for detail. Each output pixel depends only on the inputs within HALO pixels, so a
patch gives the same values as the whole frame would (the core runs patches, the export the frame).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from bgmatte.color.exposure import EXPOSURE_REFERENCE

PATCH = 16
"""Side of the square output patches, full-resolution pixels."""
HALO = 4
"""Context on each side of a patch: the receptive-field radius of the four 3x3 convolutions."""
RAW_CHANNELS = 11
"""Raw inputs per pixel: frame (3), plate (3), analytic alpha (1), upsampled network alpha (1) and foreground (3)."""
FEATURE_CHANNELS = 14
ANALYTIC_ALPHA = 6
"""Index of the analytic alpha among the raw channels (the one the refiner corrects)."""


def refiner_features(raw: Tensor, unit: float = EXPOSURE_REFERENCE) -> Tensor:
    """The refiner's input features from raw (N, 11, h, w) exposure-normalised linear inputs.

    Light values are compressed by sign(x) log(1 + |x|) in units of the exposure reference (the
    level the normalisation brings the plate to, ``unit``), so highlights stay finite and shadows
    keep their contrast (asinh would do the same at six times the cost on the CPU).
    """
    frame, plate, fg = raw[:, 0:3], raw[:, 3:6], raw[:, 8:11]
    light = torch.cat([frame, plate, frame - plate, fg], dim=1) * (1.0 / unit)
    return torch.cat([torch.sign(light) * torch.log1p(light.abs()), raw[:, 6:8]], dim=1)


class PatchRefiner(nn.Module):
    """A 1x1 mixing layer and four unpadded 3x3 convolutions:
    (N, 11, p + 2*HALO, p + 2*HALO) raw inputs -> (N, 1, p, p) alpha.

    The last convolution starts at zero, so an untrained refiner returns the analytic alpha.

    Attributes:
        width: channels of the hidden layers.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width
        self.halo = HALO  # attributes, not globals, for TorchScript
        self.analytic_channel = ANALYTIC_ALPHA
        self.unit = EXPOSURE_REFERENCE
        self.body = nn.Sequential(
            nn.Conv2d(FEATURE_CHANNELS, width, 1), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3), nn.ReLU(inplace=True),
            nn.Conv2d(width, 1, 3),
        )
        last = self.body[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, raw: Tensor) -> Tensor:
        """Refined alpha in [0, 1] of the inner (h - 2*HALO, w - 2*HALO) pixels of the raw inputs."""
        halo, channel = self.halo, self.analytic_channel
        analytic = raw[:, channel:channel + 1, halo:-halo, halo:-halo]
        return (analytic + self.body(refiner_features(raw, self.unit))).clamp(0.0, 1.0)
