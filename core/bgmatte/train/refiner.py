"""Train the learned full-resolution refiner against a frozen generator, resumably; export both as one file.

A sample is a full-resolution composite (448-896 px, from the same banks and camera model as
stage 1) that goes through the inference path exactly as a frame does: `network_inputs` at a
working size 2.5-4.5x smaller (HD at 512 px is 3.75x), the frozen generator, the analytic
refinement, `select_patches` and `gather_patches`. Its training items are up to
``patches_per_sample`` of those patches with the true alpha under them. Sample i depends only on
(seed, i) and the generator, so a resumed run draws what an uninterrupted one would have.
"""
from __future__ import annotations

import hashlib
import logging
import math
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bgmatte.data.bank import Bank
from bgmatte.data.compose import capture, downsample_scene, draw_scene
from bgmatte.data.dataset import batch_stream, open_banks
from bgmatte.errors import InputError
from bgmatte.model import create_model, save_weights
from bgmatte.model.config import GeneratorConfig
from bgmatte.model.generator import Generator
from bgmatte.model.refiner import ANALYTIC_ALPHA, HALO, PATCH, PatchRefiner
from bgmatte.pipeline import FrameInputs, network_inputs, network_pass, working_linear
from bgmatte.priors.resample import working_shape
from bgmatte.refine import refine_alpha
from bgmatte.refine.learned import gather_patches, select_patches
from bgmatte.stop_signals import stop_requests
from bgmatte.train.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from bgmatte.train.export import CODE_LICENCE, git_commit
from bgmatte.train.run_folder import (append_log, last_validation, restore_optimisation, starting_point,
                                      stored_settings, truncate_log)

log = logging.getLogger(__name__)

SAMPLE_STREAM = 7  # keeps the refiner's samples apart from stage 1's stream of the same seed
VALIDATION_SEED_OFFSET = 1_000_003
MIN_WORKING = 32  # pixels: the generator's smallest sensible working size
STILL_CHANCE = 0.3  # samples matted as a still (no neighbours), as stage 1
GRADIENT_WEIGHT = 1.0
HALF_MAX = 60000.0
RESUME_OVERRIDABLE = ("data", "lr", "workers", "threads", "checkpoint_minutes", "log_every")


