"""TorchScript twins of the NumPy statistics the core's priors use: np.median, np.quantile, np.interp, round.

TorchScript versions with NumPy's exact definitions (the mean of the two middle values for an even
count; linear quantiles with NumPy's two-sided lerp; interp clamped to the end values), so the
exported graph thresholds the same pixels as the core. Sizes are dynamic: nothing is frozen.
"""
from __future__ import annotations

import torch
from torch import Tensor


def round_even(value: float) -> int:
    """Twin of Python's ``round(value)`` (and OpenCV's cvRound): nearest integer, halves to even."""
    return int(torch.round(torch.tensor(value, dtype=torch.float64)))


def median_rows(values: Tensor) -> Tensor:
    """Twin of ``np.median(values, axis=0)``: (N, C) -> (C,), same dtype; N >= 1."""
    count = values.shape[0]
    lower = torch.kthvalue(values, (count - 1) // 2 + 1, dim=0)[0]
    upper = torch.kthvalue(values, count // 2 + 1, dim=0)[0]
    return (lower + upper) * 0.5


def median_all(values: Tensor) -> Tensor:
    """Twin of ``np.median(values)`` over every element: any shape -> 0-d tensor."""
    return median_rows(values.reshape(-1, 1))[0]


def quantiles(values: Tensor, count: int) -> Tensor:
    """Twin of ``np.quantile(values, np.linspace(0, 1, count))`` (method "linear").

    Args:
        values: any shape, float; all elements are used.
        count: number of evenly spaced quantiles from 0 to 1 (>= 2).

    Returns:
        (count,) float64 tensor, NumPy's lerp: ``a + (b - a) t`` below t = 0.5, ``b - (b - a)(1 - t)`` from it.
    """
    ordered = torch.sort(values.reshape(-1).double())[0]
    last = ordered.shape[0] - 1
    position = torch.linspace(0.0, 1.0, count, dtype=torch.float64, device=values.device) * last
    below = position.floor().long().clamp(0, last)
    above = (below + 1).clamp(max=last)
    t = position - below.double()
    low = ordered[below]
    high = ordered[above]
    diff = high - low
    return torch.where(t >= 0.5, high - diff * (1.0 - t), low + diff * t)


def interp(x: Tensor, xp: list[float], fp: list[float]) -> Tensor:
    """Twin of ``np.interp(x, xp, fp)``: piecewise linear, clamped to fp[0] / fp[-1] outside xp.

    Args:
        x: any shape; evaluated in float64.
        xp: increasing sample positions (at least one).
        fp: values at ``xp``.

    Returns:
        float64 tensor shaped like ``x``.
    """
    x = x.double()
    result = torch.full_like(x, fp[0])
    for index in range(len(xp) - 1):
        x0, x1, y0, y1 = xp[index], xp[index + 1], fp[index], fp[index + 1]
        slope = (y1 - y0) / (x1 - x0)
        result = torch.where((x >= x0) & (x < x1), slope * (x - x0) + y0, result)
    return torch.where(x >= xp[len(xp) - 1], torch.full_like(x, fp[len(fp) - 1]), result)
