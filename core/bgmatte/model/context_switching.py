"""The Context Switching Block (Sec. 3.1): selectors pair each prior with the image, a combinator merges.

A selector sees the image's features next to one prior's and learns how much of that prior to
pass on (e.g. to ignore the plate where it is misaligned, or the segmentation where it is wrong);
the combinator mixes the image's features with the three selections.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from bgmatte.model.layers import conv_norm_relu


class Selector(nn.Module):
    """Concatenate image features with one prior's features -> 1x1 conv, norm, ReLU."""

    def __init__(self, feature_width: int, selector_width: int, norm: str) -> None:
        super().__init__()
        self.select = conv_norm_relu(2 * feature_width, selector_width, 1, norm)

    def forward(self, image_features: Tensor, prior_features: Tensor) -> Tensor:
        """Select from one prior.

        Args:
            image_features: (B, F, h, w) image encoder output, >= 0.
            prior_features: (B, F, h, w) plate, segmentation or motion encoder output, >= 0.

        Returns:
            (B, selector_width, h, w), >= 0.
        """
        return self.select(torch.cat([image_features, prior_features], dim=1))


class Combinator(nn.Module):
    """Concatenate image features with the three selector outputs -> 1x1 conv, norm, ReLU."""

    def __init__(self, feature_width: int, selector_width: int, combinator_width: int, norm: str) -> None:
        super().__init__()
        self.combine = conv_norm_relu(feature_width + 3 * selector_width, combinator_width, 1, norm)

    def forward(self, image_features: Tensor, plate: Tensor, seg: Tensor, motion: Tensor) -> Tensor:
        """Combine.

        Args:
            image_features: (B, F, h, w), >= 0.
            plate, seg, motion: (B, selector_width, h, w) selector outputs, >= 0.

        Returns:
            (B, combinator_width, h, w), >= 0.
        """
        return self.combine(torch.cat([image_features, plate, seg, motion], dim=1))


class ContextSwitchingBlock(nn.Module):
    """One selector per prior (plate, segmentation, motion) followed by the combinator."""

    def __init__(self, feature_width: int, selector_width: int, combinator_width: int, norm: str) -> None:
        super().__init__()
        self.plate_selector = Selector(feature_width, selector_width, norm)
        self.seg_selector = Selector(feature_width, selector_width, norm)
        self.motion_selector = Selector(feature_width, selector_width, norm)
        self.combinator = Combinator(feature_width, selector_width, combinator_width, norm)

    def forward(self, image: Tensor, plate: Tensor, seg: Tensor, motion: Tensor) -> Tensor:
        """Switch context.

        Args:
            image, plate, seg, motion: (B, F, h, w) bottom features of the four encoders, >= 0.

        Returns:
            (B, combinator_width, h, w), >= 0.
        """
        return self.combinator(
            image,
            self.plate_selector(image, plate),
            self.seg_selector(image, seg),
            self.motion_selector(image, motion),
        )
