"""Priors for the network: plate matching, resampling, soft segmentation and motion cues."""
from __future__ import annotations

from bgmatte.priors.motion import motion_grey, stack_motion_cues
from bgmatte.priors.gain_match import match_gain
from bgmatte.priors.plate_match import align_homography, feather, register_plate
from bgmatte.priors.resample import resize_area, resize_linear, working_shape
from bgmatte.priors.segmentation import apply_overrides, combine_mattes, process_mask, soft_segmentation

__all__ = [
    "align_homography",
    "apply_overrides",
    "combine_mattes",
    "feather",
    "match_gain",
    "motion_grey",
    "process_mask",
    "register_plate",
    "resize_area",
    "resize_linear",
    "soft_segmentation",
    "stack_motion_cues",
    "working_shape",
]
