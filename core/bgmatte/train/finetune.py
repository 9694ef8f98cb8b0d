"""Stage 2 of the paper (Sengupta et al. 2020, Sec. 3.2): self-supervised adaptation to one unlabeled shot.

A frozen teacher (the loaded model) gives pseudo-labels on the shot's frames; the student (a copy
being trained) is pulled towards the teacher where the teacher is confident, towards frames it
can re-composite from its alpha, foreground and the plate, and towards composites over other
backgrounds that a multiscale PatchGAN cannot tell from real frames. No ground truth is needed.

Departures from the paper, for a few hundred CPU steps on one shot rather than epochs of video:
- BatchNorm statistics stay frozen (the student runs in eval mode; its weights still train): a
  batch is two or three crops of one shot, whose statistics would wreck the stage-1 estimates.
- The adversarial term is weighted low (0.05) against the others (1): a GAN far from equilibrium
  should nudge edges, not drive the matte.
- The new backgrounds are other crops of the shot's own plates (randomly placed and flipped), so
  the discriminator compares subjects, not the look of a foreign background.
"""
from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from bgmatte.color.encoding import decode_from_network, encode_for_network
from bgmatte.frames import FrameSource
from bgmatte.model import Generator
from bgmatte.pipeline import network_inputs
from bgmatte.plan import RunPlan
from bgmatte.settings import MatteSettings
from bgmatte.train.discriminator import MultiscaleDiscriminator, lsgan_loss
from bgmatte.train.losses import MAX_ENCODED, composition_l1
from bgmatte.train.stage1 import GRADIENT_CLIP

log = logging.getLogger(__name__)

MAX_FRAMES = 16
"""A long shot is sampled at this many evenly spaced frames (enough variety, bounded memory)."""
FG_CONFIDENT_ALPHA = 0.5
"""The teacher's foreground colour is a pseudo-label only where its alpha is above this."""


@dataclass(frozen=True)
class Stage2Weights:
    """Weights of the stage-2 terms (see the module docstring for the low adversarial weight)."""

    pseudo_alpha: float = 1.0
    pseudo_fg: float = 1.0
    composition: float = 1.0
    adversarial: float = 0.05


@dataclass(frozen=True)
class FinetuneSettings:
    """What one fine-tuning run does; saved in the weights' provenance.

    Attributes:
        steps: optimisation steps (the run may stop earlier at ``minutes``).
        seed: seeds crops, backgrounds and the discriminator's initialisation (deterministic on CPU).
        crop: square training crop at working resolution, pixels (clamped to the frame).
        batch: crops per step.
        lr: Adam learning rate of student and discriminator.
        minutes: wall-clock limit, or None.
        weights: the loss weights.
    """

    steps: int = 200
    seed: int = 0
    crop: int = 128
    batch: int = 2
    lr: float = 1e-4
    minutes: float | None = None
    weights: Stage2Weights = field(default_factory=Stage2Weights)