@dataclass
class RefinerSettings:
    """What a refiner run is: its banks, the frozen generator, the refiner's width and the optimiser.

    Attributes:
        data: bank folders from `bgmatte data`.
        generator: the frozen generator: "default" or a weights file.
        width: hidden channels of the refiner.
        seed: sample stream seed.
        batch: samples per step (each gives up to patches_per_sample patches).
        patches_per_sample: patches drawn at random from a sample's fractional patches.
        sizes: smallest and largest full-resolution sample side, in patches (448-896 px).
        supersample: scenes are drawn at this multiple of the sample side, then area-averaged.
        ratios: smallest and largest full resolution / working size.
        init_from: a refiner run folder whose checkpoint's weights start a new run ("" = the zero-correction start).
        lr: Adam learning rate.
        workers: data worker processes (each runs the generator on one core).
        threads: torch threads of the training process.
        checkpoint_minutes, log_every: bookkeeping.
        validation_samples: fixed held-out samples scored at each checkpoint.
        command: the command line that started the run.
    """

    data: list[str] = field(default_factory=list)
    generator: str = "default"
    width: int = 16
    seed: int = 0
    batch: int = 4
    patches_per_sample: int = 64
    sizes: list[int] = field(default_factory=lambda: [28, 56])
    supersample: int = 2
    ratios: list[float] = field(default_factory=lambda: [2.5, 4.5])
    init_from: str = ""
    lr: float = 1e-3
    workers: int = 2
    threads: int = 1
    checkpoint_minutes: float = 5.0
    log_every: int = 25
    validation_samples: int = 24
    command: str = ""

    def check(self) -> None:
        """Raise InputError for settings no run can use."""
        for name in ("width", "batch", "patches_per_sample", "threads", "log_every"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')}", "must be 1 or more")
        if self.workers < 0:
            raise InputError("--workers", "must be 0 or more")
        if self.supersample < 1:
            raise InputError("--supersample", "must be 1 or more")
        if len(self.ratios) != 2 or not 1.0 <= self.ratios[0] <= self.ratios[1]:
            raise InputError("--ratios", f"must be SMALLEST,LARGEST with 1 <= SMALLEST <= LARGEST, got {self.ratios}")
        if len(self.sizes) != 2 or not 2 <= self.sizes[0] <= self.sizes[1]:
            raise InputError("sizes", f"must be [smallest, largest] patches per side, at least 2, got {self.sizes}")
        if not (self.lr > 0.0 and math.isfinite(self.lr)):
            raise InputError("--lr", f"must be a positive number, got {self.lr}")


def generator_digest(generator: Generator, name: str) -> str:
    """Which generator a run's samples came from: SHA-256 of its weights file, or its registry name."""
    if generator.weights_file is None:
        return name
    digest = hashlib.sha256()
    with open(generator.weights_file, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def refiner_sample(banks: list[Bank], generator: Generator, seed: int, index: int,
                   settings: RefinerSettings) -> dict[str, np.ndarray]:
    """Sample ``index``: raw refiner inputs (n, 11, p, p) and true alpha (n, PATCH, PATCH), n <= patches.

    The sample's side, supersampling and working-size ratio come from the settings.
    """
    rng = np.random.default_rng([seed, SAMPLE_STREAM, index])
    size = int(rng.integers(settings.sizes[0], settings.sizes[1] + 1)) * PATCH
    working = max(MIN_WORKING, round(size / rng.uniform(*settings.ratios)))
    scene = draw_scene(banks, rng, size * settings.supersample)
    shot = capture(downsample_scene(scene, size) if settings.supersample > 1 else scene, rng)
    shape = working_shape(size, size, working)
    still = rng.uniform() < STILL_CHANCE
    inputs = FrameInputs(frame=shot.image, plate=shot.plate,
                         neighbours=None if still else [working_linear(n, shape) for n in shot.neighbours])
    prepared, alpha_low, fg_low = network_pass(generator, inputs, network_inputs(inputs, working), working)
    alpha = refine_alpha(alpha_low, prepared.frame, prepared.matched_plate, fg_low)
    corners = select_patches(alpha)
    if len(corners) > settings.patches_per_sample:
        corners = corners[np.sort(rng.choice(len(corners), settings.patches_per_sample, replace=False))]
    raw = gather_patches(corners, prepared.frame, prepared.matched_plate, alpha, alpha_low, fg_low)
    truth = np.clip(shot.scene.alpha, 0.0, 1.0)
    offsets = np.arange(PATCH)
    target = truth[corners[:, 0, None, None] + offsets[None, :, None], corners[:, 1, None, None] + offsets[None, None, :]]
    # float16 halves what workers pass on; light beyond its range is far past where asinh saturates.
    raw16 = np.clip(raw.numpy(), -HALF_MAX, HALF_MAX).astype(np.float16)
    return {"raw": raw16, "truth": target.astype(np.float16)}


class RefinerDataset(torch.utils.data.Dataset):
    """``dataset[i]`` is ``refiner_sample(banks, generator, seed, i)``; the generator loads once per process."""

    def __init__(self, settings: RefinerSettings) -> None:
        self.settings = settings
        self._banks: list[Bank] | None = None
        self._generator: Generator | None = None

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        if self._generator is None:
            self._banks = open_banks(self.settings.data)
            self._generator = create_model(self.settings.generator, device="cpu")
        return refiner_sample(self._banks, self._generator, self.settings.seed, int(index), self.settings)


def collate_patches(samples: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """All patches of a batch of samples, float32: raw (N, 11, p, p) and truth (N, 1, PATCH, PATCH)."""
    return {"raw": torch.from_numpy(np.concatenate([s["raw"] for s in samples]).astype(np.float32)),
            "truth": torch.from_numpy(np.concatenate([s["truth"] for s in samples]).astype(np.float32))[:, None]}


def refiner_losses(refined: torch.Tensor, truth: torch.Tensor) -> dict[str, torch.Tensor]:
    """L1 of alpha and of its horizontal and vertical differences (strand edges), and their weighted sum."""
    l1 = (refined - truth).abs().mean()
    gradient = ((refined.diff(dim=-1) - truth.diff(dim=-1)).abs().mean()
                + (refined.diff(dim=-2) - truth.diff(dim=-2)).abs().mean())
    return {"l1": l1, "gradient": gradient, "total": l1 + GRADIENT_WEIGHT * gradient}


def _analytic(raw: torch.Tensor) -> torch.Tensor:
    """The analytic alpha under the patches (what the refiner starts from), (N, 1, PATCH, PATCH)."""
    return raw[:, ANALYTIC_ALPHA:ANALYTIC_ALPHA + 1, HALO:-HALO, HALO:-HALO]


def train_refiner(run_dir: Path, settings: RefinerSettings | None, resume: bool = False,
                  minutes: float | None = None, max_steps: int | None = None,
                  overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train (or continue) a refiner run in ``run_dir``; returns the last log record."""
    settings, state, changes = starting_point(run_dir, RefinerSettings, settings, resume, overrides, RESUME_OVERRIDABLE)
    settings.check()
    torch.set_num_threads(settings.threads)
    banks = open_banks(settings.data)
    generator = create_model(settings.generator, device="cpu")
    digest = generator_digest(generator, settings.generator)
    if state is not None and state["generator_digest"] != digest:
        raise InputError(settings.generator, "is not the generator this run was trained against (its digest changed)")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        refiner = PatchRefiner(settings.width)
    if state is None and settings.init_from:
        try:
            refiner.load_state_dict(load_checkpoint(Path(settings.init_from))["model"])
        except RuntimeError:
            raise InputError(settings.init_from, f"its refiner does not have width {settings.width}") from None
        log.info("refiner weights start from %s", settings.init_from)
    optimizer = torch.optim.Adam(refiner.parameters(), lr=settings.lr)
    step, position, seconds = 0, 0, 0.0
    if state is not None:
        step, position, seconds = restore_optimisation(state, refiner, optimizer, settings.lr)
        log.info("resuming %s at step %d (sample %d)", run_dir, step, position)
    run_dir.mkdir(parents=True, exist_ok=True)
    truncate_log(run_dir, step)
    if changes:
        append_log(run_dir, {"step": step, "settings_changed": changes})
    validation = [refiner_sample(banks, generator, settings.seed + VALIDATION_SEED_OFFSET, index, settings)
                  for index in range(settings.validation_samples)]
    validation_batch = collate_patches(validation)
    dataset = RefinerDataset(settings)
    stream = batch_stream(dataset, position, settings.batch, settings.workers, collate_fn=collate_patches)
    loop = _RefinerLoop(run_dir, settings, refiner, optimizer, validation_batch, digest, step, position, seconds)
    return loop.run(stream, minutes, max_steps)


class _RefinerLoop:
    """The optimisation loop: steps, logging, checkpoints, SIGTERM."""

    def __init__(self, run_dir: Path, settings: RefinerSettings, refiner: PatchRefiner,
                 optimizer: torch.optim.Optimizer, validation: dict[str, torch.Tensor], digest: str,
                 step: int, position: int, seconds: float) -> None:
        self.run_dir, self.settings, self.refiner, self.optimizer = run_dir, settings, refiner, optimizer
        self.validation, self.digest = validation, digest
        self.step, self.position, self.seconds = step, position, seconds
        self.last: dict[str, Any] = {}

    def run(self, batches: Iterator[dict[str, torch.Tensor]], minutes: float | None,
            max_steps: int | None) -> dict[str, Any]:
        with stop_requests((signal.SIGTERM,), "SIGTERM: checkpointing and stopping") as stop:
            self._loop(batches, minutes, max_steps, stop)
        return self._checkpoint()

    def _loop(self, batches: Iterator[dict[str, torch.Tensor]], minutes: float | None, max_steps: int | None,
              stop: threading.Event) -> None:
        started = last_checkpoint = time.monotonic()
        sums: dict[str, float] = {}
        count = 0
        while not stop.is_set() and (max_steps is None or self.step < max_steps):
            if minutes is not None and time.monotonic() - started >= minutes * 60:
                break
            batch = next(batches)
            tick = time.monotonic()
            for name, value in self._step(batch).items():
                sums[name] = sums.get(name, 0.0) + value
            self.seconds += time.monotonic() - tick
            count += 1
            if self.step % self.settings.log_every == 0:
                self._log({"step": self.step, "samples": self.position, "seconds": round(self.seconds, 1),
                           "losses": {name: value / count for name, value in sums.items()}})
                sums, count = {}, 0
            if time.monotonic() - last_checkpoint >= self.settings.checkpoint_minutes * 60:
                self._checkpoint()
                last_checkpoint = time.monotonic()

    def _step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        self.step += 1
        self.position += self.settings.batch
        if len(batch["raw"]) == 0:
            return {}
        losses = refiner_losses(self.refiner(batch["raw"]), batch["truth"])
        self.optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        self.optimizer.step()
        return {name: float(value.detach()) for name, value in losses.items()}

    def validate(self) -> dict[str, float]:
        """Losses of the refiner and of the analytic alpha it starts from, on the held-out patches."""
        with torch.no_grad():
            refined = self.refiner(self.validation["raw"])
        truth = self.validation["truth"]
        scores = {name: float(value) for name, value in refiner_losses(refined, truth).items()}
        scores.update({f"analytic_{name}": float(value)
                       for name, value in refiner_losses(_analytic(self.validation["raw"]), truth).items()})
        return scores

    def _checkpoint(self) -> dict[str, Any]:
        save_checkpoint(self.run_dir, {
            "model": self.refiner.state_dict(), "optimizer": self.optimizer.state_dict(), "step": self.step,
            "data_position": self.position, "seconds": self.seconds, "settings": asdict(self.settings),
            "generator_digest": self.digest})
        record = {"step": self.step, "samples": self.position, "seconds": round(self.seconds, 1),
                  "checkpoint": CHECKPOINT_NAME, "validation": self.validate()}
        self._log(record)
        log.info("checkpoint at step %d: validation %s", self.step, record["validation"])
        self.last = record
        return record

    def _log(self, record: dict[str, Any]) -> None:
        append_log(self.run_dir, record)


def export_with_refiner(run_dir: Path, path: Path, working_size: int | None = None) -> Path:
    """Write the run's frozen generator with its trained refiner as one weights file (refiner_width set).

    ``working_size`` replaces the generator's (the refiner is trained for any working size 2.5-4.5x
    below the frame's); None keeps it.

    Raises:
        InputError: If the run has no checkpoint or its generator file changed since training.
    """
    state = load_checkpoint(run_dir)
    settings = stored_settings(RefinerSettings, state["settings"])
    source = create_model(settings.generator, device="cpu")
    digest = generator_digest(source, settings.generator)
    if digest != state["generator_digest"]:
        raise InputError(settings.generator, "is not the generator the refiner was trained against")
    changes: dict[str, int] = {"refiner_width": settings.width}
    if working_size is not None:
        changes["working_size"] = working_size
    config = GeneratorConfig.from_dict({**source.config.to_dict(), **changes})
    model = Generator(config)
    generator_state = {name: value for name, value in source.state_dict().items() if not name.startswith("refiner.")}
    model.load_state_dict({**generator_state, **{f"refiner.{name}": value for name, value in state["model"].items()}})
    provenance = {
        **source.provenance,
        "refiner": {"command": settings.command, "settings": asdict(settings), "generator_sha256": digest,
                    "steps": int(state["step"]), "samples": int(state["data_position"]),
                    "seconds": round(float(state["seconds"]), 1),
                    "validation": last_validation(run_dir), "commit": git_commit()},
        "licence": source.provenance.get("licence", f"{CODE_LICENCE} (weights)"),
    }
    return save_weights(path, model.eval(), provenance)
