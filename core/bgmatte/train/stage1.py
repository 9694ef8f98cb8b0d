"""Stage 1 of the paper: supervised training on synthetic composites, resumable exactly.

A run lives in one folder: ``checkpoint.pt`` (model, optimiser, RNG, step, data position and the
settings, rewritten atomically every few minutes and at the end), ``log.jsonl`` (one JSON object
per logging interval and one per validation), and nothing else. Sample i is a pure function of
(seed, i), so resuming from a checkpoint gives the same steps an uninterrupted run would have.
"""
from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from bgmatte.data.dataset import SampleDataset, batch_stream, collate, open_banks
from bgmatte.errors import InputError
from bgmatte.model import CONFIGS, Generator, GeneratorConfig, create_model, resolve_device
from bgmatte.model.grow import grow_from
from bgmatte.stop_signals import stop_requests
from bgmatte.train.checkpoint import CHECKPOINT_NAME, save_checkpoint
from bgmatte.train.losses import LossWeights, stage1_losses
from bgmatte.train.run_folder import append_log, restore_optimisation, starting_point, truncate_log

log = logging.getLogger(__name__)

VALIDATION_SEED_OFFSET = 1_000_003
"""Validation samples come from the stream seed + this, never drawn by training."""
MODEL_INIT_SEED = 0
GRADIENT_CLIP = 1.0
RUNNING_STATS_MOMENTUM = 0.01
"""BatchNorm running statistics (what inference normalises with) average ~100 batches, not
PyTorch's ~10 (0.1): at 0.1 one batch of extreme plates moved the plate encoder's running variance
5x at step 19,905 and doubled that checkpoint's validation loss. Training maths is unchanged."""
INPUTS = ("image", "plate", "seg", "motion")

# Settings that may change when a run is resumed. lr, loss weights and data change the updates from
# then on (a new learning rate or loss term, a bank added as it becomes available); every change is logged in
# log.jsonl with the step it applies from. The others do not change what the run computes.
RESUME_OVERRIDABLE = ("data", "lr", "loss_weights", "workers", "threads", "device", "checkpoint_minutes", "log_every")


