"""The network's encoding: the ACEScct curve on ACEScg values, the one function every stage uses.

Data generation, training, inference and export all call `encode_for_network` /
`decode_from_network`, and `ocio/config.ocio` names the same curve `bgmatte_network`, so the network
always sees the same numbers for the same light. ACEScct (Academy S-2016-001) is log above
0.0078125, so highlights far above 1 are compressed rather than clipped (65504 encodes to ~1.468),
and its straight toe is extended below zero, so negative scene-linear values stay finite and ordered.

NumPy arrays go through the same torch kernels as tensors (zero-copy views), so both give the same
numbers. The kernels use basic ops only (clamp, log2, pow, mul, add) and compile with
`torch.jit.script`, because exported graphs must load in the older libtorch that Nuke ships.
"""
from __future__ import annotations

from typing import overload

import numpy as np
import torch

WORKING_COLORSPACE = "ACEScg"
"""Scene-linear working space of all maths (the bundled config's `scene_linear` role)."""

NETWORK_COLORSPACE = "bgmatte_network"
"""Name of the network's encoding in `ocio/config.ocio`."""


# ACEScct constants (S-2016-001) are written as literals inside the kernels: TorchScript cannot read
# module-level floats. Break points: linear 0.0078125 <-> encoded 0.155251141552511. The toe and the
# log curve are tangent there, so each side is evaluated on its own clamped input and the two are
# joined by subtracting the shared break value: no `where` and no log of values <= 0.
def _encode_tensor(x: torch.Tensor) -> torch.Tensor:
    toe = x.clamp(max=0.0078125) * 10.5402377416545 + 0.0729055341958355
    log_curve = (x.clamp(min=0.0078125).log2() + 9.72) / 17.52
    return toe + (log_curve - 0.155251141552511)


def _decode_tensor(y: torch.Tensor) -> torch.Tensor:
    toe = (y.clamp(max=0.155251141552511) - 0.0729055341958355) / 10.5402377416545
    exp_curve = 2.0 ** (y.clamp(min=0.155251141552511) * 17.52 - 9.72)
    return toe + (exp_curve - 0.0078125)


def _ap1_luminance(red: torch.Tensor, green: torch.Tensor, blue: torch.Tensor) -> torch.Tensor:
    # CIE Y of AP1 primaries: the middle row of the AP1 -> XYZ matrix (Academy S-2014-004).
    return 0.2722287168 * red + 0.6740817658 * green + 0.0536895174 * blue


@overload
def encode_for_network(x: np.ndarray) -> np.ndarray: ...


@overload
def encode_for_network(x: torch.Tensor) -> torch.Tensor: ...


def encode_for_network(x):  # typed by the overloads above; unannotated so TorchScript compiles it
    """Encode working-linear pixels for the network (ACEScct curve, no clipping).

    Args:
        x: scene-linear ACEScg of any shape (channels-last NumPy or NCHW torch), float16/32/64;
            negatives and values above 1 are valid.

    Returns:
        Encoded values: same type, shape, dtype (and device) as `x`, newly allocated. 0.18 encodes
        to ~0.414, 1.0 to ~0.555, 65504 to ~1.468; below 0.0078125 the straight ACEScct toe,
        continued through negative values.
    """
    if isinstance(x, torch.Tensor):
        return _encode_tensor(x)
    return _encode_tensor(torch.from_numpy(_as_float_array(x))).numpy()


@overload
def decode_from_network(y: np.ndarray) -> np.ndarray: ...


@overload
def decode_from_network(y: torch.Tensor) -> torch.Tensor: ...


def decode_from_network(y):  # typed by the overloads above; unannotated so TorchScript compiles it
    """Decode network values back to working linear: the inverse of `encode_for_network`.

    Args:
        y: encoded values of any shape, NumPy or torch float.

    Returns:
        Scene-linear ACEScg, same type, shape and dtype as `y`. Unlike the published ACEScct inverse
        this does not clamp at 65504: encoded values above ~1.468 decode beyond the half-float range.
    """
    if isinstance(y, torch.Tensor):
        return _decode_tensor(y)
    return _decode_tensor(torch.from_numpy(_as_float_array(y))).numpy()


@overload
def luminance(x: np.ndarray) -> np.ndarray: ...


@overload
def luminance(x: torch.Tensor) -> torch.Tensor: ...


def luminance(x):  # typed by the overloads above; unannotated so TorchScript compiles it
    """Luminance (CIE Y) of working-linear pixels with the AP1 weights.

    Args:
        x: scene-linear ACEScg: NumPy channels-last (..., 3), e.g. (H, W, 3), or torch NCHW (N, 3, H, W).

    Returns:
        NumPy (...), e.g. (H, W), same float dtype; torch (N, 1, H, W), keeping the channel axis so it
        concatenates with other NCHW maps.
    """
    if isinstance(x, torch.Tensor):
        return _ap1_luminance(x[:, 0:1], x[:, 1:2], x[:, 2:3])
    pixels = torch.from_numpy(_as_float_array(x))
    return _ap1_luminance(pixels[..., 0], pixels[..., 1], pixels[..., 2]).numpy()


def _as_float_array(x: np.ndarray) -> np.ndarray:
    """`x` as a float array that torch can view without copying (float32 unless already float)."""
    array = np.asarray(x)
    if not np.issubdtype(array.dtype, np.floating):
        return array.astype(np.float32)
    if not array.flags.writeable or (array.strides and min(array.strides) < 0):
        # torch.from_numpy refuses negative strides and warns on read-only memory.
        return array.copy()
    return array
