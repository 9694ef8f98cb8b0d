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
from bgmatte.priors.resample import as_nchw
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


def patch_corners(alpha: Tensor) -> Tensor:
    """(N, 2) int64 (top, left) corners of the PATCH x PATCH tiles of a (1, 1, H, W) alpha holding a
    fractional pixel, on its device (row-major order)."""
    height, width = alpha.shape[2], alpha.shape[3]
    fractional = ((alpha > PATCH_LOW) & (alpha < PATCH_HIGH)).float()
    padded = torch.constant_pad_nd(fractional, [0, (-width) % PATCH, 0, (-height) % PATCH], 0.0)
    hit = F.max_pool2d(padded, PATCH, PATCH)[0, 0] > 0
    return torch.nonzero(hit) * PATCH


def select_patches(alpha: np.ndarray) -> np.ndarray:
    """(N, 2) int64 (top, left) corners of the PATCH x PATCH tiles holding a fractional alpha pixel."""
    return patch_corners(as_nchw(alpha)).numpy()


def _window(corners: Tensor, limit: int) -> Tensor:
    """(N, PATCH + 2*HALO) pixel indices of each patch with its halo along one axis, clamped to the frame."""
    offsets = torch.arange(-HALO, PATCH + HALO, device=corners.device)
    return (corners[:, None] + offsets[None, :]).clamp(0, limit - 1)


def patch_inputs(corners: Tensor, frame: Tensor, plate: Tensor, alpha: Tensor, alpha_low: Tensor,
                 fg_low: Tensor) -> Tensor:
    """The refiner's raw inputs (N, 11, p, p), p = PATCH + 2*HALO, float32, at the given patches, on the
    inputs' device.

    Args:
        corners: (N, 2) int64 patch corners from `patch_corners`.
        frame, plate: (1, 3, H, W) exposure-normalised working linear frame and gain-matched plate.
        alpha: (1, 1, H, W) full-resolution alpha of the analytic refinement.
        alpha_low, fg_low: (1, 1, h, w) network alpha and (1, 3, h, w) linear straight foreground at
            the working size, upsampled bilinearly at the patch pixels.
    """
    height, width = alpha.shape[2], alpha.shape[3]
    side = PATCH + 2 * HALO
    count = corners.shape[0]
    rows = _window(corners[:, 0], height)[:, :, None].expand(count, side, side)
    cols = _window(corners[:, 1], width)[:, None, :].expand(count, side, side)
    full = torch.cat([frame, plate, alpha], dim=1)[0][:, rows, cols]  # (7, N, p, p)
    low = torch.cat([alpha_low, fg_low], dim=1).float()
    upsampled = sample_bilinear_points(low, (height, width), rows.reshape(-1), cols.reshape(-1))[0]
    return torch.cat([full.float(), upsampled.reshape(4, count, side, side)], dim=0).permute(1, 0, 2, 3).contiguous()


def gather_patches(corners: np.ndarray, frame: np.ndarray, plate: np.ndarray, alpha: np.ndarray,
                   alpha_low: np.ndarray, fg_low: np.ndarray) -> Tensor:
    """``patch_inputs`` of arrays: (N, 2) corners, (H, W, 3) frame and plate, (H, W) alpha, (h, w)
    alpha_low and (h, w, 3) fg_low -> (N, 11, p, p) float32 on the CPU."""
    return patch_inputs(torch.from_numpy(np.asarray(corners, np.int64).reshape(-1, 2)), as_nchw(frame),
                        as_nchw(plate), as_nchw(alpha), as_nchw(alpha_low), as_nchw(fg_low))


def scatter_patches(alpha: Tensor, corners: Tensor, values: Tensor) -> None:
    """Write (N, PATCH, PATCH) values into a (1, 1, H, W) alpha at the patches, in place (cut at the frame edge)."""
    height, width = alpha.shape[2], alpha.shape[3]
    padded = torch.constant_pad_nd(alpha, [0, (-width) % PATCH, 0, (-height) % PATCH], 0.0)
    grid = padded[0, 0].view(padded.shape[2] // PATCH, PATCH, padded.shape[3] // PATCH, PATCH)
    grid[corners[:, 0] // PATCH, :, corners[:, 1] // PATCH] = values.to(alpha.dtype)
    alpha[0, 0] = padded[0, 0, :height, :width]


@torch.no_grad()
def refine_patches(refiner: PatchRefiner, alpha: np.ndarray, frame: np.ndarray, plate: np.ndarray,
                   alpha_low: np.ndarray, fg_low: np.ndarray) -> np.ndarray:
    """``refine_patch_tensors`` of arrays (as `gather_patches`), in place: returns ``alpha``."""
    refine_patch_tensors(refiner, torch.from_numpy(alpha)[None, None], as_nchw(frame), as_nchw(plate),
                         as_nchw(alpha_low), as_nchw(fg_low))
    return alpha


@torch.no_grad()
def refine_patch_tensors(refiner: PatchRefiner, alpha: Tensor, frame: Tensor, plate: Tensor, alpha_low: Tensor,
                         fg_low: Tensor) -> Tensor:
    """The analytic full-resolution alpha with its fractional patches replaced by the refiner's, in place
    (unchanged when the frame is less than MIN_RATIO x the working size), on the inputs' device.

    Args:
        refiner: the model's refiner (its parameters set the dtype it runs in; fp16 on CUDA).
        alpha: (1, 1, H, W) float32 analytic alpha (`refine_band`), modified and returned.
        frame, plate, alpha_low, fg_low: as `patch_inputs`.
    """
    if not refiner_applies(alpha.shape[2], alpha.shape[3], alpha_low.shape[2], alpha_low.shape[3]):
        return alpha
    corners = patch_corners(alpha)
    param = next(refiner.parameters())
    refined = []  # written back at the end: every halo must read the analytic alpha, not a refined one
    for start in range(0, corners.shape[0], PATCHES_AT_ONCE):
        raw = patch_inputs(corners[start:start + PATCHES_AT_ONCE], frame, plate, alpha, alpha_low, fg_low)
        refined.append(refiner(raw.to(device=param.device, dtype=param.dtype))[:, 0].float().to(alpha.device))
    if refined:
        scatter_patches(alpha, corners, torch.cat(refined))
    log.debug("learned refiner on %d patches", corners.shape[0])
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
