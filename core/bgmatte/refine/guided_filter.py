"""Fast guided filter (He & Sun 2015): coefficients at low resolution, applied at full resolution.

The guide is grey (1 channel) or colour (3 channels, the colour guided filter of He et al. 2013,
which follows hair against a background of a different hue rather than of a different
brightness). Every source channel gets its own linear model ``q = a . I + b`` per window; the
box-averaged coefficients are upsampled bilinearly and applied to the full-resolution guide.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from bgmatte.refine.sampling import upsample_bilinear_region

GUIDE_CHANNELS = (1, 3)


def box_mean(x: Tensor, radius: int) -> Tensor:
    """Mean over (2r+1)^2 windows, windows cut at the border (not zero padded). (B, C, h, w) -> same."""
    return F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)


def _solve_symmetric(sigma: Tensor, rhs: Tensor) -> Tensor:
    """Solve sigma @ a = rhs per pixel for a symmetric 1x1 or 3x3 sigma, in closed form.

    Args:
        sigma: (B, G, G, h, w), G in (1, 3), positive definite.
        rhs: (B, S, G, h, w), one right-hand side per source channel.

    Returns:
        (B, S, G, h, w).
    """
    if sigma.shape[1] == 1:
        return rhs / sigma[:, None, 0, 0]
    s00, s01, s02 = sigma[:, 0, 0], sigma[:, 0, 1], sigma[:, 0, 2]
    s11, s12, s22 = sigma[:, 1, 1], sigma[:, 1, 2], sigma[:, 2, 2]
    c00 = s11 * s22 - s12 * s12
    c01 = s02 * s12 - s01 * s22
    c02 = s01 * s12 - s02 * s11
    c11 = s00 * s22 - s02 * s02
    c12 = s01 * s02 - s00 * s12
    c22 = s00 * s11 - s01 * s01
    inv_det = 1.0 / (s00 * c00 + s01 * c01 + s02 * c02)
    r0, r1, r2 = rhs[:, :, 0], rhs[:, :, 1], rhs[:, :, 2]
    c00, c01, c02, c11, c12, c22, inv_det = (c[:, None] for c in (c00, c01, c02, c11, c12, c22, inv_det))
    return torch.stack([
        (c00 * r0 + c01 * r1 + c02 * r2) * inv_det,
        (c01 * r0 + c11 * r1 + c12 * r2) * inv_det,
        (c02 * r0 + c12 * r1 + c22 * r2) * inv_det,
    ], dim=2)


def _check_layout(name: str, x: Tensor) -> None:
    """Raise ValueError unless x is a (B, C, H, W) tensor."""
    if not isinstance(x, Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name}: expected a (B, C, H, W) tensor, got {shape}")


def check_guided_filter_inputs(guide_low: Tensor, src_low: Tensor, guide_full: Tensor | None = None) -> None:
    """Raise ValueError, naming the (B, C, H, W) layout, when the filter's inputs do not fit together."""
    _check_layout("guide_low", guide_low)
    _check_layout("src_low", src_low)
    batch, channels, height, width = guide_low.shape
    if channels not in GUIDE_CHANNELS:
        raise ValueError(f"guide_low: expected (B, C, H, W) with C = 1 (grey) or 3 (colour), "
                         f"got {tuple(guide_low.shape)}")
    if src_low.shape[0] != batch or src_low.shape[2:] != guide_low.shape[2:]:
        raise ValueError(f"src_low: expected (B, C, H, W) = ({batch}, *, {height}, {width}) like guide_low, "
                         f"got {tuple(src_low.shape)}")
    if guide_full is not None:
        _check_layout("guide_full", guide_full)
        if guide_full.shape[:2] != guide_low.shape[:2] or guide_full.shape[2] < height or guide_full.shape[3] < width:
            raise ValueError(f"guide_full: expected (B, C, H, W) = ({batch}, {channels}, >={height}, >={width}) "
                             f"like guide_low at full resolution, got {tuple(guide_full.shape)}")


