"""Training data: element and plate banks (`bgmatte data`) and stage-1 samples composed from them."""
from __future__ import annotations

from bgmatte.data.bank import Bank, open_bank
from bgmatte.data.compose import training_sample
from bgmatte.data.generate import generate_bank

__all__ = ["Bank", "generate_bank", "open_bank", "training_sample"]
