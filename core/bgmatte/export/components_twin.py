"""TorchScript twin of the connected-component clean-up in bgmatte.priors.segmentation.

``remove_specks`` twins ``_remove_specks`` (8-connected subject regions smaller than an area are
dropped) and ``fill_holes`` twins ``_fill_holes`` (4-connected background regions that touch no
border and are no larger than an area become subject). OpenCV's ``connectedComponentsWithStats``
is replaced by label propagation: every pixel starts with its own index and takes the largest
label along its row and column runs (and its diagonal neighbours), then the label of the pixel its
label names, until nothing changes, so each region ends with one label. The loop runs until convergence at run time, so nothing here is
frozen at export.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F


def _run_max(labels: Tensor, inside: Tensor) -> Tensor:
    """Largest label of each horizontal run of the mask, for every pixel of the run. (h, w) float64.

    Runs are told apart by adding run number x big to the labels, so one cumulative max per
    direction never crosses from one run into the next.
    """
    big = float(labels.numel() + 1)
    left = torch.cat([torch.zeros_like(inside[:, :1]), inside[:, :-1]], dim=1)
    starts = inside * (1.0 - left)
    run = torch.cumsum(starts, dim=1) * big
    outside = torch.full_like(labels, -math.inf)
    forward = torch.cummax(torch.where(inside > 0, labels + run, outside), dim=1)[0] - run
    backward = torch.cummax(torch.where(inside > 0, labels - run, outside).flip([1]), dim=1)[0].flip([1]) + run
    return torch.where(inside > 0, torch.max(forward, backward), torch.zeros_like(labels))


def _jump(labels: Tensor, inside: Tensor) -> Tensor:
    """Take the label that the pixel named by each label holds (pointer jumping).

    A label is the flat index + 1 of a pixel of the same region, and labels only grow, so that
    pixel's label is at least as large and still of the region: long thin regions converge in a
    few rounds instead of one round per bend.
    """
    flat = labels.reshape(-1)
    pointed = flat[(flat.long() - 1).clamp(min=0)].view(labels.shape)
    return torch.where(inside > 0, torch.max(labels, pointed), labels)


def component_labels(mask: Tensor, diagonal: bool) -> Tensor:
    """Label the connected regions of a mask: (h, w) bool -> (h, w) int64, 0 outside the mask.

    Every region's label is the largest flat index + 1 among its pixels (unique per region).
    Each round spreads labels along whole rows and columns of the mask (and, for 8-connectivity,
    to diagonal neighbours), then jumps every label to the label of the pixel it names.
    """
    height, width = mask.shape[0], mask.shape[1]
    inside = mask.double()
    labels = torch.arange(1, height * width + 1, dtype=torch.float64, device=mask.device).view(height, width)
    labels = labels * inside
    while True:
        grown = _run_max(labels, inside)
        grown = _run_max(grown.t(), inside.t()).t()
        if diagonal:
            grown = F.max_pool2d(grown[None, None], [3, 3], [1, 1], [1, 1])[0, 0] * inside
        grown = _jump(grown, inside)
        if torch.equal(grown, labels):
            break
        labels = grown
    return labels.long()


def _region_areas(labels: Tensor) -> Tensor:
    """Pixels per label: (h * w + 1,) int64 indexed by label."""
    return torch.bincount(labels.reshape(-1), minlength=labels.numel() + 1)


def remove_specks(subject: Tensor, min_area: float) -> Tensor:
    """Twin of ``segmentation._remove_specks``: drop 8-connected subject regions under ``min_area``.

    Args:
        subject: (h, w) bool.
        min_area: smallest area kept, in pixels.

    Returns:
        (h, w) bool.
    """
    labels = component_labels(subject, True)
    areas = _region_areas(labels)
    return subject & (areas[labels].double() >= min_area)


def fill_holes(subject: Tensor, max_area: float) -> Tensor:
    """Twin of ``segmentation._fill_holes``: fill enclosed 4-connected background up to ``max_area``.

    Args:
        subject: (h, w) bool.
        max_area: largest enclosed background region filled, in pixels.

    Returns:
        (h, w) bool.
    """
    labels = component_labels(~subject, False)
    areas = _region_areas(labels)
    border = torch.cat([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    on_border = torch.zeros_like(areas, dtype=torch.bool)
    on_border[border] = True
    fill = (areas.double() <= max_area) & ~on_border
    fill[0] = False
    return subject | fill[labels]
