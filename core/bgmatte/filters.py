"""Torch filters and statistics with OpenCV's and NumPy's exact definitions, for the core and the export.

TorchScript-compatible, so one function serves a core stage and the exported graph alike:

- ``gaussian_blur``: ``cv2.GaussianBlur(x, (0, 0), sigma)`` on float32: kernel size
  ``round(8 sigma + 1) | 1``, the sampled Gaussian normalised to 1, BORDER_REFLECT_101; short
  kernels as sums of shifted slices (torch's CPU depthwise convolution is slow for them), equal
  to the convolution within float rounding.
- ``dilate_disc`` / ``erode_disc``: ``cv2.dilate`` / ``cv2.erode`` with
  ``cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2r + 1, 2r + 1))``; pixels outside the image
  never win (OpenCV's default border for morphology).
- ``dilate_square``: ``cv2.dilate`` with a (2r + 1)^2 square of ones.
- ``round_even``: Python's ``round``; ``median_rows``: ``np.median(axis=0)``; ``quantile``:
  ``torch.quantile`` of a 1-D tensor (linear interpolation) by selection instead of a sort.

The ellipse is applied as the running horizontal maxima its rows need (each from the last by two
shifts), shifted vertically: about 3r elementwise maxima instead of a (2r + 1)^2 window, with sizes
computed at run time. Padding uses
``constant_pad_nd`` rather than ``F.pad``, which recent torch scripts to ``aten::pad``, an op that
older libtorch releases (as Nuke ships) do not have.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F


# gaussian_blur: kernels up to this many taps (sigma <= 3) run as shifted sums, measured 1.3-2.7x
# faster than torch's depthwise convolution on the CPU (1536x864x3, sigma 1-3); longer ones lose.
SHIFTED_TAPS = 25


def upsample_bilinear(x: Tensor, size: list[int]) -> Tensor:
    """``F.interpolate(x, size, mode="bilinear", align_corners=False)`` as the one op it runs.

    A scripted ``F.interpolate`` carries every mode, and older libtorch builds (the ones Nuke's
    Inference node ships) lack ops of the newer modes, so the exported graph would not load.
    """
    return torch._C._nn.upsample_bilinear2d(x, size, False, None, None)


def round_even(value: float) -> int:
    """Python's ``round(value)`` (and OpenCV's cvRound): nearest integer, halves to even."""
    return int(torch.round(torch.tensor(value, dtype=torch.float64)))


def median_rows(values: Tensor) -> Tensor:
    """``np.median(values, axis=0)`` (the mean of the two middle values): (N, C) -> (C,); N >= 1."""
    count = values.shape[0]
    lower = torch.kthvalue(values, (count - 1) // 2 + 1, dim=0)[0]
    upper = torch.kthvalue(values, count // 2 + 1, dim=0)[0]
    return (lower + upper) * 0.5


def quantile(values: Tensor, q: float) -> Tensor:
    """``torch.quantile(values, q)`` of a 1-D tensor, by one ``kthvalue`` selection instead of a sort.

    The same interpolation as torch's (its ``lerp`` of the ranks around ``q * (N - 1)``), equal to
    an ulp or two of the values' dtype (torch rounds q and the rank in that dtype). The rank above
    is the one selected again where it repeats, else the least value above it. O(N) where torch
    sorts all N values. N >= 1, values finite.
    """
    position = q * float(values.numel() - 1)
    below = int(math.floor(position))
    lower = torch.kthvalue(values, below + 1)[0]
    weight = position - float(below)
    if weight == 0.0:
        return lower
    if int((values <= lower).sum()) >= below + 2:
        return lower
    upper = -torch.amax(torch.where(values > lower, -values, torch.full_like(values, -math.inf)))
    if weight < 0.5:
        return lower + weight * (upper - lower)
    return upper - (upper - lower) * (1.0 - weight)


def reflect101_index(length: int, pad: int, device: torch.device) -> Tensor:
    """Indices of an axis of ``length`` padded by ``pad`` on both sides, mirrored without the edge."""
    index = torch.arange(-pad, length + pad, device=device)
    if length == 1:
        return torch.zeros_like(index)
    period = 2 * (length - 1)
    index = torch.remainder(index, period)
    return torch.where(index >= length, period - index, index)


def gaussian_kernel(sigma: float, device: torch.device) -> Tensor:
    """OpenCV's 1-D Gaussian for float images: (k,) float32, k = round(8 sigma + 1) | 1, sum 1."""
    size = round_even(sigma * 8.0 + 1.0) | 1
    offsets = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) * 0.5
    kernel = torch.exp(-(offsets * offsets) / (2.0 * sigma * sigma))
    return (kernel / kernel.sum()).float()


