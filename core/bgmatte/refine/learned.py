"""Run the learned refiner (`bgmatte.model.refiner`) on the full-resolution patches where alpha is fractional.

Patches are PATCH x PATCH tiles of the frame's grid that hold a pixel strictly between
PATCH_LOW and PATCH_HIGH after the analytic refinement; each is read with HALO pixels of context
(coordinates clamped at the frame edge, i.e. replicate padding), refined, and written back. Only
those patches are read and computed, so the cost follows the length of the matte's edge, not the
frame size. Training (`bgmatte.train.refiner`) reads its patches with the same `gather_patches`.
"""
from __future__ import annotations

import logging

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from bgmatte.filters import upsample_bilinear
from bgmatte.model.refiner import HALO, PATCH, PatchRefiner
from bgmatte.refine.sampling import sample_bilinear_points

log = logging.getLogger(__name__)

PATCH_LOW = 0.002  # a patch is refined when one of its pixels lies strictly between these
PATCH_HIGH = 0.998
PATCHES_AT_ONCE = 512  # bounds the temporaries to a few MB per chunk
# The refiner restores what downsampling to the working size lost; it is trained at 2.5-4.5x and
# not run below 2x, where the working image already holds the detail.
MIN_RATIO = 2.0


def refiner_applies(height: int, width: int, low_height: int, low_width: int, min_ratio: float = MIN_RATIO) -> bool:
    """Whether the learned refiner runs: the frame is at least ``min_ratio`` x the working size."""
    return max(height / low_height, width / low_width) >= min_ratio


