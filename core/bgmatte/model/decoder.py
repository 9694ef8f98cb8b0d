"""Residual blocks (shared and per head) and the upsampling stages of the decoder."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from bgmatte.filters import upsample_bilinear
from bgmatte.model.layers import conv_norm, conv_norm_relu, make_norm


class ResidualBlock(nn.Module):
    """x + (3x3 conv, norm, ReLU, 3x3 conv, norm), reflection padded (the paper's ResnetBlock, no dropout)."""

    def __init__(self, width: int, norm: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_norm_relu(width, width, 3, norm, padding_mode="reflect"),
            nn.Conv2d(width, width, 3, padding=1, padding_mode="reflect", bias=norm == "none"),
            make_norm(norm, width),
        )

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, h, w) -> (B, C, h, w), any real values."""
        return x + self.body(x)


class ResidualDecoder(nn.Module):
    """A stack of residual blocks at constant width and resolution (7 shared, then 3 per head)."""

    def __init__(self, width: int, blocks: int, norm: str) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(ResidualBlock(width, norm) for _ in range(blocks)))

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, h, w) -> (B, C, h, w), any real values."""
        return self.blocks(x)


class UpsamplingBlock(nn.Module):
    """Bilinear 2x upsampling, then 3x3 conv, norm, and ReLU unless ``rectify`` is False (the paper's stage).

    With ``skip_width`` > 0 the upsampled features are concatenated with skip features of that
    width (after the upsampled ones, so a block grown from one without skips keeps its weights).
    """

    def __init__(self, in_width: int, out_width: int, norm: str, rectify: bool = True, skip_width: int = 0) -> None:
        super().__init__()
        self.conv = (conv_norm_relu if rectify else conv_norm)(in_width + skip_width, out_width, 3, norm)

    def forward(self, x: Tensor, skip: Optional[Tensor] = None) -> Tensor:
        """(B, C_in, h, w) [and (B, skip_width, 2h, 2w)] -> (B, C_out, 2h, 2w); >= 0 when rectified."""
        x = upsample_bilinear(x, [2 * x.shape[-2], 2 * x.shape[-1]])
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv(x)
