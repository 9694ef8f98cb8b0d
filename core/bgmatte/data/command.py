"""Generate a training data bank: procedural elements and plates from a seed, plus wheel photos.

    bgmatte data --out banks/procedural --seed 1 [--elements 600] [--plates 200] [--no-photos]

The same seed and counts give the same files (element i and plate i depend only on the seed and
i). Elements are premultiplied RGBA EXRs, plates RGB EXRs, all scene-linear ACEScg, listed with
their licence and provenance in DIR/index.json (format: bgmatte/data/README.md). Photo plates are
the images inside the scikit-image and scikit-learn wheels (installed packages; nothing is
downloaded). Progress goes to stderr: a bar on a terminal, else a line every 5 %.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from tqdm import tqdm

from bgmatte.data.generate import ELEMENT_SIZE, PLATE_SIZE, generate_bank
from bgmatte.data.plates import PHOTO_SOURCES, photo_path
from bgmatte.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `bgmatte data`."""
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="bank folder to write")
    parser.add_argument("--seed", type=int, default=1, help="bank seed (default 1)")
    parser.add_argument("--elements", type=int, default=600, help="procedural elements (default 600)")
    parser.add_argument("--plates", type=int, default=200, help="procedural plates (default 200)")
    parser.add_argument("--element-size", type=int, default=ELEMENT_SIZE,
                        help=f"element canvas side in pixels (default {ELEMENT_SIZE}; training composes at 2x its crop)")
    parser.add_argument("--plate-size", type=int, default=PLATE_SIZE,
                        help=f"procedural plate side in pixels (default {PLATE_SIZE})")
    parser.add_argument("--no-photos", action="store_true", help="leave out the wheel photos")


def run(args: argparse.Namespace) -> int:
    """Check the options, then write the bank with progress."""
    for name in ("elements", "plates"):
        if getattr(args, name) < 0:
            raise InputError(f"--{name}", "must be 0 or more")
    for name in ("element_size", "plate_size"):
        if getattr(args, name) < 32:
            raise InputError(f"--{name.replace('_', '-')}", "must be at least 32 pixels")
    if args.out.exists() and not args.out.is_dir():
        raise InputError(args.out, "exists and is not a folder")
    if not args.no_photos:
        for source in PHOTO_SOURCES:
            photo_path(source)
    command = shlex.join(["bgmatte", "data", "--out", str(args.out), "--seed", str(args.seed),
                          "--elements", str(args.elements), "--plates", str(args.plates),
                          "--element-size", str(args.element_size), "--plate-size", str(args.plate_size)]
                         + ["--no-photos"] * args.no_photos)
    total = args.elements + args.plates + (0 if args.no_photos else len(PHOTO_SOURCES))
    with tqdm(total=total, unit="file", file=sys.stderr, mininterval=1.0, disable=None) as bar:
        step = max(1, total // 20)

        def progress(done: int, _total: int, name: str) -> None:
            bar.update(1)
            if bar.disable and (done % step == 0 or done == _total):
                print(f"bgmatte data: {done}/{_total} {name}", file=sys.stderr, flush=True)

        index = generate_bank(args.out, args.seed, args.elements, args.plates, photos=not args.no_photos,
                              element_size=args.element_size, plate_size=args.plate_size,
                              progress=progress, command=command)
    print(f"wrote {index}")
    return 0
