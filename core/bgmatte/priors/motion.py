"""The paper's motion cue M: grey frames at t-2k, t-k, t+k, t+2k (four copies of t for a still).

Each function takes channels-last NumPy arrays (the entry points for arrays) or NCHW tensors (what
the pipeline runs on the model's device) and returns the same kind.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from bgmatte.color.encoding import luminance

MOTION_FRAMES = 4


def motion_grey(frame_enc: np.ndarray | Tensor) -> np.ndarray | Tensor:
    """The grey image of one neighbour frame, as the network sees it.

    The paper feeds the grey versions of its (display-encoded) neighbour frames; here the
    luminance weights are applied to the network-encoded frame in the same way.

    Args:
        frame_enc: (h, w, 3) float32 array or (1, 3, h, w) tensor: a frame in the network encoding,
            at working size.

    Returns:
        (h, w) float32 array or (1, 1, h, w) tensor: encoded grey.
    """
    if isinstance(frame_enc, Tensor):
        if frame_enc.dim() != 4 or frame_enc.shape[1] != 3:
            raise ValueError(f"expected a (1, 3, h, w) encoded frame, got shape {tuple(frame_enc.shape)}")
        return luminance(frame_enc)
    if frame_enc.ndim != 3 or frame_enc.shape[2] != 3:
        raise ValueError(f"expected an (h, w, 3) encoded frame, got shape {frame_enc.shape}")
    return luminance(frame_enc).astype(np.float32, copy=False)


def stack_motion_cues(greys: list[np.ndarray] | list[Tensor]) -> np.ndarray | Tensor:
    """Stack the four neighbour greys (t-2k, t-k, t+k, t+2k, in that order) into the cue M.

    Args:
        greys: Four (h, w) float32 arrays or (1, 1, h, w) tensors from :func:`motion_grey`.

    Returns:
        (h, w, 4) float32 array or (1, 4, h, w) tensor: the motion cue.
    """
    if len(greys) != MOTION_FRAMES:
        raise ValueError(f"the motion cue takes {MOTION_FRAMES} grey frames, got {len(greys)}")
    shapes = {tuple(grey.shape) for grey in greys}
    tensors = isinstance(greys[0], Tensor)
    if len(shapes) != 1 or len(next(iter(shapes))) != (4 if tensors else 2):
        raise ValueError(f"motion greys must all be the same {'(1, 1, h, w)' if tensors else '(h, w)'}, "
                         f"got {sorted(shapes)}")
    if tensors:
        return torch.cat(list(greys), dim=1)
    return np.stack(greys, axis=-1).astype(np.float32, copy=False)
