"""The two output heads: alpha (tanh) and straight foreground (a residual on the input image)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from bgmatte.model.decoder import ResidualDecoder, UpsamplingBlock


class AlphaHead(nn.Module):
    """Residual blocks, d upsampling stages back to input resolution, 7x7 conv, tanh mapped to [0, 1].

    Departures from the paper: the last upsampling stage has no ReLU, so the output convolution
    sees signed features. With rectified features and a narrow last stage (8 channels in the
    shipped config) training drove every output weight negative, which capped alpha at the
    bias: the step-4023 weights never exceeded 0.847, even inside a solid subject. And with
    ``skips`` each stage also sees the image and plate encoders' features at its resolution:
    without them every strand has to come back from the 1/2**d features (96x54 for a 768 px
    frame), which gives blobs where hair is dense and loses strands thinner than a few pixels.
    """

    def __init__(self, in_width: int, level_widths: tuple[int, ...], blocks: int, norm: str,
                 skips: bool = False) -> None:
        super().__init__()
        self.decoder = ResidualDecoder(in_width, blocks, norm)
        widths = (in_width,) + tuple(reversed(level_widths[:-1]))
        last = len(widths) - 2
        self.upsample = nn.ModuleList(
            UpsamplingBlock(widths[i], widths[i + 1], norm, rectify=i < last, skip_width=2 * widths[i + 1] if skips else 0)
            for i in range(len(widths) - 1))
        self.output = nn.Conv2d(widths[-1], 1, 7, padding=3, padding_mode="reflect")

    def forward(self, features: Tensor, skips: list[Tensor]) -> Tensor:
        """Predict alpha.

        Args:
            features: (B, C, H / 2**d, W / 2**d) output of the shared residual decoder.
            skips: empty, or one (B, 2 * level_widths[l], H / 2**l, W / 2**l) tensor per level l from
                d-1 down to 0 (image and plate features concatenated), for a head built with skips.

        Returns:
            (B, 1, H, W) alpha in [0, 1] ((tanh + 1) / 2; the paper's tanh gives [-1, 1]).
        """
        x = self.decoder(features)
        for index, stage in enumerate(self.upsample):
            x = stage(x, skips[index]) if len(skips) > 0 else stage(x)
        return (torch.tanh(self.output(x)) + 1.0) * 0.5


class ForegroundHead(nn.Module):
    """Residual blocks, upsampling with a skip from the image encoder, 7x7 conv added to the image.

    The first upsampling stage reaches the resolution of the image encoder's skip features
    (1/2**(d-1)); they are concatenated, as in the paper, before the remaining stages.
    """

    def __init__(self, in_width: int, level_widths: tuple[int, ...], blocks: int, norm: str) -> None:
        super().__init__()
        self.decoder = ResidualDecoder(in_width, blocks, norm)
        skip_width = level_widths[-2]
        self.first_upsample = UpsamplingBlock(in_width, skip_width, norm)
        widths = (2 * skip_width,) + tuple(reversed(level_widths[:-2]))
        self.upsample = nn.Sequential(*(UpsamplingBlock(widths[i], widths[i + 1], norm)
                                        for i in range(len(widths) - 1)))
        self.output = nn.Conv2d(widths[-1], 3, 7, padding=3, padding_mode="reflect")

    def forward(self, features: Tensor, skip: Tensor, image: Tensor) -> Tensor:
        """Predict the straight (unpremultiplied) foreground colour.

        Args:
            features: (B, C, H / 2**d, W / 2**d) output of the shared residual decoder.
            skip: (B, level_widths[d-1], H / 2**(d-1), W / 2**(d-1)) image encoder features.
            image: (B, 3, H, W) the encoded input image (values ~0..1.5).

        Returns:
            (B, 3, H, W) straight foreground in the network encoding: image + predicted residual.
        """
        x = self.first_upsample(self.decoder(features))
        x = self.upsample(torch.cat([x, skip], dim=1))
        return image + self.output(x)
