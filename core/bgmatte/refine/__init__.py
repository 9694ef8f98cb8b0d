"""Full-resolution refinement of the network's working-resolution alpha."""
from __future__ import annotations

from bgmatte.refine.guided_filter import FastGuidedFilter, fast_guided_filter
from bgmatte.refine.learned import refine_patches
from bgmatte.refine.noise_gate import gate_small_alpha
from bgmatte.refine.uncertain import refine_alpha

__all__ = ["FastGuidedFilter", "fast_guided_filter", "gate_small_alpha", "refine_alpha", "refine_patches"]
