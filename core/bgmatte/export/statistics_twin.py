"""TorchScript twins of the NumPy statistics the core's output step uses: np.median and round.

TorchScript versions with NumPy's exact definitions (the mean of the two middle values for an even
count; halves to even), so the exported graph thresholds the same pixels as the core.
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
