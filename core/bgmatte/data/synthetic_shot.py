"""A procedural test shot with its true alpha: the bundled sample, the benchmark's frames and test fixtures.

A soft-edged subject with thin semi-transparent strands moves (motion blurred) over a textured
linear plate that has highlights above 1; it casts a soft shadow that the true alpha leaves out.
The frames carry sensor noise; the clean plate is shot separately (its own noise, a small
exposure drift). Everything is scene-linear ACEScg.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bgmatte.data.exr import write_exr


@dataclass(frozen=True)
class ShotRecipe:
    """The knobs of a synthetic shot; sizes in pixels, motion in pixels per frame."""

    width: int = 512
    height: int = 288
    first: int = 1001
    count: int = 8
    seed: int = 0
    noise: float = 0.004
    plate_drift: float = 0.02
    speed: float = 6.0
    strands: int = 40
    shadow: float = 0.45
    plate_per_frame: bool = True


def textured_plate(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A linear (H, W, 3) background: bands, waves, blotches, a bright highlight above 1."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    scale = max(width, height) / 512.0
    base = rng.uniform(0.08, 0.3, 3).astype(np.float32)
    plate = np.empty((height, width, 3), np.float32)
    for c in range(3):
        waves = 0.5 + 0.5 * np.sin(xx / (9.0 * scale) + c) * np.cos(yy / (13.0 * scale) - 0.7 * c)
        bands = 0.5 + 0.5 * np.sin((xx + 0.6 * yy) / (40.0 * scale) + 2.1 * c)
        plate[..., c] = base[c] * (0.6 + 0.5 * waves + 0.4 * bands)
    for _ in range(12):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(0.03, 0.12) * width
        colour = rng.uniform(0.02, 0.5, 3).astype(np.float32)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * radius**2))[..., None]
        plate = plate * (1 - 0.6 * blob) + 0.6 * blob * colour
    hx, hy = int(width * 0.12), int(height * 0.15)
    plate[hy:hy + max(2, height // 30), hx:hx + max(2, width // 30)] = 4.0
    return plate


def _segment_coverage(alpha: np.ndarray, p0: np.ndarray, p1: np.ndarray, width: float, opacity: float) -> None:
    """Max-accumulate the antialiased coverage of a thick line segment into alpha (in place)."""
    height, img_width = alpha.shape
    pad = width + 2
    x0, x1 = int(max(0, min(p0[0], p1[0]) - pad)), int(min(img_width, max(p0[0], p1[0]) + pad + 1))
    y0, y1 = int(max(0, min(p0[1], p1[1]) - pad)), int(min(height, max(p0[1], p1[1]) + pad + 1))
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    d = p1 - p0
    t = np.clip(((xx - p0[0]) * d[0] + (yy - p0[1]) * d[1]) / max(float(d @ d), 1e-6), 0, 1)
    dist = np.hypot(xx - (p0[0] + t * d[0]), yy - (p0[1] + t * d[1]))
    cover = np.clip(width / 2 - dist + 0.5, 0, 1) * opacity
    np.maximum(alpha[y0:y1, x0:x1], cover, out=alpha[y0:y1, x0:x1])


class Subject:
    """A head-and-shoulders blob with hair strands; its shape is fixed by the seed, its position by time."""

    def __init__(self, recipe: ShotRecipe, rng: np.random.Generator) -> None:
        self.recipe = recipe
        w, h = recipe.width, recipe.height
        self.radius = 0.2 * h
        self.colour = rng.uniform(0.15, 0.6, 3).astype(np.float32)
        self.hair_colour = rng.uniform(0.05, 0.35, 3).astype(np.float32)
        self.strands = []
        for _ in range(recipe.strands):
            angle = rng.uniform(-2.6, -0.5)
            length = rng.uniform(0.5, 1.3) * self.radius
            bend = rng.uniform(-0.9, 0.9)
            self.strands.append((angle, length, bend, rng.uniform(0.6, 1.6) * h / 288, rng.uniform(0.35, 0.9)))
        self.start = np.array([0.3 * w, 0.62 * h], np.float32)

    def centre(self, time: float) -> np.ndarray:
        """Subject centre (x, y) at a time in frames: drifting right, bobbing a little."""
        r = self.recipe
        return self.start + np.array([r.speed * time, 0.04 * r.height * np.sin(time / 2.0)], np.float32)

    def render(self, time: float) -> tuple[np.ndarray, np.ndarray]:
        """Alpha (H, W) and straight colour (H, W, 3) at one instant."""
        r = self.recipe
        yy, xx = np.mgrid[0:r.height, 0:r.width].astype(np.float32)
        cx, cy = self.centre(time)
        head = np.clip((self.radius - np.hypot(xx - cx, (yy - cy) * 1.1)) / 2.5 + 0.5, 0, 1)
        body = np.clip((1.6 * self.radius - np.hypot((xx - cx) * 0.7, yy - cy - 2.0 * self.radius)) / 4.0 + 0.5, 0, 1)
        body_alpha = np.maximum(head, body)
        hair = np.zeros_like(body_alpha)
        for angle, length, bend, width, opacity in self.strands:
            root = np.array([cx + 0.9 * self.radius * np.cos(angle), cy + 0.9 * self.radius * np.sin(angle)])
            points = [root]
            for step in range(1, 9):
                a = angle + bend * step / 8
                points.append(points[-1] + length / 8 * np.array([np.cos(a), np.sin(a)]))
            for p0, p1 in zip(points[:-1], points[1:]):
                _segment_coverage(hair, p0.astype(np.float32), p1.astype(np.float32), width, opacity)
        shade = (0.75 + 0.25 * np.sin(xx / 6.0) * np.cos(yy / 9.0))[..., None]
        alpha = 1 - (1 - body_alpha) * (1 - hair)
        weight = np.where(alpha > 0, hair * (1 - body_alpha) / np.maximum(alpha, 1e-6), 0)[..., None]
        colour = (self.colour * shade) * (1 - weight) + self.hair_colour * weight
        return alpha.astype(np.float32), colour.astype(np.float32)

    def render_blurred(self, frame_index: int, samples: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """Motion-blurred alpha (H, W) and premultiplied colour (H, W, 3) over a half-frame shutter."""
        alpha_sum = None
        premult_sum = None
        for s in range(samples):
            a, c = self.render(frame_index + 0.5 * (s / max(samples - 1, 1) - 0.5))
            alpha_sum = a if alpha_sum is None else alpha_sum + a
            premult_sum = a[..., None] * c if premult_sum is None else premult_sum + a[..., None] * c
        return alpha_sum / samples, premult_sum / samples


def _soft_shadow(alpha: np.ndarray, strength: float) -> np.ndarray:
    """A contact shadow: the subject's alpha shifted down-right and blurred; darkening factor (H, W)."""
    import cv2

    h, w = alpha.shape
    shift = np.float32([[1, 0, 0.04 * w], [0, 1, 0.05 * h]])
    moved = cv2.warpAffine(alpha, shift, (w, h))
    soft = cv2.GaussianBlur(moved, (0, 0), 0.02 * w)
    return 1 - strength * soft


