"""Connected regions of the prior's subject mask: specks dropped.

``remove_specks`` drops 8-connected subject regions smaller than a share of the image; a torch
function of the mask and a labelling of its regions, for the core and the exported graph.
Enclosed background regions are left as they are: filling them (up to 2 % of the image, as the
prior did until 2026-12-03) closed the gaps between sparse strands, and the network filled them
with fog (the photographic close-ups; see the README's known limits).
Labelling is the one step with two implementations of one function: the regions of a binary mask
are defined by the mask alone, and any labelling that gives each region its own positive label (0
outside the mask) makes ``remove_specks`` give the same pixels. The core labels with OpenCV
(``opencv_labels``, milliseconds at the working size); the graph cannot call OpenCV and labels by
propagation (``component_labels``: every pixel starts with its own index and takes the largest
label along its row and column runs, and its diagonal neighbours, then the label of the pixel its
label names, until nothing changes), which needs tens of rounds on thin strands and costs seconds
on the CPU at 768 px: too slow for the core. On CUDA the core still labels with OpenCV: the
working-size mask (768 x 432 bytes) goes to the CPU and its int32 labels come back (about a
millisecond in all over PCIe, estimated: not measured here, no GPU), where propagation would run
tens of rounds, each ending in a device-to-host sync (its convergence test); and the labels are the
CPU run's exactly. Labelling is integer bookkeeping of a bool mask, not pixel maths: every pixel
computed from it stays on the device.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

SPECK_AREA_FRACTION = 0.0005  # subject regions smaller than this share of the image are dropped


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


def component_labels(mask: Tensor) -> Tensor:
    """Label the 8-connected regions of a mask: (h, w) bool -> (h, w) int64, 0 outside the mask.

    Every region's label is the largest flat index + 1 among its pixels (unique per region).
    Each round spreads labels along whole rows and columns of the mask and to diagonal
    neighbours, then jumps every label to the label of the pixel it names.
    """
    height, width = mask.shape[0], mask.shape[1]
    inside = mask.double()
    labels = torch.arange(1, height * width + 1, dtype=torch.float64, device=mask.device).view(height, width)
    labels = labels * inside
    while True:
        grown = _run_max(labels, inside)
        grown = _run_max(grown.t(), inside.t()).t()
        grown = F.max_pool2d(grown[None, None], [3, 3], [1, 1], [1, 1])[0, 0] * inside
        grown = _jump(grown, inside)
        if torch.equal(grown, labels):
            break
        labels = grown
    return labels.long()


def opencv_labels(mask: Tensor) -> Tensor:
    """``component_labels`` by ``cv2.connectedComponents``: (h, w) bool -> (h, w) int64, 0 outside the mask.

    On any device: a mask on a GPU goes to the CPU for OpenCV and its int32 labels come back (at the
    working size: a few hundred KB there, about a MB back; see the module's docstring for why not propagation).
    """
    _, labels = cv2.connectedComponents(mask.cpu().numpy().astype(np.uint8), connectivity=8)
    return torch.from_numpy(labels.astype(np.int32, copy=False)).to(mask.device).long()


def _region_areas(labels: Tensor) -> Tensor:
    """Pixels per label: (h * w + 1,) int64 indexed by label."""
    return torch.bincount(labels.reshape(-1), minlength=labels.numel() + 1)


def remove_specks(subject: Tensor, labels: Tensor, fraction: float = SPECK_AREA_FRACTION) -> Tensor:
    """Drop the 8-connected subject regions smaller than ``fraction`` of the image.

    Args:
        subject: (h, w) bool.
        labels: (h, w) int64 labels of its 8-connected regions (``component_labels(subject)``).
        fraction: the module's SPECK_AREA_FRACTION (an argument: TorchScript cannot read module globals).

    Returns:
        (h, w) bool.
    """
    areas = _region_areas(labels)
    return subject & (areas[labels].double() >= fraction * subject.numel())
