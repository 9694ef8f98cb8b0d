"""Generate a training data bank: procedural elements and plates from a seed, plus wheel photos.

    bgmatte data --out banks/procedural --seed 1 [--elements 600] [--plates 200] [--no-photos]
    bgmatte data --out banks/films --seed 5 --kinds film --weight 0.3 --elements 300 --plates 0 --no-photos
    bgmatte data --validation --out val [--seed 1000] [--size 384] [--stills 12] [--sequences 3]
    bgmatte data --validation --photographic --out val_photo [--seed 2000] [--size 320] [--stills 14]
        [--full-stills 7] [--full-size 1920x1080] [--sequences 3] [--sources all|hdri] [--photo-root DIR]

The same seed and counts give the same files (element i and plate i depend only on the seed and
i). Elements are premultiplied RGBA EXRs, plates RGB EXRs, all scene-linear ACEScg, listed with
their licence and provenance in DIR/index.json (format: bgmatte/data/README.md). Photo plates are
the images inside the scikit-image and scikit-learn wheels (installed packages; nothing is
downloaded). With --validation it writes instead a held-out validation set of shots (frames,
clean plate, true alpha; tune/ and test/ splits) whose elements and plates no bank holds, for
`bgmatte benchmark` (format: bgmatte/data/validation.py). With --validation --photographic the
shots are built from held-out photographs instead (plates and textures from the catalogue's
validation split, real capture defects, failure classes, full-resolution stills; see
bgmatte/data/photo_validation.py). Progress goes to stderr: a bar on a terminal, else a line every 5 %.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from bgmatte.data.elements import KINDS, OPT_IN_KINDS
from bgmatte.data.generate import ELEMENT_SIZE, PLATE_SIZE, catalogue_training_photos, generate_bank
from bgmatte.data.photo_validation import PHOTO_SEED, SOURCE_SETS, PhotoRecipe, generate_photo_validation
from bgmatte.data.plates import PHOTO_SOURCES, photo_path
from bgmatte.data.validation import VALIDATION_SEED, ValidationRecipe, generate_validation
from bgmatte.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `bgmatte data`."""
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="bank folder to write")
    parser.add_argument("--seed", type=int, default=None,
                        help=f"bank seed (default 1; {VALIDATION_SEED} with --validation)")
    parser.add_argument("--elements", type=int, default=600, help="procedural elements (default 600)")
    parser.add_argument("--plates", type=int, default=200, help="procedural plates (default 200)")
    parser.add_argument("--element-size", type=int, default=ELEMENT_SIZE,
                        help=f"element canvas side in pixels (default {ELEMENT_SIZE}; training composes at 2x its crop)")
    parser.add_argument("--plate-size", type=int, default=PLATE_SIZE,
                        help=f"procedural plate side in pixels (default {PLATE_SIZE})")
    parser.add_argument("--kinds", default="", metavar="K1,K2",
                        help=f"element kinds drawn in turn, among {', '.join(KINDS + OPT_IN_KINDS)} "
                             "(default: the usual mix, which has no film)")
    parser.add_argument("--weight", type=float, default=1.0,
                        help="the bank's relative chance of giving a training sample its element "
                             "(default 1: as often as any other element bank)")
    parser.add_argument("--no-photos", action="store_true", help="leave out the wheel photos")
    parser.add_argument("--catalogue-photos", action="store_true",
                        help="also the training split of the photo catalogue (Debian wallpaper photographs "
                             "and five bpy HDRIs; needs: apt-get install --no-install-recommends mate-backgrounds "
                             "plasma-workspace-wallpapers lxqt-themes)")
    group = parser.add_argument_group("validation set (--validation)")
    group.add_argument("--validation", action="store_true",
                       help="write a held-out validation set of shots instead of a training bank")
    group.add_argument("--size", type=int, default=None,
                       help=f"frame side in pixels, 64-512 (default {ValidationRecipe.size}; "
                            f"--photographic: 64-1024, default {PhotoRecipe.size})")
    group.add_argument("--stills", type=int, default=None,
                       help=f"one-frame shots (default {ValidationRecipe.stills}, "
                            f"{ValidationRecipe.tune_stills} for tuning; --photographic: {PhotoRecipe.stills})")
    group.add_argument("--sequences", type=int, default=ValidationRecipe.sequences,
                       help=f"{ValidationRecipe.sequence_frames}-frame moving shots "
                            f"(default {ValidationRecipe.sequences}, "
                            f"{ValidationRecipe.tune_sequences} for tuning)")
    group.add_argument("--photographic", "--real", action="store_true",
                       help="build the shots from held-out photographs (Debian lomiri wallpapers and three "
                            "bpy HDRIs, never used in training) with real capture defects, failure classes "
                            "(sheets, lattices, fine hair, plate-coloured, chrome, close-ups) and "
                            "full-resolution stills")
    group.add_argument("--full-stills", type=int, default=PhotoRecipe.full_stills,
                       help=f"--photographic: full-resolution stills, all in test/ (default {PhotoRecipe.full_stills})")
    group.add_argument("--full-size", default=f"{PhotoRecipe.full_width}x{PhotoRecipe.full_height}", metavar="WxH",
                       help=f"--photographic: full resolution (default {PhotoRecipe.full_width}x{PhotoRecipe.full_height})")
    group.add_argument("--sources", choices=SOURCE_SETS, default="all",
                       help="--photographic: all held-out photos and HDRIs (needs the Debian packages; default) "
                            "or the three held-out bpy HDRIs alone")
    group.add_argument("--photo-root", type=Path, metavar="DIR",
                       help="--photographic: find the Debian packages' files under DIR (a chroot, or "
                            "dpkg-deb -x output) instead of /")


