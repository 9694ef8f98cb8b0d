"""The paper's encoders: one per input (image, background plate, soft segmentation, motion cues)."""
from __future__ import annotations

from torch import Tensor, nn

from bgmatte.model.layers import conv_norm_relu


class Encoder(nn.Module):
    """7x7 convolution at full resolution, then d stride-2 3x3 convolutions (Sec. 3.1).

    The image, plate, segmentation and motion encoders are four instances that differ only in
    their input channels (3, 3, 1, 4); reflection padding on the 7x7 keeps frame edges clean.
    """

    def __init__(self, in_channels: int, level_widths: tuple[int, ...], norm: str) -> None:
        super().__init__()
        self.stem = conv_norm_relu(in_channels, level_widths[0], 7, norm, padding_mode="reflect")
        self.downsample = nn.ModuleList(
            conv_norm_relu(level_widths[i], level_widths[i + 1], 3, norm, stride=2)
            for i in range(len(level_widths) - 1)
        )

    def levels(self, x: Tensor) -> list[Tensor]:
        """Every level's features: [(B, level_widths[i], H / 2**i, W / 2**i) for i in 0..d], all >= 0.

        Args:
            x: (B, C_in, H, W), H and W multiples of 2**d; encoded colour, grey or a [0, 1] mask.
        """
        x = self.stem(x)
        features = [x]
        for layer in self.downsample:
            x = layer(x)
            features.append(x)
        return features

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Encode one input.

        Args:
            x: (B, C_in, H, W), H and W multiples of 2**d; encoded colour, grey or a [0, 1] mask.

        Returns:
            skip: (B, level_widths[d-1], H / 2**(d-1), W / 2**(d-1)), the last features before the
                bottom (the foreground head's skip connection); ReLU outputs, >= 0.
            features: (B, level_widths[d], H / 2**d, W / 2**d), >= 0.
        """
        features = self.levels(x)
        return features[-2], features[-1]
