"""One benchmark configuration in its own process: time per frame and peak RSS, printed as JSON.

`python -m bgmatte.bench.worker MODE SHOT_DIR OUT_DIR FRAMES [--model NAME]` with MODE one of
floor (read frame + plate, colour in and out, write RGBA EXR), diffkey (the floor plus a plain
difference key) or bgmatte (the whole pipeline). The first frame is a warm-up and not timed.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from bgmatte.color import ColorPipeline, resolve_config
from bgmatte.io import read_header, read_rgb, write_matte

COLORSPACE = "Linear Rec.709 (sRGB)"


def _io_frame(color: ColorPipeline, shot: Path, out: Path, frame: int, key: bool) -> dict[str, float]:
    """Read frame and plate, convert to working, (optionally key), convert back, write RGBA."""
    t0 = time.perf_counter()
    header = read_header(shot / f"frame.{frame:04d}.exr")
    canvas = header.display_window
    image = read_rgb(header.path, canvas)
    plate = read_rgb(shot / f"plate.{frame:04d}.exr", canvas)
    t1 = time.perf_counter()
    image = color.to_working(image)
    plate = color.to_working(plate)
    t2 = time.perf_counter()
    if key:
        alpha = np.clip(np.abs(image - plate).max(axis=-1) / 0.1, 0, 1)
        premult = image - (1 - alpha[..., None]) * plate
    else:
        alpha = np.ones(image.shape[:2], np.float32)
        premult = image
    t3 = time.perf_counter()
    premult = color.from_working(premult)
    rgba = np.concatenate([premult, alpha[..., None]], axis=-1)
    t4 = time.perf_counter()
    write_matte(out / f"m.{frame:04d}.exr", rgba, canvas, header)
    t5 = time.perf_counter()
    return {"io": (t1 - t0) + (t5 - t4), "colour": (t2 - t1) + (t4 - t3), "key": t3 - t2}


def run_io(mode: str, shot: Path, out: Path, frames: list[int]) -> dict:
    color = ColorPipeline(resolve_config(None), COLORSPACE)
    stages = [_io_frame(color, shot, out, frame, key=mode == "diffkey") for frame in frames][1:]
    mean = {k: float(np.mean([s[k] for s in stages])) for k in stages[0]}
    return {"stages": mean, "seconds_per_frame": sum(mean.values())}


def run_bgmatte(shot: Path, out: Path, frames: list[int], model: str) -> dict:
    """The whole pipeline: seconds per frame are wall time over the timed frames (reads and writes
    overlap the compute, so the stages' per-frame times add up to more than that)."""
    from bgmatte.api import Matter
    from bgmatte.settings import MatteSettings

    matter = Matter(model=model, device="cpu")

    def matte(chunk: list[int]):
        report = matter.matte_sequence(str(shot / "frame.####.exr"), str(shot / "plate.####.exr"),
                                       str(out / "m.####.exr"), frames=chunk,
                                       settings=MatteSettings(colorspace=COLORSPACE))
        if report.failed:
            raise SystemExit(f"bench: bgmatte failed: {report.failed[0].reason}")
        return report

    timed_frames = frames[1:] if len(frames) > 1 else frames
    if len(frames) > 1:
        matte(frames[:1])
    start = time.perf_counter()
    report = matte(timed_frames)
    wall = time.perf_counter() - start
    keys = report.frames[0].stages.keys()
    return {"stages": {k: float(np.mean([f.stages[k] for f in report.frames])) for k in keys},
            "seconds_per_frame": wall / len(timed_frames)}


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    Linux's VmHWM belongs to the process's own address space; ru_maxrss would also count the
    parent's memory at fork time (the benchmark's parent holds the synthetic 4K frames).
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=("floor", "diffkey", "bgmatte"))
    parser.add_argument("shot", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("frames", help="first-last")
    parser.add_argument("--model", default="default")
    args = parser.parse_args(argv)
    first, last = (int(v) for v in args.frames.split("-"))
    frames = list(range(first, last + 1))
    args.out.mkdir(parents=True, exist_ok=True)
    if args.mode == "bgmatte":
        result = run_bgmatte(args.shot, args.out, frames, args.model)
    else:
        result = run_io(args.mode, args.shot, args.out, frames)
    result["peak_rss_mb"] = peak_rss_mb()
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