def _progress_printer(bar: tqdm, total: int) -> Callable[[int, int, str], None]:
    """A progress callback that moves the bar, or prints a line every 5 % when there is no terminal."""
    step = max(1, total // 20)

    def progress(done: int, _total: int, name: str) -> None:
        bar.update(1)
        if bar.disable and (done % step == 0 or done == _total):
            print(f"bgmatte data: {done}/{_total} {name}", file=sys.stderr, flush=True)

    return progress


def _full_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError("--full-size", f"{text!r} is not WIDTHxHEIGHT, e.g. 1920x1080") from None
    return width, height


def run_photographic(args: argparse.Namespace) -> int:
    """Write the photographic held-out validation set."""
    seed = PHOTO_SEED if args.seed is None else args.seed
    size = PhotoRecipe.size if args.size is None else args.size
    stills = PhotoRecipe.stills if args.stills is None else args.stills
    width, height = _full_size(args.full_size)
    recipe = PhotoRecipe(seed=seed, size=size, stills=stills, full_stills=args.full_stills, full_width=width,
                         full_height=height, sequences=args.sequences,
                         tune_stills=min(PhotoRecipe.tune_stills, max(0, stills // 3)),
                         tune_sequences=min(PhotoRecipe.tune_sequences, max(0, args.sequences // 2)),
                         sources=args.sources)
    if args.out.exists() and not args.out.is_dir():
        raise InputError(args.out, "exists and is not a folder")
    command = shlex.join(["bgmatte", "data", "--validation", "--photographic", "--out", str(args.out),
                          "--seed", str(seed), "--size", str(size), "--stills", str(stills),
                          "--full-stills", str(args.full_stills), "--full-size", f"{width}x{height}",
                          "--sequences", str(args.sequences), "--sources", args.sources]
                         + (["--photo-root", str(args.photo_root)] if args.photo_root else []))
    total = stills + args.full_stills + args.sequences
    with tqdm(total=total, unit="shot", file=sys.stderr, mininterval=1.0, disable=None) as bar:
        index = generate_photo_validation(args.out, recipe, progress=_progress_printer(bar, total),
                                          command=command, deb_root=args.photo_root)
    print(f"wrote {index}")
    return 0


def run_validation(args: argparse.Namespace) -> int:
    """Write the held-out validation set."""
    if args.photographic:
        return run_photographic(args)
    seed = VALIDATION_SEED if args.seed is None else args.seed
    args.size = ValidationRecipe.size if args.size is None else args.size
    args.stills = ValidationRecipe.stills if args.stills is None else args.stills
    stills, sequences = args.stills, args.sequences
    recipe = ValidationRecipe(seed=seed, size=args.size, stills=stills, sequences=sequences,
                              tune_stills=min(ValidationRecipe.tune_stills, stills // 3),
                              tune_sequences=min(ValidationRecipe.tune_sequences, sequences // 2))
    if args.out.exists() and not args.out.is_dir():
        raise InputError(args.out, "exists and is not a folder")
    command = shlex.join(["bgmatte", "data", "--validation", "--out", str(args.out), "--seed", str(seed),
                          "--size", str(args.size), "--stills", str(stills), "--sequences", str(sequences)])
    with tqdm(total=stills + sequences, unit="shot", file=sys.stderr, mininterval=1.0, disable=None) as bar:
        index = generate_validation(args.out, recipe, progress=_progress_printer(bar, stills + sequences),
                                    command=command)
    print(f"wrote {index}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Check the options, then write the bank (or the validation set) with progress."""
    if args.validation:
        return run_validation(args)
    if args.photographic:
        raise InputError("--photographic", "only with --validation (a photographic validation set)")
    args.seed = 1 if args.seed is None else args.seed
    for name in ("elements", "plates"):
        if getattr(args, name) < 0:
            raise InputError(f"--{name}", "must be 0 or more")
    for name in ("element_size", "plate_size"):
        if getattr(args, name) < 32:
            raise InputError(f"--{name.replace('_', '-')}", "must be at least 32 pixels")
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS + OPT_IN_KINDS]
    if unknown:
        raise InputError("--kinds", f"unknown kind(s) {', '.join(unknown)}; choose from {', '.join(KINDS + OPT_IN_KINDS)}")
    if not args.weight > 0:
        raise InputError("--weight", "must be more than 0")
    if args.out.exists() and not args.out.is_dir():
        raise InputError(args.out, "exists and is not a folder")
    if not args.no_photos:
        for source in PHOTO_SOURCES:
            photo_path(source)
    extra = len(catalogue_training_photos()) if args.catalogue_photos else 0
    command = shlex.join(["bgmatte", "data", "--out", str(args.out), "--seed", str(args.seed),
                          "--elements", str(args.elements), "--plates", str(args.plates),
                          "--element-size", str(args.element_size), "--plate-size", str(args.plate_size)]
                         + ["--no-photos"] * args.no_photos + ["--catalogue-photos"] * args.catalogue_photos
                         + (["--kinds", ",".join(kinds)] if kinds else [])
                         + (["--weight", str(args.weight)] if args.weight != 1.0 else []))
    total = args.elements + args.plates + (0 if args.no_photos else len(PHOTO_SOURCES)) + extra
    with tqdm(total=total, unit="file", file=sys.stderr, mininterval=1.0, disable=None) as bar:
        index = generate_bank(args.out, args.seed, args.elements, args.plates, photos=not args.no_photos,
                              element_size=args.element_size, plate_size=args.plate_size,
                              progress=_progress_printer(bar, total), command=command,
                              catalogue=args.catalogue_photos, kinds=kinds, weight=args.weight)
    print(f"wrote {index}")
    return 0
