"""Stage-1 losses (Sengupta et al. 2020, Sec. 3.1): alpha L1, alpha gradient, compositional, foreground,
and an alpha L1 over the truth's unknown band (our addition, weight 0 unless a run sets it).

All terms are L1 means, so each is 0 for a perfect prediction. Images are compared in the network
encoding (log-like, so a highlight error does not swamp the shadows); the re-composition itself is
done in linear light, where the compositing equation holds.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from bgmatte.color.encoding import decode_from_network, encode_for_network

FG_ALPHA_THRESHOLD = 1e-3
"""Pixels with true alpha above this have a defined foreground colour (same as the data)."""
MAX_ENCODED = 1.47
"""Predicted foreground is clamped here (~65504 linear) before decoding, so early, wild outputs
cannot overflow the re-composite."""
BAND_DILATION = 2
"""The band term's region: truth strictly between 0 and 1 (past FG_ALPHA_THRESHOLD), dilated by this many pixels."""


@dataclass(frozen=True)
class LossWeights:
    """Weights of the stage-1 terms; the paper's 1 : 2 for alpha and its gradient, the rest 1.

    ``band_alpha`` weighs the alpha L1 averaged over the unknown band only, so that a veil, a
    sieve's holes or a few strands count as much as the rest of the crop they sit in (in the plain
    mean they are a few percent of the pixels, and the network learned to drop them); 0 keeps the
    paper's loss (every run before 2026-12-06).
    """

    alpha: float = 1.0
    alpha_gradient: float = 2.0
    composition: float = 1.0
    foreground: float = 1.0
    band_alpha: float = 0.0


def stage1_losses(alpha: Tensor, fg: Tensor, batch: dict[str, Tensor], weights: LossWeights | None = None) -> dict[str, Tensor]:
    """The stage-1 loss terms and their weighted total.

    Args:
        alpha: (B, 1, H, W) predicted alpha in [0, 1].
        fg: (B, 3, H, W) predicted straight foreground, network-encoded.
        batch: targets, NCHW float: ``alpha`` (B, 1, H, W) truth in [0, 1]; ``fg`` (B, 3, H, W)
            encoded straight foreground truth; ``background`` (B, 3, H, W) encoded true background
            behind the subject; ``image_clean`` (B, 3, H, W) encoded frame before sensor noise.
        weights: Term weights (LossWeights() when None).

    Returns:
        Scalar tensors ``alpha``, ``alpha_gradient``, ``composition``, ``foreground``, ``alpha_band``
        (logged whatever its weight) and ``total``.
    """
    weights = weights or LossWeights()
    true_alpha = batch["alpha"]
    terms = {
        "alpha": (alpha - true_alpha).abs().mean(),
        "alpha_gradient": _gradient_l1(alpha, true_alpha),
        "composition": composition_l1(alpha, fg, batch["background"], batch["image_clean"]),
        "foreground": _masked_l1(fg, batch["fg"], (true_alpha > FG_ALPHA_THRESHOLD).to(fg.dtype)),
        "alpha_band": _masked_l1(alpha, true_alpha, unknown_band(true_alpha).to(alpha.dtype)),
    }
    terms["total"] = (weights.alpha * terms["alpha"] + weights.alpha_gradient * terms["alpha_gradient"]
                      + weights.composition * terms["composition"] + weights.foreground * terms["foreground"]
                      + weights.band_alpha * terms["alpha_band"])
    return terms


def unknown_band(true_alpha: Tensor, dilation: int = BAND_DILATION) -> Tensor:
    """(B, 1, H, W) bool: where the truth is neither background nor solid, dilated by ``dilation`` px."""
    partial = ((true_alpha > FG_ALPHA_THRESHOLD) & (true_alpha < 1.0 - FG_ALPHA_THRESHOLD)).float()
    return F.max_pool2d(partial, 2 * dilation + 1, stride=1, padding=dilation) > 0.5


def _gradient_l1(predicted: Tensor, target: Tensor) -> Tensor:
    """L1 between horizontal and vertical finite differences of two (B, 1, H, W) maps."""
    dx = (predicted[..., :, 1:] - predicted[..., :, :-1]) - (target[..., :, 1:] - target[..., :, :-1])
    dy = (predicted[..., 1:, :] - predicted[..., :-1, :]) - (target[..., 1:, :] - target[..., :-1, :])
    return dx.abs().mean() + dy.abs().mean()


def composition_l1(alpha: Tensor, fg: Tensor, background: Tensor, image: Tensor) -> Tensor:
    """L1 between the encoded re-composite alpha*F + (1 - alpha)*B (in linear) and the frame."""
    composite = alpha * decode_from_network(fg.clamp(max=MAX_ENCODED)) + (1.0 - alpha) * decode_from_network(background)
    return (encode_for_network(composite) - image).abs().mean()


def _masked_l1(predicted: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean L1 over the pixels where ``mask`` (B, 1, H, W) is 1; 0 when the mask is empty."""
    total = ((predicted - target).abs() * mask).sum()
    count = mask.sum() * predicted.shape[1]
    return total / count.clamp(min=1.0)

