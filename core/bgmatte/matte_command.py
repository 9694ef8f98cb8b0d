"""Pull a premultiplied RGBA matte from a frame sequence and its clean plate.

Example:
  bgmatte matte 'shot/plate_v001.####.exr' --plate 'shot/clean.####.exr' \\
      -o 'out/matte.####.exr' --frames 1001-1024

Exit codes: 0 every requested frame written or validly skipped; 2 a check before writing failed
(nothing written); 3 some frames failed while processing (the others are written), or the --report
file could not be written at the end (the frames are); 130 interrupted.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys

from bgmatte.protocol import ERROR_PREFIX, FARM_PROGRESS, JSON_PROGRESS, PROGRESS_MODES, ProgressEvent, \
    farm_progress_line, progress_json, progress_text
from bgmatte.report import FrameOutcome
from bgmatte.settings import MatteSettings
from bgmatte.stop_signals import stop_requests

# The first Ctrl-C (or the SIGTERM of a farm manager or a host's cancel) stops after the frame in
# progress, so every frame on disk is complete and reported; a second Ctrl-C stops at once.
INTERRUPT_MESSAGE = "interrupted: stopping after the frame in progress (interrupt again to stop at once)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The matte options (also passed through by `bgmatte submit`)."""
    parser.add_argument("input", help="frame sequence (####, %%04d, $F4, @) or a single EXR file")
    parser.add_argument("--plate", required=True, help="clean plate: a still for every frame, or a sequence")
    parser.add_argument("-o", "--output", required=True, help="output EXR pattern, e.g. out/matte.####.exr")
    frames = parser.add_argument_group("frames")
    frames.add_argument("--frames", help="1001-1100, 1001-1100x2 or 1001,1005,1010-1020 (default: all on disk)")
    frames.add_argument("--within", metavar="START-END", help="keep only the requested frames in this range (farm chunks)")
    frames.add_argument("--skip-existing", action="store_true",
                        help="skip frames whose output is complete and made with the same settings "
                             "from the same inputs (frame, neighbours, plate, mattes, weights, OCIO config)")
    colour = parser.add_argument_group("colour")
    colour.add_argument("--colorspace", help="input colourspace (default: the config's scene_linear role)")
    colour.add_argument("--output-colorspace", help="output colourspace (default: the input's if scene-linear, "
                                                    "else the config's scene_linear)")
    colour.add_argument("--ocio", help="OCIO config path or ocio:// name (default: $OCIO, else the bundled config)")
    priors = parser.add_argument_group("priors")
    priors.add_argument("--seg", default="auto", help="soft segmentation: auto (from the plate difference), none, "
                                                      "or a roto/mask sequence pattern")
    priors.add_argument("--motion", default="auto", choices=("auto", "none"),
                        help="motion cues from neighbouring frames (none for unrelated stills)")
    priors.add_argument("--motion-gap", type=int, default=1, metavar="K", help="motion cues at t-2K, t-K, t+K, t+2K")
    priors.add_argument("--garbage", metavar="PATTERN", help="garbage matte: where it is 1, alpha is forced to 0")
    priors.add_argument("--core", metavar="PATTERN", help="core matte: where it is 1, alpha is forced to 1")
    priors.add_argument("--align", default="none", choices=("none", "homography"),
                        help="register the plate to each frame (hand-held shots)")
    priors.add_argument("--gain-match", default="auto", metavar="auto|off|R,G,B",
                        help="the plate's exposure match: auto (estimated per frame, reported as the "
                             "bgmatte:plate_gain header), off (gain 1), or a fixed gain, e.g. 1.02,1,0.98")
    model = parser.add_argument_group("model")
    model.add_argument("--model", default="default", help="registry name or weights file (default: shipped model)")
    model.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    model.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16"),
                       help="the network's precision (every other stage is float32): auto = fp16 on CUDA, "
                            "fp32 on CPU; fp16 on the CPU runs where torch supports it (slower, for checks)")
    model.add_argument("--threads", type=int, help="bound CPU threads (a farm slot's cores), 1 to 1024")
    out = parser.add_argument_group("output")
    out.add_argument("--layers", default="", help="extra layers, comma-separated: fg (straight colour), shadow")
    out.add_argument("--flatten", action="store_true", help="write onto the display window (for Blender)")
    out.add_argument("--repair-nonfinite", action="store_true",
                     help="replace NaN/Inf input pixels by 0 with a warning, instead of failing the frame")
    out.add_argument("--report", metavar="FILE", help="write a JSON report: frames done, skipped, failed, s/frame "
                                                      "(checked like an output: never an input or an output)")
    out.add_argument("--progress", default="auto", choices=PROGRESS_MODES,
                     help="auto: a bar on a terminal, plain lines otherwise; json: one object per frame on stdout; "
                          "farm: json plus a 'Progress: N%%' line per frame (Deadline's task progress)")
    out.add_argument("--quiet", action="store_true", help="no progress output; errors and warnings only")


