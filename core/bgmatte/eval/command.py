"""Score predicted mattes against ground truth (SAD, MSE, Grad, Conn, foreground error, dtSSD, MESSDdt).

PRED is a matte sequence (RGBA EXR, alpha from A, or single channel), TRUTH the ground truth
(single channel, or RGBA whose RGB is the true premultiplied foreground). Each frame is scored over
the whole image and over the unknown band: the grey pixels of --trimap, else the truth's
0 < alpha < 1 dilated by 10 px. Metrics follow Composition-1k (Xu et al. 2017): SAD, Grad and
Conn in thousands, MSE x 1000; fg is the premultiplied-foreground MSE x 1000 where the true alpha
is above 0 (needs RGB in both); dtSSD (x 100) and MESSDdt (x 1000, zero motion) follow Erofeev et
al. 2015 and need two frames or more. The JSON lists every frame and the units.

examples:
  bgmatte eval 'out/matte.####.exr' 'truth/alpha.####.exr'
  bgmatte eval 'out/matte.####.exr' 'truth/alpha.####.exr' --frames 1001-1050 --json scores.json
  bgmatte eval 'out/matte.####.exr' 'truth/alpha.####.exr' --frame 'shot/frame.####.exr' --sheet sheet.png
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bgmatte.errors import InputError, InputErrors
from bgmatte.eval.contact_sheet import sheet_path_problem, write_contact_sheet
from bgmatte.eval.evaluate import EvalPlan, evaluate_plan, has_rgb, plan_evaluation, read_alpha, read_premult
from bgmatte.io import atomic_output, check_writable, read_header, read_rgb
from bgmatte.sequence import FramePattern, parse_frame_spec

SHEET_ROWS = 4  # frames on the contact sheet, spread over the sequence


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `bgmatte eval`."""
    parser.add_argument("pred", metavar="PRED", help="predicted mattes, e.g. 'out/matte.####.exr'")
    parser.add_argument("truth", metavar="TRUTH", help="ground-truth mattes, e.g. 'truth/alpha.####.exr'")
    parser.add_argument("--trimap", metavar="PATTERN",
                        help="trimaps (0 / 0.5 / 1) whose grey pixels are the unknown band "
                             "(default: the truth's 0 < alpha < 1, dilated by 10 px)")
    parser.add_argument("--frames", metavar="SPEC",
                        help="frames to score, e.g. 1001-1100, 1001-1100x2, 1001,1005 "
                             "(default: first to last PRED frame on disk)")
    parser.add_argument("--json", metavar="FILE", help="also write every score (per frame and mean) as JSON")
    parser.add_argument("--frame", metavar="PATTERN",
                        help="the source frames, shown in the first column of --sheet")
    parser.add_argument("--sheet", metavar="PNG",
                        help=f"write a contact sheet of up to {SHEET_ROWS} frames: frame | matte | comp "
                             "over a checkerboard (sRGB)")


def sheet_frames(frames: list[int], count: int = SHEET_ROWS) -> list[int]:
    """Up to `count` frames spread evenly over `frames`, first and last included."""
    picks = np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)
    return [frames[i] for i in sorted(set(picks.tolist()))]


def _check_sheet(args: argparse.Namespace, plan: EvalPlan) -> list[InputError]:
    """Problems with --sheet / --frame: missing partner option, bad path, missing or mismatched frames."""
    if args.sheet is None and args.frame is None:
        return []
    if args.sheet is None:
        return [InputError("--frame", "is only used with --sheet PNG")]
    if args.frame is None:
        return [InputError("--sheet", "needs --frame PATTERN, the source frames to show")]
    errors: list[InputError] = []
    problem = sheet_path_problem(args.sheet)
    if problem:
        errors.append(problem)
    source = FramePattern(args.frame)
    for frame in sheet_frames(plan.frames):
        path = source.path(frame)
        if not path.exists():
            errors.append(InputError(path, f"missing source frame {frame}"))
            continue
        try:
            header = read_header(path)
        except InputError as error:
            errors.append(error)
            continue
        size = (header.display_window.width, header.display_window.height)
        if size != (plan.width, plan.height):
            errors.append(InputError(path, f"is {size[0]}x{size[1]}, the predictions are {plan.width}x{plan.height}"))
        elif not has_rgb(header):
            errors.append(InputError(path, f"has channels ({', '.join(header.channels)}); "
                                           "the source frame needs R, G and B"))
    return errors


def _check_outputs(args: argparse.Namespace) -> list[InputError]:
    """Problems with the folders that --json and --sheet write into."""
    errors: list[InputError] = []
    for option in (args.json, args.sheet):
        if option is None:
            continue
        try:
            check_writable(Path(option).parent)
        except InputError as error:
            errors.append(error)
    return errors


def _sheet_rows(plan: EvalPlan, source: FramePattern) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(frame RGB, predicted alpha, predicted premult RGB) for the sheet's frames.

    A single-channel prediction has no RGB: its comp shows the source frame times the alpha.
    """
    rows = []
    for frame in sheet_frames(plan.frames):
        frame_path = source.path(frame)
        frame_rgb = read_rgb(frame_path, read_header(frame_path).display_window)
        alpha = read_alpha(plan.pred.path(frame))
        premult = read_premult(plan.pred.path(frame)) if plan.pred_has_rgb else frame_rgb * alpha[..., None]
        rows.append((frame_rgb, alpha, premult))
    return rows


def _number(value: float | None) -> str:
    return f"{value:>10.4g}" if value is not None else f"{'-':>10}"


def format_table(result: dict) -> str:
    """The compact summary printed on stdout: mean metrics per region, fg error, temporal metrics."""
    frames = result["frames"]
    span = f"{frames[0]}-{frames[-1]}" if len(frames) > 1 else f"{frames[0]}"
    lines = [f"{len(frames)} frame{'s' if len(frames) > 1 else ''} ({span}); unknown band: {result['unknown_region']}",
             f"{'region':<8}" + "".join(f"{name:>10}" for name in ("SAD", "MSE", "Grad", "Conn"))]
    for region in ("whole", "unknown"):
        scores = result["mean"][region]
        lines.append(f"{region:<8}" + "".join(_number(scores[name]) for name in ("sad", "mse", "grad", "conn")))
    temporal = result["temporal"] or {"dtssd": None, "messddt": None}
    lines.append(f"{'fg MSE':<8}{_number(result['mean']['fg_mse'])}"
                 f"{'dtSSD':>10}{_number(temporal['dtssd'])}{'MESSDdt':>10}{_number(temporal['messddt'])}")
    return "\n".join(lines)


def _write_json(path: Path, result: dict) -> None:
    """Write the result as indented JSON, atomically."""
    with atomic_output(path) as temp:
        temp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def run(args: argparse.Namespace) -> int:
    """Check every input, score the frames, print the table, write --json and --sheet."""
    frames = parse_frame_spec(args.frames) if args.frames else None
    plan = plan_evaluation(args.pred, args.truth, frames, args.trimap)
    errors = _check_sheet(args, plan) + _check_outputs(args)
    if errors:
        raise InputErrors(errors)
    with tqdm(total=len(plan.frames), unit="frame", disable=not sys.stderr.isatty(), leave=False) as bar:
        result = evaluate_plan(plan, progress=lambda _frame: bar.update())
    print(format_table(result))
    if args.json:
        _write_json(Path(args.json), result)
    if args.sheet:
        write_contact_sheet(args.sheet, _sheet_rows(plan, FramePattern(args.frame)))
    return 0
