"""What a resumable training run keeps beside its checkpoint: its log, its settings across resumes, its command.

Stage 1 (`bgmatte train`) and the refiner (`bgmatte train-refiner`) keep their runs the same way:
one JSON line per event in ``log.jsonl``, lines past the checkpoint dropped on resume (a killed
run wrote them), the stored settings with the few a resume may change, and the command line that
reproduces the run.
"""
from __future__ import annotations

import argparse
import json
import logging
import shlex
from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import torch

from bgmatte.errors import InputError
from bgmatte.train.checkpoint import CHECKPOINT_NAME, load_checkpoint

log = logging.getLogger(__name__)

LOG_NAME = "log.jsonl"
Settings = TypeVar("Settings")


def append_log(run_dir: Path, record: dict[str, Any]) -> None:
    """Add one JSON line to the run's log."""
    with open(run_dir / LOG_NAME, "a") as stream:
        stream.write(json.dumps(record) + "\n")


def truncate_log(run_dir: Path, step: int) -> None:
    """Drop log lines past ``step`` (written after the last checkpoint by a run that was killed)."""
    path = run_dir / LOG_NAME
    if not path.is_file():
        return
    lines = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
    path.write_text("".join(f"{line}\n" for line in lines))


def last_validation(run_dir: Path) -> dict[str, float] | None:
    """The held-out scores of the run's last checkpoint line, or None when it has none yet."""
    path = run_dir / LOG_NAME
    if not path.is_file():
        return None
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    validations = [record["validation"] for record in records if "validation" in record]
    return validations[-1] if validations else None


def stored_settings(kind: type[Settings], stored: dict[str, Any]) -> Settings:
    """The settings a checkpoint stored, as ``kind`` (a dataclass); keys it no longer has are dropped."""
    known = {item.name for item in fields(kind)}
    return kind(**{key: value for key, value in stored.items() if key in known})


def resumed_settings(kind: type[Settings], stored: dict[str, Any], overrides: dict[str, Any],
                     overridable: Iterable[str]) -> tuple[Settings, dict[str, Any]]:
    """The stored settings with the allowed overrides applied, and {name: [old, new]} of what changed.

    A dict-valued override updates the stored dict (``loss_weights``: the weights it names change,
    the others stay).

    Raises:
        InputError: an override of a setting a resume may not change (it changes the samples).
    """
    settings = stored_settings(kind, stored)
    allowed = set(overridable)
    changes = {}
    for key, value in overrides.items():
        if key not in allowed:
            raise InputError(f"--{key.replace('_', '-')}", "cannot change when resuming (it changes the samples)")
        if isinstance(value, dict):
            value = {**getattr(settings, key), **value}
        if value is not None and value != getattr(settings, key):
            log.info("resume: %s %r -> %r", key, getattr(settings, key), value)
            changes[key] = [getattr(settings, key), value]
            setattr(settings, key, value)
    return settings, changes


def starting_point(run_dir: Path, kind: type[Settings], settings: Settings | None, resume: bool,
                   overrides: dict[str, Any] | None, overridable: Iterable[str]
                   ) -> tuple[Settings, dict[str, Any] | None, dict[str, Any]]:
    """What a training run starts from: (settings, checkpoint state or None, {name: [old, new]} changed).

    A resume takes the checkpoint's settings with the allowed ``overrides``; a new run (or a resume
    into a folder without a checkpoint) takes ``settings``.

    Raises:
        InputError: a new run into a folder that already holds a checkpoint, a new run without
            settings, or an override a resume may not change.
    """
    if resume and (run_dir / CHECKPOINT_NAME).is_file():
        state = load_checkpoint(run_dir)
        resumed, changes = resumed_settings(kind, state["settings"], overrides or {}, overridable)
        return resumed, state, changes
    if (run_dir / CHECKPOINT_NAME).is_file():
        raise InputError(run_dir, "already holds a checkpoint; pass --resume to continue it or choose a new --out")
    if resume:
        log.warning("no checkpoint in %s: starting a new run", run_dir)
    if settings is None:
        raise InputError("--data", "a new run needs its settings (--data, ...)")
    return settings, None, {}


def restore_optimisation(state: dict[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                         lr: float) -> tuple[int, int, float]:
    """Load a checkpoint's weights and Adam state, at the run's (possibly changed) learning rate.

    Returns:
        (step, data position, seconds trained) to continue from.
    """
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    for group in optimizer.param_groups:
        group["lr"] = lr
    return int(state["step"]), int(state["data_position"]), float(state["seconds"])


def reproducing_command(subcommand: str, args: argparse.Namespace, options: Iterable[str]) -> str:
    """The `bgmatte SUBCOMMAND` line that reproduces a run: --out, each --data, the given options, --resume."""
    words = ["bgmatte", subcommand, "--out", str(args.out)]
    for bank in args.data:
        words += ["--data", str(bank)]
    for name in options:
        value = getattr(args, name)
        if value is not None:
            text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
            words += [f"--{name.replace('_', '-')}", text]
    return shlex.join(words + ["--resume"] * args.resume)