def make_shot(out_dir: str | Path, recipe: ShotRecipe = ShotRecipe()) -> dict[str, str]:
    """Write frame.####.exr, clean.exr (one still plate), alpha.####.exr and, if asked, plate.####.exr.

    Returns:
        The patterns written: "frame", "plate" (per frame), "clean" (still), "alpha".
    """
    out = Path(out_dir)
    rng = np.random.default_rng(recipe.seed)
    plate = textured_plate(recipe.width, recipe.height, rng)
    subject = Subject(recipe, rng)
    noise = np.random.default_rng(recipe.seed + 1)
    still = plate * (1 + recipe.plate_drift) + noise.normal(0, recipe.noise, plate.shape).astype(np.float32)
    write_exr(out / "clean.exr", still, ("R", "G", "B"))
    for i in range(recipe.count):
        f = recipe.first + i
        alpha, premult = subject.render_blurred(i)
        shadowed = plate * _soft_shadow(alpha, recipe.shadow)[..., None] if recipe.shadow else plate
        frame = premult + (1 - alpha[..., None]) * shadowed
        frame += noise.normal(0, recipe.noise, frame.shape).astype(np.float32)
        drift = 1 + recipe.plate_drift * np.cos(i / 3.0)
        plate_f = plate * drift + noise.normal(0, recipe.noise, plate.shape).astype(np.float32)
        write_exr(out / f"frame.{f:04d}.exr", frame.astype(np.float32), ("R", "G", "B"))
        if recipe.plate_per_frame:
            write_exr(out / f"plate.{f:04d}.exr", plate_f.astype(np.float32), ("R", "G", "B"))
        write_exr(out / f"alpha.{f:04d}.exr", alpha[..., None], ("Y",))
    return {"frame": str(out / "frame.####.exr"), "plate": str(out / "plate.####.exr"),
            "alpha": str(out / "alpha.####.exr"), "clean": str(out / "clean.exr")}


def main(argv: list[str] | None = None) -> None:
    """`python -m bgmatte.data.synthetic_shot OUT [--size WxH] [--frames N] [--seed S]`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out")
    parser.add_argument("--size", default="512x288")
    parser.add_argument("--first", type=int, default=1001)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--still-plate-only", action="store_true", help="write clean.exr but no plate.####.exr")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    make_shot(args.out, ShotRecipe(width=width, height=height, first=args.first, count=args.frames, seed=args.seed,
                                   plate_per_frame=not args.still_plate_only))


if __name__ == "__main__":
    main()
