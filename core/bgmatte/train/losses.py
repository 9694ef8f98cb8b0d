"""Stage-1 losses (Sengupta et al. 2020, Sec. 3.1): alpha L1, alpha gradient, compositional, foreground.

All terms are L1 means, so each is 0 for a perfect prediction. Images are compared in the network
encoding (log-like, so a highlight error does not swamp the shadows); the re-composition itself is
done in linear light, where the compositing equation holds.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from bgmatte.color.encoding import decode_from_network, encode_for_network

FG_ALPHA_THRESHOLD = 1e-3
"""Pixels with true alpha above this have a defined foreground colour (same as the data)."""
MAX_ENCODED = 1.47
"""Predicted foreground is clamped here (~65504 linear) before decoding, so early, wild outputs
cannot overflow the re-composite."""


@dataclass(frozen=True)
class LossWeights:
    """Weights of the stage-1 terms; the paper's 1 : 2 for alpha and its gradient, the rest 1."""

    alpha: float = 1.0
    alpha_gradient: float = 2.0
    composition: float = 1.0
    foreground: float = 1.0


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
        Scalar tensors ``alpha``, ``alpha_gradient``, ``composition``, ``foreground`` and ``total``.
    """
    weights = weights or LossWeights()
    true_alpha = batch["alpha"]
    terms = {
        "alpha": (alpha - true_alpha).abs().mean(),
        "alpha_gradient": _gradient_l1(alpha, true_alpha),
        "composition": composition_l1(alpha, fg, batch["background"], batch["image_clean"]),
        "foreground": _masked_l1(fg, batch["fg"], (true_alpha > FG_ALPHA_THRESHOLD).to(fg.dtype)),
    }
    terms["total"] = (weights.alpha * terms["alpha"] + weights.alpha_gradient * terms["alpha_gradient"]
                      + weights.composition * terms["composition"] + weights.foreground * terms["foreground"])
    return terms


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

