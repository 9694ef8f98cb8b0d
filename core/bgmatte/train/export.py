"""Turn a training run's checkpoint into a shipped weights file with its provenance."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from bgmatte.data.bank import open_bank
from bgmatte.model import save_weights
from bgmatte.train.checkpoint import load_checkpoint
from bgmatte.train.run_folder import last_validation
from bgmatte.train.stage1 import model_from_checkpoint

CODE_LICENCE = "Apache-2.0"


def export_weights(run_dir: Path, path: Path) -> Path:
    """Write the model of ``run_dir/checkpoint.pt`` to ``path`` (bgmatte.model weights format).

    Provenance: the training settings and command, each bank's recipe and the licences of its
    contents, the commit (``git rev-parse HEAD`` when in a git checkout), training steps, samples
    and seconds, and the last validation losses.

    Raises:
        InputError: If the run has no checkpoint or a bank it names cannot be opened.
    """
    state = load_checkpoint(run_dir)
    settings = state["settings"]
    banks = [open_bank(Path(folder)) for folder in settings["data"]]
    provenance: dict[str, Any] = {
        "stage": "stage 1 (supervised, synthetic composites)",
        "command": settings["command"],
        "settings": settings,
        "data": [{"bank": folder, "recipe": bank.recipe, "elements": len(bank.elements), "plates": len(bank.plates),
                  "licences": list(bank.licences)} for folder, bank in zip(settings["data"], banks)],
        "licence": f"{CODE_LICENCE} (weights); training data licences listed under data",
        "commit": git_commit(),
        "training": {"steps": int(state["step"]), "samples": int(state["data_position"]),
                     "seconds": round(float(state["seconds"]), 1), "validation": last_validation(run_dir)},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_weights(path, model_from_checkpoint(state), provenance)


def git_commit() -> str | None:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None