def select_patches(alpha: np.ndarray) -> np.ndarray:
    """(N, 2) int64 (top, left) corners of the PATCH x PATCH tiles holding a fractional alpha pixel."""
    height, width = alpha.shape
    rows, cols = -(-height // PATCH), -(-width // PATCH)
    fractional = np.zeros((rows * PATCH, cols * PATCH), bool)
    fractional[:height, :width] = (alpha > PATCH_LOW) & (alpha < PATCH_HIGH)
    hit = fractional.reshape(rows, PATCH, cols, PATCH).any(axis=(1, 3))
    return np.argwhere(hit).astype(np.int64) * PATCH


def _window(corners: np.ndarray, limit: int) -> np.ndarray:
    """(N, PATCH + 2*HALO) pixel indices of each patch with its halo along one axis, clamped to the frame."""
    offsets = np.arange(-HALO, PATCH + HALO)
    return np.clip(corners[:, None] + offsets[None, :], 0, limit - 1)


def gather_patches(corners: np.ndarray, frame: np.ndarray, plate: np.ndarray, alpha: np.ndarray,
                   alpha_low: np.ndarray, fg_low: np.ndarray) -> Tensor:
    """The refiner's raw inputs (N, 11, p, p), p = PATCH + 2*HALO, float32, at the given patches.

    Args:
        corners: (N, 2) patch corners from `select_patches`.
        frame, plate: (H, W, 3) exposure-normalised working linear frame and gain-matched plate.
        alpha: (H, W) full-resolution alpha of the analytic refinement.
        alpha_low, fg_low: (h, w) network alpha and (h, w, 3) linear straight foreground at the
            working size, upsampled bilinearly at the patch pixels.
    """
    height, width = alpha.shape
    rows = _window(corners[:, 0], height)[:, :, None]
    cols = _window(corners[:, 1], width)[:, None, :]
    side = PATCH + 2 * HALO
    count = len(corners)
    full = np.concatenate([frame[rows, cols], plate[rows, cols], alpha[rows, cols][..., None]], axis=-1)
    low = torch.from_numpy(np.ascontiguousarray(
        np.concatenate([alpha_low[..., None], fg_low], axis=-1).transpose(2, 0, 1), np.float32))[None]
    ys = torch.from_numpy(np.broadcast_to(rows, (count, side, side)).flatten())
    xs = torch.from_numpy(np.broadcast_to(cols, (count, side, side)).flatten())
    upsampled = sample_bilinear_points(low, (height, width), ys, xs)[0].reshape(4, count, side, side)
    return torch.cat([torch.from_numpy(np.ascontiguousarray(full, np.float32)).permute(0, 3, 1, 2),
                      upsampled.permute(1, 0, 2, 3)], dim=1)


def scatter_patches(alpha: np.ndarray, corners: np.ndarray, values: np.ndarray) -> None:
    """Write (N, PATCH, PATCH) values into alpha at the patches, in place (cut at the frame edge)."""
    height, width = alpha.shape
    for (top, left), patch in zip(corners, values):
        bottom, right = min(top + PATCH, height), min(left + PATCH, width)
        alpha[top:bottom, left:right] = patch[:bottom - top, :right - left]


@torch.no_grad()
def refine_patches(refiner: PatchRefiner, alpha: np.ndarray, frame: np.ndarray, plate: np.ndarray,
                   alpha_low: np.ndarray, fg_low: np.ndarray) -> np.ndarray:
    """The analytic full-resolution alpha with its fractional patches replaced by the refiner's, in place
    (unchanged when the frame is less than MIN_RATIO x the working size).

    Args:
        refiner: the model's refiner (its parameters set the device and dtype it runs in).
        alpha: (H, W) float32 analytic alpha (`refine_alpha`), modified and returned.
        frame, plate, alpha_low, fg_low: as `gather_patches`.
    """
    if not refiner_applies(*alpha.shape, *alpha_low.shape):
        return alpha
    corners = select_patches(alpha)
    param = next(refiner.parameters())
    refined = []  # written back at the end: every halo must read the analytic alpha, not a refined one
    for start in range(0, len(corners), PATCHES_AT_ONCE):
        raw = gather_patches(corners[start:start + PATCHES_AT_ONCE], frame, plate, alpha, alpha_low, fg_low)
        refined.append(refiner(raw.to(device=param.device, dtype=param.dtype))[:, 0].float().cpu().numpy())
    if refined:
        scatter_patches(alpha, corners, np.concatenate(refined))
    log.debug("learned refiner on %d patches", len(corners))
    return alpha


class DenseRefiner(nn.Module):
    """`refine_patches` on whole-frame tensors, for the exported graph: the refiner runs on every pixel
    and is kept on the same patches, so the result equals the core's patch by patch.

    Args:
        refiner: the model's refiner.
    """

    def __init__(self, refiner: PatchRefiner) -> None:
        super().__init__()
        self.refiner = refiner
        self.patch_low = PATCH_LOW
        self.patch_high = PATCH_HIGH
        self.patch = PATCH
        self.halo = HALO
        self.min_ratio = MIN_RATIO

    def forward(self, alpha: Tensor, frame: Tensor, plate: Tensor, alpha_low: Tensor, fg_low: Tensor,
                dtype: torch.dtype) -> Tensor:
        """Refine the fractional patches of a whole frame.

        Args:
            alpha: (1, 1, H, W) analytic alpha; frame, plate: (1, 3, H, W) exposure-normalised working linear.
            alpha_low, fg_low: (1, 1, h, w) network alpha and (1, 3, h, w) linear foreground.
            dtype: the refiner's parameter dtype (the graph's network dtype).

        Returns:
            (1, 1, H, W) alpha in alpha's dtype.
        """
        height, width = alpha.shape[2], alpha.shape[3]
        if not refiner_applies(height, width, alpha_low.shape[2], alpha_low.shape[3], self.min_ratio):
            return alpha
        upsampled = upsample_bilinear(torch.cat([alpha_low, fg_low], dim=1), [height, width])
        halo = self.halo
        raw = F.pad(torch.cat([frame, plate, alpha, upsampled], dim=1), [halo, halo, halo, halo], mode="replicate")
        refined = self.refiner(raw.to(dtype)).to(alpha.dtype)
        fractional = ((alpha > self.patch_low) & (alpha < self.patch_high)).to(alpha.dtype)
        patch = self.patch
        hit = F.max_pool2d(F.pad(fractional, [0, (-width) % patch, 0, (-height) % patch]), patch, patch)
        keep = hit.repeat_interleave(patch, dim=2).repeat_interleave(patch, dim=3)[:, :, :height, :width]
        return torch.where(keep > 0, refined, alpha)
