"""Training checkpoints: everything needed to resume a run exactly, written atomically.

A checkpoint holds the model and optimiser state, the torch RNG state, the step, the data
position (index of the next sample) and the run's full settings. It is loadable with
``torch.load(weights_only=True)``: tensors and plain types only.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bgmatte.errors import InputError
from bgmatte.io.atomic import atomic_output

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_FORMAT = "bgmatte-train-checkpoint"
CHECKPOINT_VERSION = 1


def save_checkpoint(run_dir: Path, state: dict[str, Any]) -> Path:
    """Write ``run_dir/checkpoint.pt`` atomically (temp file in the folder, then rename).

    Args:
        run_dir: The run folder (created).
        state: ``model``, ``optimizer`` (state dicts), ``torch_rng`` (ByteTensor), ``step``,
            ``data_position``, ``seconds`` (training time so far), ``settings`` (plain dict).

    Returns:
        The checkpoint path.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / CHECKPOINT_NAME
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}
    with atomic_output(path) as temp:
        torch.save(payload, temp)
    return path


def load_checkpoint(run_dir: Path) -> dict[str, Any]:
    """Read ``run_dir/checkpoint.pt``.

    Raises:
        InputError: If there is no checkpoint or it is not a bgmatte training checkpoint.
    """
    path = run_dir / CHECKPOINT_NAME
    if not path.is_file():
        raise InputError(path, "no checkpoint to resume from")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        raise InputError(path, f"unreadable checkpoint: {exc}") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise InputError(path, "not a bgmatte training checkpoint")
    if state.get("version") != CHECKPOINT_VERSION:
        raise InputError(path, f"checkpoint version {state.get('version')!r}, expected {CHECKPOINT_VERSION}")
    return state