def settings_from_args(args: argparse.Namespace) -> MatteSettings:
    """The per-frame settings named on the command line."""
    layers = tuple(name.strip() for name in args.layers.split(",") if name.strip())
    return MatteSettings(colorspace=args.colorspace, output_colorspace=args.output_colorspace, ocio=args.ocio,
                         seg=args.seg, motion=args.motion, motion_gap=args.motion_gap, garbage=args.garbage,
                         core=args.core, align=args.align, layers=layers, flatten=args.flatten,
                         repair_nonfinite=args.repair_nonfinite, gain_match=args.gain_match)


class ProgressPrinter:
    """Prints finished frames: a bar on stderr, JSON objects on stdout, or fixed-format lines on stderr.

    ``farm`` mode prints each JSON object followed by ``Progress: N%`` (N = frames finished in this
    run, as a whole percentage), the line Deadline's CommandLine plugin reads as task progress.
    A reader that goes away (``| head -1``, a closed log pipe) does not stop the run: printing stops,
    matting goes on (see cli.guarded_streams).
    """

    def __init__(self, mode: str) -> None:
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "lines"
        self.mode = mode
        self.bar = None

    def __call__(self, outcome: FrameOutcome, done: int, total: int) -> None:
        event = ProgressEvent(outcome.frame, done, total, outcome.status, outcome.seconds, outcome.output,
                              outcome.reason)
        if self.mode in (JSON_PROGRESS, FARM_PROGRESS):
            print(progress_json(event), flush=True)
            if self.mode == FARM_PROGRESS:
                print(farm_progress_line(done, total), flush=True)
        elif self.mode == "lines":
            print(progress_text(event), file=sys.stderr, flush=True)
        elif self.mode == "bar":
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="frame", file=sys.stderr, dynamic_ncols=True)
            self.bar.set_postfix_str(f"{outcome.frame} {outcome.status}")
            self.bar.update(1)
            if done == total:
                self.bar.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def configure_logging(quiet: bool) -> None:
    """Warnings and frame errors as `bgmatte: warning|error: ...` lines on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("bgmatte: %(levelname)s: %(message)s"))
    logging.addLevelName(logging.WARNING, "warning")
    logging.addLevelName(logging.ERROR, "error")
    root = logging.getLogger("bgmatte")
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    root.propagate = False


def run(args: argparse.Namespace) -> int:
    """Plan, check, matte and report; returns the exit code."""
    from bgmatte.api import Matter

    configure_logging(args.quiet)
    settings = settings_from_args(args)
    matter = Matter(model=args.model, device=args.device, precision=args.precision, threads=args.threads)
    printer = ProgressPrinter("none" if args.quiet else args.progress)
    try:
        with stop_requests((signal.SIGINT, signal.SIGTERM), INTERRUPT_MESSAGE) as stop:
            report = matter.matte_sequence(args.input, args.plate, args.output, frames=args.frames,
                                           within=args.within, settings=settings, skip_existing=args.skip_existing,
                                           progress=printer, cancel=stop, report_path=args.report or None)
    finally:
        printer.close()
    if printer.mode == "lines":
        print(f"bgmatte: total {len(report.done)} done, {len(report.skipped)} skipped, {len(report.failed)} failed, "
              f"{report.seconds_per_frame():.3f}s/frame, {report.seconds_total:.1f}s", file=sys.stderr)
    if report.cancelled:
        print(f"{ERROR_PREFIX}interrupted", file=sys.stderr)
    return report.exit_code
