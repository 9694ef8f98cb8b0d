"""Training: stage-1 losses, the resumable loop, checkpoints and weights export (`bgmatte train`)."""
from __future__ import annotations

from bgmatte.train.export import export_weights
from bgmatte.train.losses import LossWeights, stage1_losses
from bgmatte.train.stage1 import Stage1Settings, train_stage1

__all__ = ["LossWeights", "Stage1Settings", "export_weights", "stage1_losses", "train_stage1"]
