"""Convolution + normalisation + ReLU, the unit every block of the generator is made of."""
from __future__ import annotations

from torch import nn


def make_norm(norm: str, width: int) -> nn.Module:
    """The normalisation layer named by GeneratorConfig.norm ("batch" or "none")."""
    if norm == "batch":
        return nn.BatchNorm2d(width)
    if norm == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {norm!r}")


def conv_norm(in_width: int, out_width: int, kernel: int, norm: str, stride: int = 1,
              padding_mode: str = "zeros") -> nn.Sequential:
    """A kernel x kernel convolution ('same' padding, or halving with stride 2), then norm: signed output."""
    return nn.Sequential(
        nn.Conv2d(in_width, out_width, kernel, stride=stride, padding=kernel // 2,
                  padding_mode=padding_mode, bias=norm == "none"),
        make_norm(norm, out_width),
    )


def conv_norm_relu(in_width: int, out_width: int, kernel: int, norm: str, stride: int = 1,
                   padding_mode: str = "zeros") -> nn.Sequential:
    """`conv_norm` followed by ReLU (same parameter names, indices 0 and 1)."""
    return nn.Sequential(*conv_norm(in_width, out_width, kernel, norm, stride, padding_mode), nn.ReLU(inplace=True))
