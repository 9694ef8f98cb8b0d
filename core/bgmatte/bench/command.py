"""Benchmark seconds per frame and peak memory against the EXR I/O floor, in one run.

Each configuration runs in its own process on the same synthetic frames (made once in a temp
folder): the I/O floor (read frame + plate, OCIO in and out, write RGBA EXR, no matting), a plain
difference key, and bgmatte end to end with its stage breakdown. Figures are ratios against the
floor of this run, so they compare on any machine. Do not run it while training runs.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bgmatte.data.synthetic_shot import ShotRecipe, make_shot
from bgmatte.errors import BgmatteError

SIZES = {"hd": (1920, 1080), "4k": (4096, 2160)}
MODES = ("floor", "diffkey", "bgmatte")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default="hd,4k", help="comma-separated: hd (1920x1080), 4k (4096x2160)")
    parser.add_argument("--frames", type=int, default=4, help="frames per configuration (the first is a warm-up)")
    parser.add_argument("--model", default="default", help="model to benchmark")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")


def _run_worker(mode: str, shot: Path, out: Path, frames: str, model: str) -> dict:
    command = [sys.executable, "-m", "bgmatte.bench.worker", mode, str(shot), str(out), frames, "--model", model]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise BgmatteError(f"bench {mode}", (done.stderr.strip().splitlines() or ["failed"])[-1])
    return json.loads(done.stdout)


def run(args: argparse.Namespace) -> int:
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        raise BgmatteError("--sizes", f"unknown size {unknown[0]!r}; choose from {', '.join(SIZES)}")
    if args.frames < 2:
        raise BgmatteError("--frames", "needs at least 2 frames (the first is a warm-up)")
    results: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="bgmatte-bench-") as tmp:
        for size in sizes:
            width, height = SIZES[size]
            shot = Path(tmp) / size
            print(f"making {args.frames} synthetic {width}x{height} frames ...", file=sys.stderr, flush=True)
            make_shot(shot, ShotRecipe(width=width, height=height, count=args.frames, strands=60))
            frames = f"1001-{1000 + args.frames}"
            results[size] = {}
            for mode in MODES:
                print(f"  {size} {mode} ...", file=sys.stderr, flush=True)
                results[size][mode] = _run_worker(mode, shot, Path(tmp) / f"out-{size}-{mode}", frames, args.model)
    _print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _print_table(results: dict[str, dict[str, dict]]) -> None:
    print(f"{'size':<5} {'configuration':<10} {'s/frame':>8} {'x floor':>8} {'peak RSS MB':>12}  stages (s)")
    for size, modes in results.items():
        floor = modes["floor"]["seconds_per_frame"]
        for mode, r in modes.items():
            stages = " ".join(f"{k}={v:.3f}" for k, v in r["stages"].items())
            print(f"{size:<5} {mode:<10} {r['seconds_per_frame']:>8.3f} {r['seconds_per_frame'] / floor:>8.2f} "
                  f"{r['peak_rss_mb']:>12.0f}  {stages}")
