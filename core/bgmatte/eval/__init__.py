"""Matte evaluation: Composition-1k and video-coherence metrics, sequence scoring, contact sheets."""
from __future__ import annotations

from bgmatte.eval.contact_sheet import write_contact_sheet
from bgmatte.eval.evaluate import evaluate_sequence
from bgmatte.eval.metrics import (
    connectivity_error,
    dtssd,
    foreground_error,
    gradient_error,
    messddt,
    mse,
    sad,
    trimap_unknown,
    unknown_from_trimap,
)

__all__ = [
    "connectivity_error",
    "dtssd",
    "evaluate_sequence",
    "foreground_error",
    "gradient_error",
    "messddt",
    "mse",
    "sad",
    "trimap_unknown",
    "unknown_from_trimap",
    "write_contact_sheet",
]
