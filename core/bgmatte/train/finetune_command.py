"""Adapt a model to your own shot without ground truth (the paper's self-supervised stage 2).

Example:
  bgmatte finetune 'shot/plate_v001.####.exr' --plate 'shot/clean.####.exr' -o shot_model.pt --steps 300
  bgmatte matte 'shot/plate_v001.####.exr' --plate 'shot/clean.####.exr' -o 'out/matte.####.exr' \\
      --model ./shot_model.pt

The frames and plate are read exactly as `bgmatte matte` reads them (same colour options, checks
and priors); a long shot is sampled at 16 evenly spaced frames. The loaded model is the frozen
teacher; the written weights (same format as the shipped ones, provenance: stage 2, the shot, this
command) load with `--model PATH`. Deterministic for a --seed on the CPU.

Exit codes: 0 weights written; 2 a check failed (nothing written); 3 a frame could not be read
(nothing written); 130 interrupted.
"""
from __future__ import annotations

import argparse
import logging
import shlex
import sys
from dataclasses import asdict
from pathlib import Path

from bgmatte.errors import InputError, InputErrors
from bgmatte.io import check_writable
from bgmatte.model import create_model, save_weights
from bgmatte.plan import RunPlan, plan_run
from bgmatte.settings import MatteSettings
from bgmatte.train.export import CODE_LICENCE, git_commit
from bgmatte.train.finetune import FinetuneResult, FinetuneSettings, finetune, load_shot, sample_frames

log = logging.getLogger(__name__)

DEFAULTS = FinetuneSettings()
MIN_CROP = 32


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `bgmatte finetune`."""
    parser.add_argument("input", help="frame sequence (####, %%04d, $F4, @) or a single EXR file")
    parser.add_argument("--plate", required=True, help="clean plate: a still for every frame, or a sequence")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="WEIGHTS",
                        help="weights file to write (.pt); use it with `bgmatte matte --model PATH`")
    parser.add_argument("--model", default="default", help="model to start from: registry name or weights file")
    parser.add_argument("--frames", help="1001-1100, 1001-1100x2 or 1001,1005,1010-1020 (default: all on disk)")
    parser.add_argument("--steps", type=int, default=DEFAULTS.steps, help=f"training steps (default {DEFAULTS.steps})")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help=f"random seed (default {DEFAULTS.seed})")
    parser.add_argument("--crop", type=int, default=DEFAULTS.crop,
                        help=f"training crop at working resolution, pixels (default {DEFAULTS.crop})")
    parser.add_argument("--minutes", type=float, help="stop after this many minutes even before --steps")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--colorspace", help="input colourspace (default: the config's scene_linear role)")
    parser.add_argument("--ocio", help="OCIO config path or ocio:// name (default: $OCIO, else the bundled config)")


def run(args: argparse.Namespace) -> int:
    """Check everything, read the shot, fine-tune, write the weights atomically."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = MatteSettings(colorspace=args.colorspace, ocio=args.ocio)
    plan = _checked_plan(args, settings)
    model = create_model(args.model, device=args.device, precision="fp32")
    train_settings = FinetuneSettings(steps=args.steps, seed=args.seed, crop=args.crop, minutes=args.minutes)
    shot = load_shot(plan, settings, model.config.working_size)
    log.info("fine-tuning on %d frames (%dx%d working) for %d steps", len(shot.frames), shot.image.shape[-1],
             shot.image.shape[-2], train_settings.steps)
    student, result = finetune(model, shot, train_settings)
    provenance = _provenance(args, model.provenance, plan, train_settings, result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    save_weights(args.output, student, provenance)
    print(f"{result.steps} steps in {result.seconds:.0f} s; re-composition error "
          f"{result.composition_before:.4f} -> {result.composition_after:.4f}; wrote {args.output}", file=sys.stderr)
    return 0


def _checked_plan(args: argparse.Namespace, settings: MatteSettings) -> RunPlan:
    """Every pre-write check (options, output, the shot as `bgmatte matte` checks it), all reported together.

    Raises:
        InputErrors: one entry per problem (exit 2).
    """
    errors: list[InputError] = []
    if args.steps < 1:
        errors.append(InputError("--steps", f"must be at least 1, got {args.steps}"))
    if args.crop < MIN_CROP:
        errors.append(InputError("--crop", f"must be at least {MIN_CROP} pixels, got {args.crop}"))
    if args.minutes is not None and args.minutes <= 0:
        errors.append(InputError("--minutes", f"must be positive, got {args.minutes}"))
    output: Path = args.output
    if output.suffix != ".pt":
        errors.append(InputError(output, "the weights file must end in .pt (so that --model reads it as a path)"))
    elif Path(args.model).exists() and output.resolve() == Path(args.model).resolve():
        errors.append(InputError(output, "would overwrite the --model it starts from; choose another path"))
    try:
        check_writable(output.parent)
    except InputError as error:
        errors.append(error)
    # plan_run checks frames and plates exactly as `bgmatte matte` does; it needs an EXR output
    # pattern, so it is given one beside the weights, which is never written.
    probe = str(output.parent / f"{output.stem}.finetune-check.####.exr")
    plan = None
    try:
        plan = plan_run(args.input, args.plate, probe, settings, frames=args.frames)
    except InputErrors as problems:
        errors += problems.errors
    except InputError as problem:
        errors.append(problem)
    if errors:
        raise InputErrors(errors)
    subset = sample_frames(plan.frames)
    if subset != plan.frames:
        plan = plan_run(args.input, args.plate, probe, settings, frames=subset)
    return plan


def _provenance(args: argparse.Namespace, base: dict, plan: RunPlan, settings: FinetuneSettings,
                result: FinetuneResult) -> dict:
    """Plain-type provenance: stage 2, the shot, the command, the base model's own provenance."""
    return {
        "stage": "stage 2 (self-supervised on one shot: teacher pseudo-labels, re-composition, PatchGAN)",
        "command": _command_line(args),
        "shot": {"input": args.input, "plate": args.plate, "frames": list(plan.frames),
                 "colorspace": args.colorspace, "ocio": args.ocio},
        "base_model": {"name": args.model, "provenance": base},
        "settings": asdict(settings),
        "licence": f"{CODE_LICENCE} (code); the weights derive from the base model (see base_model) and the shot",
        "commit": git_commit(),
        "training": {"steps": result.steps, "seconds": result.seconds, "last_losses": result.last_losses,
                     "composition_before": result.composition_before, "composition_after": result.composition_after},
    }


def _command_line(args: argparse.Namespace) -> str:
    """The `bgmatte finetune` command that reproduces this run."""
    words = ["bgmatte", "finetune", args.input, "--plate", args.plate, "-o", str(args.output), "--model", args.model]
    for name in ("frames", "steps", "seed", "crop", "minutes", "device", "colorspace", "ocio"):
        value = getattr(args, name)
        if value is not None:
            words += [f"--{name}", str(value)]
    return shlex.join(words)