def gaussian_blur(x: Tensor, sigma: float, shifted_taps: int = SHIFTED_TAPS) -> Tensor:
    """Twin of ``cv2.GaussianBlur(x, (0, 0), sigma)``: (B, C, H, W) -> same, separable, reflect-101.

    Kernels of at most ``shifted_taps`` taps run as weighted sums of shifted slices (module
    docstring); longer ones as depthwise convolutions.
    """
    kernel = gaussian_kernel(sigma, x.device).to(x.dtype)
    taps = kernel.shape[0]
    pad = (taps - 1) // 2
    channels = x.shape[1]
    height, width = x.shape[2], x.shape[3]
    rows = x.index_select(2, reflect101_index(height, pad, x.device))
    if taps <= shifted_taps:
        summed = _shifted_sum(rows, kernel, 2, height)
        return _shifted_sum(summed.index_select(3, reflect101_index(width, pad, x.device)), kernel, 3, width)
    rows = F.conv2d(rows, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)
    cols = rows.index_select(3, reflect101_index(width, pad, x.device))
    return F.conv2d(cols, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)


def _shifted_sum(padded: Tensor, kernel: Tensor, dim: int, length: int) -> Tensor:
    """The 1-D correlation of (B, C, H, W) ``padded`` with ``kernel`` along ``dim`` (2 or 3), ``length``
    outputs, as a sum of slices (plain slicing: ``narrow`` is missing from older libtorch builds)."""
    summed = torch.zeros_like(padded[:, :, 0:length] if dim == 2 else padded[:, :, :, 0:length])
    for tap in range(kernel.shape[0]):
        window = padded[:, :, tap:tap + length] if dim == 2 else padded[:, :, :, tap:tap + length]
        summed = summed + window * kernel[tap]
    return summed


def disc_half_widths(radius: int) -> list[int]:
    """Half-width of each row of OpenCV's MORPH_ELLIPSE element of size 2r + 1 (rows -r..r)."""
    if radius == 0:
        return [0]
    widths: list[int] = []
    for dy in range(-radius, radius + 1):
        half = radius * math.sqrt(float(radius * radius - dy * dy) / float(radius * radius))
        widths.append(round_even(half))
    return widths


def dilate_disc(x: Tensor, radius: int) -> Tensor:
    """Twin of ``cv2.dilate(x, ellipse of 2r + 1)``: (B, C, H, W) -> same; the border never wins."""
    if radius <= 0:
        return x.clone()
    height, width = x.shape[2], x.shape[3]
    halves = disc_half_widths(radius)
    widest = radius  # the middle row's
    lowest = -math.inf
    padded = torch.constant_pad_nd(x, [widest, widest, radius, radius], lowest)
    # Row maxima over +-h columns for every h the element needs, each from the last with two shifts.
    current = padded[:, :, :, widest:widest + width]
    row_maxima = [current]
    for half in range(1, widest + 1):
        current = torch.max(current, torch.max(padded[:, :, :, widest - half:widest - half + width],
                                               padded[:, :, :, widest + half:widest + half + width]))
        row_maxima.append(current)
    result = torch.full_like(x, lowest)
    for row, half in enumerate(halves):
        result = torch.max(result, row_maxima[half][:, :, row:row + height])
    return result


def erode_disc(x: Tensor, radius: int) -> Tensor:
    """Twin of ``cv2.erode(x, ellipse of 2r + 1)``: (B, C, H, W) -> same; the border never wins."""
    return -dilate_disc(-x, radius)


def dilate_square(x: Tensor, radius: int) -> Tensor:
    """Twin of ``cv2.dilate(x, np.ones((2r + 1, 2r + 1)))``: (B, C, H, W) -> same."""
    size = 2 * radius + 1
    return F.max_pool2d(x, [size, size], [1, 1], [radius, radius])