@dataclass
class ShotTensors:
    """The network inputs of a shot's frames at working resolution, NCHW float32 on the CPU.

    Attributes:
        frames: the file frame numbers, one per batch entry.
        image, plate: (N, 3, h, w) network-encoded frame and gain-matched plate.
        seg: (N, 1, h, w) soft segmentation in [0, 1]; motion: (N, 4, h, w) encoded grey cues.
    """

    frames: list[int]
    image: Tensor
    plate: Tensor
    seg: Tensor
    motion: Tensor

    def inputs(self, index: slice | Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The generator's four inputs for the frames at ``index``."""
        return self.image[index], self.plate[index], self.seg[index], self.motion[index]


@dataclass
class FinetuneResult:
    """What a run did: steps taken, seconds, mean losses of the last steps and the re-composition check."""

    steps: int
    seconds: float
    last_losses: dict[str, float]
    composition_before: float
    composition_after: float
    history: list[dict[str, float]]


def sample_frames(frames: list[int], count: int = MAX_FRAMES) -> list[int]:
    """At most ``count`` evenly spaced frames of ``frames`` (all of them when there are few enough)."""
    if len(frames) <= count:
        return list(frames)
    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    return [frames[i] for i in sorted(set(picks.tolist()))]


def load_shot(plan: RunPlan, settings: MatteSettings, working_size: int) -> ShotTensors:
    """Read the plan's frames through FrameSource (same colour, checks and priors as `bgmatte matte`).

    Raises:
        BgmatteError: a frame, plate or matte cannot be read (FrameError, exit 3; nothing is written).
    """
    source = FrameSource(plan, settings, working_size)
    arrays = [network_inputs(source.inputs(frame), working_size) for frame in plan.frames]

    def stack(name: str) -> Tensor:
        items = [getattr(a, name)[..., None] if getattr(a, name).ndim == 2 else getattr(a, name) for a in arrays]
        return torch.from_numpy(np.ascontiguousarray(np.stack(items).transpose(0, 3, 1, 2)))

    return ShotTensors(list(plan.frames), stack("image"), stack("plate"), stack("seg"), stack("motion"))


def stage2_losses(alpha: Tensor, fg: Tensor, teacher_alpha: Tensor, teacher_fg: Tensor, image: Tensor, plate: Tensor,
                  fake_scores: list[Tensor], weights: Stage2Weights) -> dict[str, Tensor]:
    """The student's stage-2 loss terms and their weighted total.

    Args:
        alpha, fg: student's (B, 1, H, W) alpha in [0, 1] and (B, 3, H, W) encoded straight foreground.
        teacher_alpha, teacher_fg: the teacher's outputs on the same crops (pseudo-labels).
        image, plate: (B, 3, H, W) encoded frame and gain-matched plate.
        fake_scores: the discriminator's maps on the student's composites over new backgrounds.
        weights: term weights.

    Returns:
        Scalar tensors ``pseudo_alpha`` (L1 weighted by the teacher's confidence (2a - 1)^2),
        ``pseudo_fg`` (L1 where the teacher's alpha > 0.5, weighted the same), ``composition``
        (L1 of the linear re-composite against the frame, encoded), ``adversarial`` (LSGAN) and ``total``.
    """
    confidence = (2.0 * teacher_alpha - 1.0) ** 2
    fg_weight = confidence * (teacher_alpha > FG_CONFIDENT_ALPHA).to(confidence.dtype)
    terms = {
        "pseudo_alpha": _weighted_l1(alpha, teacher_alpha, confidence),
        "pseudo_fg": _weighted_l1(fg, teacher_fg, fg_weight),
        "composition": composition_l1(alpha, fg, plate, image),
        "adversarial": lsgan_loss(fake_scores, real=True),
    }
    terms["total"] = sum(getattr(weights, name) * value for name, value in terms.items())
    return terms


def composite_over(alpha: Tensor, fg: Tensor, background: Tensor) -> Tensor:
    """Encoded alpha*F + (1 - alpha)*B, composited in linear light; all (B, C, H, W), F and B encoded."""
    linear = alpha * decode_from_network(fg.clamp(max=MAX_ENCODED)) + (1.0 - alpha) * decode_from_network(background)
    return encode_for_network(linear)


@torch.no_grad()
def recomposition_error(model: Generator, shot: ShotTensors) -> float:
    """Mean re-composition L1 of ``model`` over every frame of the shot, whole frames (a stable yardstick)."""
    device = next(model.parameters()).device
    total = 0.0
    for index in range(len(shot.frames)):
        image, plate, seg, motion = (t.to(device) for t in shot.inputs(slice(index, index + 1)))
        alpha, fg = model(image, plate, seg, motion)
        total += float(composition_l1(alpha, fg, plate, image))
    return total / max(len(shot.frames), 1)


def finetune(model: Generator, shot: ShotTensors, settings: FinetuneSettings) -> tuple[Generator, FinetuneResult]:
    """Adapt ``model`` to the shot: returns the trained student (eval mode) and what the run did.

    The given model becomes the frozen teacher and is not modified. Deterministic for a seed on CPU.
    """
    device = next(model.parameters()).device
    teacher = copy.deepcopy(model).float().eval().requires_grad_(False)
    student = copy.deepcopy(teacher).requires_grad_(True)  # eval mode: BatchNorm statistics stay frozen
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        discriminator = MultiscaleDiscriminator().to(device)
    labels = _teacher_labels(teacher, shot, device)
    optimizer_g = torch.optim.Adam(student.parameters(), lr=settings.lr, betas=(0.5, 0.999))
    optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=settings.lr, betas=(0.5, 0.999))
    rng = np.random.default_rng(settings.seed)
    before = recomposition_error(student, shot)
    history: list[dict[str, float]] = []
    started = time.monotonic()
    for step in range(settings.steps):
        if settings.minutes is not None and time.monotonic() - started >= settings.minutes * 60:
            break
        batch = _crop_batch(shot, labels, settings, rng, device)
        history.append(_step(student, discriminator, optimizer_g, optimizer_d, batch, settings.weights))
        if (step + 1) % 20 == 0:
            log.info("step %d: %s", step + 1, ", ".join(f"{k} {v:.4f}" for k, v in history[-1].items()))
    after = recomposition_error(student, shot)
    tail = history[-10:]
    last = {name: sum(h[name] for h in tail) / len(tail) for name in tail[0]} if tail else {}
    result = FinetuneResult(len(history), round(time.monotonic() - started, 1), last, before, after, history)
    return student.eval(), result


