"""Measure matte quality against the classic peers on a held-out validation set, in one table.

    bgmatte data --validation --out val            # make the set once (tune/ and test/ splits)
    bgmatte benchmark val [--model default] [--methods bgmatte,closed_form] [--json result.json] [--sheet val.png]
    bgmatte benchmark val --model new.pt --peers-from result.json   # new weights, the peers' scores reused

Runs bgmatte, the plain difference key, closed-form matting (pymatting, trimap from the plate
difference) and Blender's Difference Key node (through bpy). The peers' thresholds are
grid-searched on tune/; every method is scored on test/: SAD, MSE, Grad, Conn over the whole image
and the unknown band, dtSSD and MESSDdt over the sequences, seconds per frame, and bgmatte's SAD
and Grad as a ratio of the best peer's, then every method's scores per test shot, per class (the
shot's class in a photographic set, ``bgmatte data --validation --photographic``; else the element
kind) and per frame size, with seconds per frame at each size, and the test frames where bgmatte's
SAD is over twice the best peer's. ``--peers-from`` takes the peers' results from an earlier
``--json`` of the same set instead of running them again. Progress lines go
to stderr, the table to stdout; ``--sheet`` writes bgmatte's matte of each test shot as a contact sheet.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bgmatte.errors import InputError
from bgmatte.eval.benchmark import METHODS, format_table, run_benchmark
from bgmatte.eval.contact_sheet import sheet_path_problem
from bgmatte.io.atomic import atomic_output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `bgmatte benchmark`."""
    parser.add_argument("folder", type=Path, metavar="VALIDATION_DIR", help="a set made by bgmatte data --validation")
    parser.add_argument("--model", default="default", help="bgmatte weights: registry name or path (default: default)")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"comma-separated methods to run (default: all of {','.join(METHODS)})")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the full result as JSON")
    parser.add_argument("--peers-from", type=Path, metavar="FILE",
                        help="take the peers' results from this earlier --json of the same set instead of "
                             "running them (only bgmatte runs; the set's index.json must be unchanged)")
    parser.add_argument("--sheet", type=Path, metavar="PNG",
                        help="write a contact sheet of bgmatte on each test shot: frame | matte | comp "
                             "(one per frame size: other sizes go next to it as NAME_WxH.png)")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark, print the table, write the JSON when asked."""
    problem = args.sheet and sheet_path_problem(args.sheet)
    if problem:
        raise problem
    if args.json and args.peers_from and args.json.resolve() == args.peers_from.resolve():
        raise InputError(args.json, "is the --peers-from input; write the new result to another file")
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    result = run_benchmark(args.folder, model=args.model, methods=methods,
                           progress=lambda line: print(f"bgmatte benchmark: {line}", file=sys.stderr, flush=True),
                           sheet=args.sheet, peers_from=args.peers_from)
    print(format_table(result))
    if args.json:
        with atomic_output(args.json) as temp:
            temp.write_text(json.dumps(result, indent=1))
    return 0
