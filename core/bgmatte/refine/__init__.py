"""Full-resolution refinement of the network's working-resolution alpha."""
from __future__ import annotations

from bgmatte.refine.guided_filter import FastGuidedFilter, fast_guided_filter
from bgmatte.refine.uncertain import refine_alpha

__all__ = ["FastGuidedFilter", "fast_guided_filter", "refine_alpha"]