def _teacher_labels(teacher: Generator, shot: ShotTensors, device: torch.device) -> tuple[Tensor, Tensor]:
    """The teacher's alpha (N, 1, h, w) and encoded fg (N, 3, h, w) on whole frames, on the CPU."""
    alphas, fgs = [], []
    with torch.no_grad():
        for index in range(len(shot.frames)):
            alpha, fg = teacher(*(t.to(device) for t in shot.inputs(slice(index, index + 1))))
            alphas.append(alpha.cpu())
            fgs.append(fg.cpu())
    return torch.cat(alphas), torch.cat(fgs)


def _crop_batch(shot: ShotTensors, labels: tuple[Tensor, Tensor], settings: FinetuneSettings,
                rng: np.random.Generator, device: torch.device) -> dict[str, Tensor]:
    """Random crops of random frames, their pseudo-labels, and a new background crop for each."""
    count, _, height, width = shot.image.shape
    size_h, size_w = min(settings.crop, height), min(settings.crop, width)
    parts: dict[str, list[Tensor]] = {}
    for _ in range(settings.batch):
        index = int(rng.integers(count))
        y, x = int(rng.integers(height - size_h + 1)), int(rng.integers(width - size_w + 1))
        window = (slice(index, index + 1), slice(None), slice(y, y + size_h), slice(x, x + size_w))
        other = int(rng.integers(count))
        by, bx = int(rng.integers(height - size_h + 1)), int(rng.integers(width - size_w + 1))
        background = shot.plate[other:other + 1, :, by:by + size_h, bx:bx + size_w]
        if rng.uniform() < 0.5:
            background = background.flip(-1)
        crops = {"image": shot.image[window], "plate": shot.plate[window], "seg": shot.seg[window],
                 "motion": shot.motion[window], "teacher_alpha": labels[0][window], "teacher_fg": labels[1][window],
                 "background": background}
        for name, tensor in crops.items():
            parts.setdefault(name, []).append(tensor)
    return {name: torch.cat(tensors).to(device) for name, tensors in parts.items()}


def _step(student: Generator, discriminator: MultiscaleDiscriminator, optimizer_g: torch.optim.Optimizer,
          optimizer_d: torch.optim.Optimizer, batch: dict[str, Tensor], weights: Stage2Weights) -> dict[str, float]:
    """One generator update, then one discriminator update; returns every term as a float."""
    alpha, fg = student(batch["image"], batch["plate"], batch["seg"], batch["motion"])
    fake = composite_over(alpha, fg, batch["background"])
    discriminator.requires_grad_(False)
    losses = stage2_losses(alpha, fg, batch["teacher_alpha"], batch["teacher_fg"], batch["image"], batch["plate"],
                           discriminator(fake), weights)
    discriminator.requires_grad_(True)
    values = {name: float(value.detach()) for name, value in losses.items()}
    if not math.isfinite(values["total"]):
        log.warning("non-finite loss %s, update skipped", values)
        return values
    optimizer_g.zero_grad(set_to_none=True)
    losses["total"].backward()
    torch.nn.utils.clip_grad_norm_(student.parameters(), GRADIENT_CLIP)
    optimizer_g.step()
    d_loss = 0.5 * (lsgan_loss(discriminator(batch["image"]), real=True)
                    + lsgan_loss(discriminator(fake.detach()), real=False))
    optimizer_d.zero_grad(set_to_none=True)
    d_loss.backward()
    optimizer_d.step()
    values["discriminator"] = float(d_loss.detach())
    return values


def _weighted_l1(predicted: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """Mean L1 weighted per pixel by ``weight`` (B, 1, H, W); 0 when the weights sum to 0."""
    total = ((predicted - target).abs() * weight).sum()
    return total / (weight.sum() * predicted.shape[1]).clamp(min=1e-6)