@dataclass
class Stage1Settings:
    """Everything that defines a stage-1 run; saved in every checkpoint.

    Attributes:
        data: Bank folders (see ``bgmatte/data/README.md``).
        config: Registered generator config name (``bgmatte.model.CONFIGS``).
        seed: Seed of the sample stream and of the model initialisation order.
        batch: Samples per step.
        crop: Training crop, pixels (scenes are composed at 2x and area-averaged to this).
        lr: Adam learning rate.
        workers: Data loader worker processes (0 = compose in the training process).
        threads: Torch threads of the training process. 1 is fastest on a shared CPU: with 2
            threads a step of "small" took 6.9 s instead of 0.74 s on a busy 2-core machine
            (threads wait for each other at every op).
        device: "cpu", "cuda" or "auto".
        checkpoint_minutes: Wall-clock minutes between checkpoints.
        log_every: Steps per log line.
        validation_samples: Fixed held-out samples evaluated at each checkpoint.
        loss_weights: Weights of the loss terms.
        init_from: A weights file (or "default") that a new run starts from instead of a fresh
            initialisation, grown to ``config`` where it adds inputs (bgmatte.model.grow); "" = none.
        command: The command line that started the run (provenance).
    """

    data: list[str]
    config: str = "small"
    seed: int = 0
    batch: int = 8
    crop: int = 192
    lr: float = 4e-4
    workers: int = 1
    threads: int = 1
    device: str = "cpu"
    checkpoint_minutes: float = 5.0
    log_every: int = 10
    validation_samples: int = 16
    loss_weights: dict[str, float] = field(default_factory=lambda: asdict(LossWeights()))
    init_from: str = ""
    command: str = ""

    def check(self) -> None:
        """Raise InputError (option, problem) for settings that cannot run."""
        if self.config not in CONFIGS:
            raise InputError("--config", f"unknown config {self.config!r}; use one of {', '.join(CONFIGS)}")
        for name in ("batch", "crop", "log_every"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')}", "must be at least 1")
        if self.crop % 8:
            raise InputError("--crop", "must be a multiple of 8")
        if not self.lr > 0:
            raise InputError("--lr", "must be positive")
        if self.workers < 0:
            raise InputError("--workers", "must be 0 or more")
        if not 1 <= self.threads <= 1024:  # libgomp aborts the process when it cannot start the threads
            raise InputError("--threads", f"must be a whole number from 1 to 1024, got {self.threads}")


@dataclass(frozen=True)
class RunSummary:
    """What one invocation did: the step reached, samples seen, total training seconds, last losses."""

    step: int
    data_position: int
    seconds: float
    losses: dict[str, float]


def train_stage1(run_dir: Path, settings: Stage1Settings | None, resume: bool = False,
                 minutes: float | None = None, max_steps: int | None = None,
                 overrides: dict[str, Any] | None = None) -> RunSummary:
    """Train (or continue training) a stage-1 run in ``run_dir``.

    Args:
        run_dir: The run folder; holds ``checkpoint.pt`` and ``log.jsonl``.
        settings: Settings of a new run (ignored when a checkpoint is resumed).
        resume: Continue from ``run_dir/checkpoint.pt`` if it exists (else start a new run).
        minutes: Stop after this many wall-clock minutes of this invocation (None: no limit).
        max_steps: Stop when the run reaches this total step (None: no limit).
        overrides: On resume, new values for RESUME_OVERRIDABLE settings.

    Returns:
        The summary at the final checkpoint.

    Raises:
        InputError: Bad settings or banks; a new run into a folder that already has a checkpoint.
    """
    settings, state, changes = starting_point(run_dir, Stage1Settings, settings, resume, overrides, RESUME_OVERRIDABLE)
    settings.check()
    torch.set_num_threads(settings.threads)
    banks = open_banks(settings.data)
    device = resolve_device(settings.device)
    model = _new_model(settings.config, device)
    if state is None and settings.init_from:
        _start_from(model, settings.init_from)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    step, position, seconds = 0, 0, 0.0
    if state is not None:
        step, position, seconds = restore_optimisation(state, model, optimizer, settings.lr)
        torch.set_rng_state(state["torch_rng"])
        log.info("resuming %s at step %d (sample %d, %.0f s trained)", run_dir, step, position, seconds)
    run_dir.mkdir(parents=True, exist_ok=True)
    truncate_log(run_dir, step)
    if changes:
        append_log(run_dir, {"step": step, "settings_changed": changes})
    weights = LossWeights(**settings.loss_weights)
    validation = _validation_batches(banks, settings)
    trainer = _Trainer(run_dir, settings, model, optimizer, weights, device, validation, step, position, seconds)
    return trainer.run(batch_stream(SampleDataset(banks, settings.seed, settings.crop), position, settings.batch,
                                    settings.workers), minutes, max_steps)


def _new_model(config: str, device: torch.device) -> Generator:
    """A freshly initialised generator (same weights for the same config), channels_last, train mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(MODEL_INIT_SEED)
        model = Generator(CONFIGS[config])
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = RUNNING_STATS_MOMENTUM
    return model.to(device=device, memory_format=torch.channels_last).train()


def _start_from(model: Generator, weights: str) -> None:
    """Load a weights file into a new run's model, growing what its config adds (bgmatte.model.grow)."""
    source = create_model(weights, device="cpu", precision="fp32")
    try:
        grown = grow_from(model, source.state_dict())
    except ValueError as error:
        raise InputError("--init-from", f"{weights} does not fit the run's config: {error}") from None
    log.info("new run starts from %s (%d tensors grown with zeros: %s)", weights, len(grown), ", ".join(grown) or "none")


def _validation_batches(banks: list, settings: Stage1Settings) -> list[dict[str, torch.Tensor]]:
    """The fixed held-out samples (a stream no training step draws from), in batches."""
    dataset = SampleDataset(banks, settings.seed + VALIDATION_SEED_OFFSET, settings.crop)
    samples = [dataset[index] for index in range(settings.validation_samples)]
    return [collate(samples[start:start + settings.batch]) for start in range(0, len(samples), settings.batch)]


class _Trainer:
    """The optimisation loop with its bookkeeping: logging, checkpoints, stop conditions."""

    def __init__(self, run_dir: Path, settings: Stage1Settings, model: Generator, optimizer: torch.optim.Optimizer,
                 weights: LossWeights, device: torch.device, validation: list[dict[str, torch.Tensor]],
                 step: int, position: int, seconds: float) -> None:
        self.run_dir = run_dir
        self.settings = settings
        self.model = model
        self.optimizer = optimizer
        self.weights = weights
        self.device = device
        self.validation = validation
        self.step = step
        self.position = position
        self.seconds = seconds
        self.last_losses: dict[str, float] = {}

    def run(self, batches: Iterator[dict[str, torch.Tensor]], minutes: float | None, max_steps: int | None) -> RunSummary:
        with stop_requests((signal.SIGTERM,), "SIGTERM: checkpointing and stopping") as stop:
            self._loop(batches, minutes, max_steps, stop)
        self._checkpoint()
        return RunSummary(self.step, self.position, self.seconds, self.last_losses)

    def _loop(self, batches: Iterator[dict[str, torch.Tensor]], minutes: float | None, max_steps: int | None,
              stop: threading.Event) -> None:
        started = time.monotonic()
        last_checkpoint = started
        interval_start = time.monotonic()
        sums: dict[str, float] = {}
        count = 0
        while not stop.is_set():
            if max_steps is not None and self.step >= max_steps:
                break
            if minutes is not None and time.monotonic() - started >= minutes * 60:
                break
            tick = time.monotonic()
            losses = self._step(next(batches))
            self.seconds += time.monotonic() - tick
            for name, value in losses.items():
                sums[name] = sums.get(name, 0.0) + value
            count += 1
            if self.step % self.settings.log_every == 0:
                elapsed = time.monotonic() - interval_start
                self.last_losses = {name: value / count for name, value in sums.items()}
                self._log({"step": self.step, "samples": self.position, "seconds": round(self.seconds, 1),
                           "s_per_step": round(elapsed / count, 3), "lr": self.settings.lr, "losses": self.last_losses})
                sums, count, interval_start = {}, 0, time.monotonic()
            if time.monotonic() - last_checkpoint >= self.settings.checkpoint_minutes * 60:
                self._checkpoint()
                last_checkpoint = time.monotonic()

    def _step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        batch = {name: tensor.to(self.device).contiguous(memory_format=torch.channels_last) for name, tensor in batch.items()}
        alpha, fg = self.model(*(batch[name] for name in INPUTS))
        losses = stage1_losses(alpha, fg, batch, self.weights)
        self.step += 1
        self.position += self.settings.batch
        values = {name: float(value.detach()) for name, value in losses.items()}
        if not math.isfinite(values["total"]):
            log.warning("step %d: non-finite loss %s, update skipped", self.step, values)
            return values
        self.optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), GRADIENT_CLIP)
        self.optimizer.step()
        return values

    def _validate(self) -> dict[str, float]:
        self.model.eval()
        sums: dict[str, float] = {}
        with torch.no_grad():
            for batch in self.validation:
                batch = {name: tensor.to(self.device) for name, tensor in batch.items()}
                alpha, fg = self.model(*(batch[name] for name in INPUTS))
                for name, value in stage1_losses(alpha, fg, batch, self.weights).items():
                    sums[name] = sums.get(name, 0.0) + float(value) * len(batch["alpha"])
        self.model.train()
        total = sum(len(batch["alpha"]) for batch in self.validation)
        return {name: value / max(total, 1) for name, value in sums.items()}

    def _checkpoint(self) -> None:
        save_checkpoint(self.run_dir, {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(), "step": self.step, "data_position": self.position,
            "seconds": self.seconds, "settings": asdict(self.settings),
            "model_config": self.model.config.to_dict()})
        record: dict[str, Any] = {"step": self.step, "samples": self.position, "seconds": round(self.seconds, 1),
                                  "checkpoint": CHECKPOINT_NAME}
        if self.validation:
            record["validation"] = self._validate()
        self._log(record)
        log.info("checkpoint at step %d (%s)", self.step, self.run_dir / CHECKPOINT_NAME)

    def _log(self, record: dict[str, Any]) -> None:
        append_log(self.run_dir, record)


def model_from_checkpoint(state: dict[str, Any]) -> Generator:
    """The generator stored in a checkpoint, on the CPU in eval mode."""
    model = Generator(GeneratorConfig.from_dict(state["model_config"]))
    model.load_state_dict(state["model"])
    return model.eval()