def guided_filter_coefficients(guide_low: Tensor, src_low: Tensor, radius: int, eps: float) -> tuple[Tensor, Tensor]:
    """Box-averaged linear coefficients of the guided filter at low resolution.

    Args:
        guide_low: (B, G, h, w) guide, G = 1 or 3.
        src_low: (B, S, h, w) the image to filter (e.g. alpha).
        radius: window radius in low-resolution pixels (>= 1).
        eps: regulariser (> 0), in squared guide units: larger = smoother.

    Returns:
        a: (B, S, G, h, w) and b: (B, S, h, w), so that q = sum_g a[:, :, g] * guide[:, g] + b.
    """
    check_guided_filter_inputs(guide_low, src_low)
    if radius < 1 or eps <= 0:
        raise ValueError(f"radius must be >= 1 and eps > 0, got radius={radius}, eps={eps}")
    batch, guides, height, width = guide_low.shape
    sources = src_low.shape[1]
    mean_guide = box_mean(guide_low, radius)
    mean_src = box_mean(src_low, radius)
    cross = box_mean((src_low[:, :, None] * guide_low[:, None]).flatten(1, 2), radius)
    cross = cross.unflatten(1, (sources, guides)) - mean_src[:, :, None] * mean_guide[:, None]
    second = box_mean((guide_low[:, :, None] * guide_low[:, None]).flatten(1, 2), radius)
    eye = torch.eye(guides, dtype=guide_low.dtype, device=guide_low.device)[None, :, :, None, None]
    sigma = second.unflatten(1, (guides, guides)) - mean_guide[:, :, None] * mean_guide[:, None] + eps * eye
    a = _solve_symmetric(sigma, cross)
    b = mean_src - (a * mean_guide[:, None]).sum(dim=2)
    mean_a = box_mean(a.flatten(1, 2), radius).unflatten(1, (sources, guides))
    return mean_a, box_mean(b, radius)


def apply_coefficients(a: Tensor, b: Tensor, guide: Tensor) -> Tensor:
    """q = a . guide + b per pixel. a: (B, S, G, H, W), b: (B, S, H, W), guide: (B, G, H, W) -> (B, S, H, W)."""
    q = b
    for channel in range(guide.shape[1]):
        q = q + a[:, :, channel] * guide[:, channel, None]
    return q


def fast_guided_filter(guide_low: Tensor, src_low: Tensor, guide_full: Tensor, radius: int, eps: float) -> Tensor:
    """Filter ``src_low`` edge-aware and upsample it to the guide's full resolution.

    Args:
        guide_low: (B, G, h, w) guide at low resolution, G = 1 or 3.
        src_low: (B, S, h, w) image to filter at low resolution.
        guide_full: (B, G, H, W) the same guide at full resolution (H >= h, W >= w).
        radius: window radius in low-resolution pixels.
        eps: regulariser in squared guide units.

    Returns:
        (B, S, H, W), dtype and device of the inputs; differentiable.

    Raises:
        ValueError: If the shapes do not fit the (B, C, H, W) layouts above.
    """
    check_guided_filter_inputs(guide_low, src_low, guide_full)
    a, b = guided_filter_coefficients(guide_low, src_low, radius, eps)
    size = (guide_full.shape[2], guide_full.shape[3])
    sources, guides = a.shape[1], a.shape[2]
    a_full = upsample_bilinear_region(a.flatten(1, 2), size, 0, 0, *size).unflatten(1, (sources, guides))
    b_full = upsample_bilinear_region(b, size, 0, 0, *size)
    return apply_coefficients(a_full, b_full, guide_full)


class FastGuidedFilter(nn.Module):
    """`fast_guided_filter` with a fixed radius and eps, as a module (no learned parameters)."""

    def __init__(self, radius: int, eps: float) -> None:
        super().__init__()
        self.radius = radius
        self.eps = eps

    def forward(self, guide_low: Tensor, src_low: Tensor, guide_full: Tensor) -> Tensor:
        """(B, G, h, w), (B, S, h, w), (B, G, H, W) -> (B, S, H, W); see `fast_guided_filter`."""
        return fast_guided_filter(guide_low, src_low, guide_full, self.radius, self.eps)
