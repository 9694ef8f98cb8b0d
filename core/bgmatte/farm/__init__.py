"""Render-farm jobs: the per-chunk bgmatte command as data, and OpenCue / Deadline back ends."""
from __future__ import annotations

from bgmatte.farm.chunks import FarmJob, chunk_command, chunk_frames, farm_job, frame_range_string

__all__ = ["FarmJob", "chunk_command", "chunk_frames", "farm_job", "frame_range_string"]
