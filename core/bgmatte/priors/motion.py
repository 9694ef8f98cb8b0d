"""The paper's motion cue M: grey frames at t-2k, t-k, t+k, t+2k (four copies of t for a still)."""
from __future__ import annotations

import numpy as np

from bgmatte.color.encoding import luminance

MOTION_FRAMES = 4


def motion_grey(frame_enc: np.ndarray) -> np.ndarray:
    """The grey image of one neighbour frame, as the network sees it.

    The paper feeds the grey versions of its (display-encoded) neighbour frames; here the
    luminance weights are applied to the network-encoded frame in the same way.

    Args:
        frame_enc: (h, w, 3) float32 frame in the network encoding, at working size.

    Returns:
        (h, w) float32 encoded grey.
    """
    if frame_enc.ndim != 3 or frame_enc.shape[2] != 3:
        raise ValueError(f"expected an (h, w, 3) encoded frame, got shape {frame_enc.shape}")
    return luminance(frame_enc).astype(np.float32, copy=False)


def stack_motion_cues(greys: list[np.ndarray]) -> np.ndarray:
    """Stack the four neighbour greys (t-2k, t-k, t+k, t+2k, in that order) into the cue M.

    Args:
        greys: Four (h, w) float32 encoded greys from :func:`motion_grey`.

    Returns:
        (h, w, 4) float32 motion cue.
    """
    if len(greys) != MOTION_FRAMES:
        raise ValueError(f"the motion cue takes {MOTION_FRAMES} grey frames, got {len(greys)}")
    shapes = {grey.shape for grey in greys}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"motion greys must all be the same (h, w), got {sorted(shapes)}")
    return np.stack(greys, axis=-1).astype(np.float32, copy=False)
