"""Train the learned full-resolution refiner against a frozen generator (resumably), or ship the pair.

Start a run:      bgmatte train-refiner --data BANK [--data BANK2] --out RUN_DIR [--generator default] [--minutes 60]
Continue it:      bgmatte train-refiner --out RUN_DIR --resume [--minutes 60]
Ship the pair:    bgmatte train-refiner --out RUN_DIR --export weights.pt [--working-size 768]

Samples are full-resolution composites from the banks of `bgmatte data`, matted by the frozen
generator at a 2.5-4.5x smaller working size exactly as `bgmatte matte` mattes a frame; the refiner
learns to correct the analytic alpha on the patches where it is fractional. The run folder holds
checkpoint.pt (every --checkpoint-minutes, at the end and on SIGTERM) and log.jsonl (losses, and at
each checkpoint the held-out patches' loss next to the analytic alpha's). The export is one weights
file: the generator with the refiner inside (config refiner_width), loadable with --model PATH.
"""
from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path

from bgmatte.data.dataset import quiet_expected_warnings
from bgmatte.errors import InputError
from bgmatte.model.refiner import PATCH
from bgmatte.train.refiner import RESUME_OVERRIDABLE, RefinerSettings, export_with_refiner, train_refiner
from bgmatte.train.run_folder import reproducing_command

DEFAULTS = RefinerSettings()
OPTIONS = ("generator", "width", "seed", "batch", "patches_per_sample", "sizes", "supersample", "ratios",
           "init_from", "lr", "workers", "threads", "checkpoint_minutes", "log_every")


def _pair(kind: type) -> Callable[[str], list]:
    """An argparse type for 'SMALLEST,LARGEST'."""
    def parse(text: str) -> list:
        parts = text.split(",")
        if len(parts) != 2:
            raise argparse.ArgumentTypeError(f"expected SMALLEST,LARGEST, got {text!r}")
        return [kind(part) for part in parts]
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `bgmatte train-refiner`."""
    parser.add_argument("--out", required=True, type=Path, metavar="RUN_DIR", help="run folder (checkpoint, log)")
    parser.add_argument("--data", action="append", metavar="BANK", help="bank folder from `bgmatte data` (repeatable)")
    parser.add_argument("--generator", help=f"frozen generator: default or a weights file (default {DEFAULTS.generator})")
    parser.add_argument("--width", type=int, help=f"refiner hidden channels (default {DEFAULTS.width})")
    parser.add_argument("--seed", type=int, help=f"sample stream seed (default {DEFAULTS.seed})")
    parser.add_argument("--batch", type=int, help=f"samples per step (default {DEFAULTS.batch})")
    parser.add_argument("--patches-per-sample", type=int,
                        help=f"patches drawn per sample (default {DEFAULTS.patches_per_sample})")
    parser.add_argument("--sizes", type=_pair(int), metavar="MIN,MAX",
                        help=f"sample side in {PATCH} px patches (default {','.join(map(str, DEFAULTS.sizes))})")
    parser.add_argument("--supersample", type=int,
                        help=f"scenes drawn at this multiple of the side, then averaged (default {DEFAULTS.supersample})")
    parser.add_argument("--ratios", type=_pair(float), metavar="MIN,MAX",
                        help=f"full resolution / working size (default {','.join(map(str, DEFAULTS.ratios))})")
    parser.add_argument("--init-from", metavar="RUN_DIR", help="a new run starts from this refiner run's weights")
    parser.add_argument("--lr", type=float, help=f"Adam learning rate (default {DEFAULTS.lr})")
    parser.add_argument("--workers", type=int, help=f"data worker processes (default {DEFAULTS.workers})")
    parser.add_argument("--threads", type=int, help=f"torch threads of the training process (default {DEFAULTS.threads})")
    parser.add_argument("--checkpoint-minutes", type=float,
                        help=f"minutes between checkpoints (default {DEFAULTS.checkpoint_minutes})")
    parser.add_argument("--log-every", type=int, help=f"steps per log line (default {DEFAULTS.log_every})")
    parser.add_argument("--minutes", type=float, help="stop (with a checkpoint) after this many minutes")
    parser.add_argument("--steps", type=int, help="stop (with a checkpoint) when the run reaches this step")
    parser.add_argument("--resume", action="store_true", help="continue RUN_DIR/checkpoint.pt if it exists")
    parser.add_argument("--export", type=Path, metavar="WEIGHTS",
                        help="write the generator with the run's refiner as one weights file and exit")
    parser.add_argument("--working-size", type=int, metavar="PIXELS",
                        help="with --export: the shipped working size (longest side; default the generator's)")


def run(args: argparse.Namespace) -> int:
    """Train, resume or export as the arguments say."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_expected_warnings()
    if args.working_size is not None and args.export is None:
        raise InputError("--working-size", "only applies with --export")
    if args.export is not None:
        print(f"wrote {export_with_refiner(args.out, args.export, args.working_size)}")
        return 0
    given = {name: getattr(args, name) for name in OPTIONS if getattr(args, name) is not None}
    settings = None
    if args.data:
        settings = RefinerSettings(data=[str(path) for path in args.data], command=reproducing_command("train-refiner", args, (*OPTIONS, "minutes", "steps")), **given)
    overrides = {name: value for name, value in given.items() if name in RESUME_OVERRIDABLE}
    if args.data:
        overrides["data"] = [str(path) for path in args.data]
    record = train_refiner(args.out, settings, resume=args.resume, minutes=args.minutes, max_steps=args.steps,
                           overrides=overrides)
    print(f"step {record['step']}, {record['samples']} samples; validation {record['validation']}; "
          f"checkpoint {args.out / 'checkpoint.pt'}")
    return 0
