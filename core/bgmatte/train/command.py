"""Train the generator on synthetic composites (stage 1), resumably; or export a run's weights.

Start a run:      bgmatte train --data BANK [--data BANK2] --out RUN_DIR [--config small] [--minutes 60]
Grow a model:     bgmatte train --data BANK --out RUN_DIR --config detail --init-from default
Continue it:      bgmatte train --out RUN_DIR --resume [--minutes 60] [--data BANK ... to change the banks]
Ship its weights: bgmatte train --out RUN_DIR --export weights.pt

A run folder holds checkpoint.pt (rewritten atomically every --checkpoint-minutes and at the end;
SIGTERM also checkpoints) and log.jsonl (one JSON line per --log-every steps, one per validation).
Samples are composed on the fly from the banks made by `bgmatte data`; sample i depends only on
(--seed, i), so --resume continues exactly where the checkpoint left off. With --resume and no
checkpoint yet, a new run starts (one command line serves every session of a long training).
On resume, --data, --lr, --workers, --threads, --device, --checkpoint-minutes and --log-every may change
(each change is logged in log.jsonl); config, seed, batch and crop stay the run's.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from bgmatte.data.dataset import quiet_expected_warnings
from bgmatte.train.export import export_weights
from bgmatte.train.run_folder import reproducing_command
from bgmatte.train.stage1 import RESUME_OVERRIDABLE, Stage1Settings, train_stage1

log = logging.getLogger(__name__)

DEFAULTS = Stage1Settings(data=[])
COMMAND_OPTIONS = ("config", "seed", "batch", "crop", "lr", "band_loss", "workers", "threads", "device", "checkpoint_minutes",
                   "log_every", "init_from", "minutes", "steps")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `bgmatte train`."""
    parser.add_argument("--out", required=True, type=Path, metavar="RUN_DIR", help="run folder (checkpoint, log)")
    parser.add_argument("--data", action="append", metavar="BANK", help="bank folder from `bgmatte data` (repeatable)")
    parser.add_argument("--config", help=f"generator config name (default {DEFAULTS.config})")
    parser.add_argument("--seed", type=int, help=f"sample stream seed (default {DEFAULTS.seed})")
    parser.add_argument("--batch", type=int, help=f"samples per step (default {DEFAULTS.batch})")
    parser.add_argument("--crop", type=int, help=f"training crop in pixels (default {DEFAULTS.crop})")
    parser.add_argument("--lr", type=float, help=f"Adam learning rate (default {DEFAULTS.lr})")
    parser.add_argument("--band-loss", type=float, metavar="WEIGHT",
                        help="weight of the alpha L1 over the truth's unknown band (veils, holes, strands; "
                             f"default {DEFAULTS.loss_weights['band_alpha']}); may change on resume")
    parser.add_argument("--workers", type=int, help=f"data worker processes (default {DEFAULTS.workers})")
    parser.add_argument("--threads", type=int, help=f"torch threads of the training process (default {DEFAULTS.threads})")
    parser.add_argument("--device", help=f"cpu, cuda or auto (default {DEFAULTS.device})")
    parser.add_argument("--checkpoint-minutes", type=float,
                        help=f"minutes between checkpoints (default {DEFAULTS.checkpoint_minutes})")
    parser.add_argument("--log-every", type=int, help=f"steps per log line (default {DEFAULTS.log_every})")
    parser.add_argument("--init-from", metavar="WEIGHTS",
                        help="a new run starts from these weights (a file or \"default\"), grown to --config "
                             "where it adds inputs (e.g. small -> detail); ignored on resume")
    parser.add_argument("--minutes", type=float, help="stop (with a checkpoint) after this many minutes")
    parser.add_argument("--steps", type=int, help="stop (with a checkpoint) when the run reaches this step")
    parser.add_argument("--resume", action="store_true", help="continue RUN_DIR/checkpoint.pt if it exists")
    parser.add_argument("--export", type=Path, metavar="WEIGHTS",
                        help="write the run's model as a weights file (with provenance) and exit")


def run(args: argparse.Namespace) -> int:
    """Train, resume or export as the arguments say."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_expected_warnings()
    if args.export is not None:
        path = export_weights(args.out, args.export)
        print(f"wrote {path}")
        return 0
    given = {name: getattr(args, name) for name in ("config", "seed", "batch", "crop", "lr", "workers", "threads", "device",
                                                     "checkpoint_minutes", "log_every", "init_from")}
    given["loss_weights"] = None if args.band_loss is None else {"band_alpha": args.band_loss}
    settings = None
    if args.data:
        values = {name: value for name, value in given.items() if value is not None}
        if "loss_weights" in values:
            values["loss_weights"] = {**DEFAULTS.loss_weights, **values["loss_weights"]}
        settings = Stage1Settings(data=[str(path) for path in args.data], command=reproducing_command("train", args, COMMAND_OPTIONS), **values)
    overrides = {name: value for name, value in given.items() if name in RESUME_OVERRIDABLE and value is not None}
    if args.data:
        overrides["data"] = [str(path) for path in args.data]
    fixed = [name for name, value in given.items() if name not in RESUME_OVERRIDABLE and value is not None]
    if args.resume and (args.out / "checkpoint.pt").is_file() and fixed:
        log.info("resuming: the run's stored settings are kept (%s ignored)", ", ".join(f"--{name}" for name in fixed))
    summary = train_stage1(args.out, settings, resume=args.resume, minutes=args.minutes, max_steps=args.steps,
                           overrides=overrides)
    print(f"step {summary.step}, {summary.data_position} samples, {summary.seconds:.0f} s trained; "
          f"checkpoint {args.out / 'checkpoint.pt'}")
    return 0
