"""The multiscale PatchGAN discriminator of stage 2 (Sengupta et al. 2020, Sec. 3.2) and its LSGAN losses.

Each scale is a PatchGAN (Isola et al. 2017): strided convolutions whose output map scores
overlapping patches as real (1) or composited (0). The second scale sees the image halved, so
it judges larger structures. Departure from pix2pixHD's version: no normalisation layers, since
stage-2 batches hold a few crops of one shot and batch statistics would be noise.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

NEGATIVE_SLOPE = 0.2


class PatchDiscriminator(nn.Module):
    """One scale: ``layers`` stride-2 4x4 convolutions with LeakyReLU, then a 1-channel score map."""

    def __init__(self, in_channels: int = 3, width: int = 16, layers: int = 3) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        channels = in_channels
        for index in range(layers):
            out = width * 2**index
            blocks += [nn.Conv2d(channels, out, 4, stride=2, padding=1), nn.LeakyReLU(NEGATIVE_SLOPE, inplace=True)]
            channels = out
        blocks.append(nn.Conv2d(channels, 1, 3, padding=1))
        self.net = nn.Sequential(*blocks)

    def forward(self, image: Tensor) -> Tensor:
        """Score patches of (B, C, H, W) images; returns (B, 1, H / 2**layers, W / 2**layers), unbounded."""
        return self.net(image)


class MultiscaleDiscriminator(nn.Module):
    """``scales`` PatchGANs on the image at full, half, quarter... resolution (2 scales by default)."""

    def __init__(self, in_channels: int = 3, width: int = 16, layers: int = 3, scales: int = 2) -> None:
        super().__init__()
        self.scales = nn.ModuleList(PatchDiscriminator(in_channels, width, layers) for _ in range(scales))

    def forward(self, image: Tensor) -> list[Tensor]:
        """One score map per scale for (B, C, H, W) images (network-encoded RGB), finest first."""
        maps = []
        for index, scale in enumerate(self.scales):
            if index:
                image = F.avg_pool2d(image, 2, count_include_pad=False)
            maps.append(scale(image))
        return maps


def lsgan_loss(maps: list[Tensor], real: bool) -> Tensor:
    """Least-squares GAN loss (Mao et al. 2017): mean of (map - target)^2 over the scales, target 1 or 0."""
    target = 1.0 if real else 0.0
    return torch.stack([((score - target) ** 2).mean() for score in maps]).mean()
