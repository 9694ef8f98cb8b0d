"""A photographic validation set: held-out photographs as plates and textures, with real capture defects.

``bgmatte data --validation --photographic`` writes the same layout and index format as the
procedural set (``bgmatte.data.validation``), so ``bgmatte benchmark`` and ``load_validation`` read
it; each shot also names its ``class`` and every source file its pixels come from.

Sources: only the catalogue's validation split (``photo_catalogue.images_in_split("validation")``:
the photographs of Debian's ``lomiri-wallpapers-16.04`` / ``-20.04`` and the ``interior``, ``night``
and ``city`` HDRIs of the bpy wheel). No training file is read. ``sources="hdri"`` builds a set
from the three HDRIs alone (no Debian package needed: small sets, tests).

Recipe of one shot (deterministic from the seed; streams 20-24, disjoint from the training banks'
0-1 and the procedural set's 10-12):

- Plate: a crop of one held-out photo (random scale, position, horizontal flip), decoded and
  converted from sRGB (HDRIs: linear Rec.709) to scene-linear ACEScg with OCIO, resampled in linear
  light to 2x the frame. Full-resolution shots crop only photos at least as large as the frame
  (downscaled, never upscaled; an HDRI-only set upsamples and says so in ``params``).
- Foreground: an element with true fractional alpha, drawn at 2x, coloured with a crop of a
  different held-out photo (or, by class, from the plate), composited over the plate in linear
  light and area-downsampled to the frame, like the procedural set. Classes (:data:`CLASSES`):

  - ``textured``: any kind of ``elements.generate_element`` (hair, fur, strands, glass, fabric,
    smoke, solid) with a photo texture;
  - ``sheet``: a semi-transparent sheet (veil, plastic film): alpha 0.1-0.6 with folds (denser at
    the fold lines, specular streaks on film), over a busy plate or a dark one (plate x 0.03-0.15);
  - ``lattice``: a sieve, perforated plate, square mesh or chain-link fence with holes 1-9 px wide;
  - ``fine``: hair, fur, loose strands or seed heads (dandelion-like pappus, sub-pixel filaments);
  - ``plate_coloured``: the element's colour is the blurred plate under it (x 0.85-1.15), so a
    plate difference sees almost nothing;
  - ``chrome``: a shiny body whose colour is a blurred, mirrored, distorted piece of the plate
    around it, with highlights above 1;
  - ``closeup``: a photo-textured solid, hair or fur element covering 50-100 % of the frame
    (``params.coverage``: share of pixels with true alpha above 0.5).

- Capture model, frame and plate separately: exposure drift per channel (frame +-2 %, plate
  +-(1-4) % plus +-1 % per channel), the plate shifted by 0.2-0.7 px, a cast shadow on some shots
  (in the frame, not in the alpha), signal-dependent sensor noise, then an sRGB 8-bit JPEG round
  trip at quality 85-95 (``cv2.imencode``), back to linear ACEScg; values outside the encodable
  range keep their exact excess, so highlights above 1 and negative noise survive.

Shots: ``still_NNN_<class>`` (``size`` px square), ``full_NNN_<class>`` (full resolution, every
class in turn, all in ``test/``) and ``sequence_NNN_<class>`` (``sequence_frames`` frames, the
element moving with motion blur). The first ``tune_stills`` stills and ``tune_sequences`` sequences
go to ``tune/`` (where the benchmark tunes the peers), the rest to ``test/``.

Licence of the written set: derived from the source photographs (CC-BY-4.0, CC-BY-SA-3.0/4.0,
CC0-1.0); each shot lists its files with their licence and attribution. Regenerate it from the
installed packages rather than committing or redistributing it.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import PyOpenColorIO as OCIO

from bgmatte.data.elements import (_blob_mask, _body_mask, _draw_coverage, _polygon_mask, _signed_distance,
                                   _soft_alpha, _threads, generate_element)
from bgmatte.data.elements import KINDS as ELEMENT_KINDS
from bgmatte.data.exr import write_exr
from bgmatte.data.generate import item_rng
from bgmatte.data.photo_catalogue import CatalogueImage, images_in_split, installed_files
from bgmatte.data.plates import decode_photo, photo_to_acescg
from bgmatte.data.textures import fractal_noise, random_colour, smoothstep
from bgmatte.data.validation import FIRST_FRAME, VALIDATION_FORMAT, Shot, _sensor_noise
from bgmatte.errors import InputError
from bgmatte.io.atomic import atomic_output
from bgmatte.priors.resample import resize_area

log = logging.getLogger(__name__)

CLASSES = ("textured", "sheet", "lattice", "fine", "plate_coloured", "chrome", "closeup")
"""Shot classes, in the order stills and full-resolution shots cycle through them."""
SEQUENCE_CLASSES = ("fine", "sheet", "closeup", "lattice", "plate_coloured", "chrome", "textured")
"""The order sequences cycle through the classes (the hardest for motion first)."""
PHOTO_SEED = 2000
PLATE_STREAM, ELEMENT_STREAM, TEXTURE_STREAM, SHOT_STREAM, CAPTURE_STREAM = 20, 21, 22, 23, 24
SOURCE_SETS = ("all", "hdri")
HDRI_CLAMP = 50.0
"""HDRI radiance is clamped here (the sun reaches 35,000): plates stay within half float and a
sub-pixel shift of a sun disc does not dominate every error."""
MAX_ELEMENT_CANVAS = 2048
"""Elements are drawn on at most this square canvas, then scaled into the 2x frame."""
MIN_SIZE, MAX_SIZE, MAX_FULL = 64, 1024, 4096
CLOSEUP_MIN_COVERAGE = 0.5

_ACESCG_LUMA = np.array([0.2722287, 0.6740818, 0.0536895], np.float32)


@dataclass(frozen=True)
class PhotoRecipe:
    """What the photographic set holds; the same recipe (and installed files) give the same set.

    Attributes:
        seed: Set seed.
        size: Side of the square stills and sequences, pixels (64-1024).
        stills: Square stills, cycling through CLASSES.
        full_stills: Full-resolution stills (full_width x full_height), cycling through CLASSES.
        full_width, full_height: Full resolution (default 1920x1080).
        sequences: Moving shots of ``size`` px, cycling through SEQUENCE_CLASSES.
        sequence_frames: Frames per sequence.
        tune_stills, tune_sequences: How many stills / sequences go to tune/ (full-resolution
            shots are all test shots; peers are tuned on the small ones).
        sources: ``"all"`` (held-out Debian photos and HDRIs; needs the Debian packages) or
            ``"hdri"`` (the three held-out bpy HDRIs only).
    """

    seed: int = PHOTO_SEED
    size: int = 320
    stills: int = 14
    full_stills: int = 7
    full_width: int = 1920
    full_height: int = 1080
    sequences: int = 3
    sequence_frames: int = 5
    tune_stills: int = 4
    tune_sequences: int = 1
    sources: str = "all"


def check_photo_recipe(recipe: PhotoRecipe) -> None:
    """Refuse a recipe that cannot be built.

    Raises:
        InputError: naming the option and the problem.
    """
    if not MIN_SIZE <= recipe.size <= MAX_SIZE:
        raise InputError("--size", f"must be {MIN_SIZE} to {MAX_SIZE} pixels for a photographic set")
    if not (MIN_SIZE <= recipe.full_width <= MAX_FULL and MIN_SIZE <= recipe.full_height <= MAX_FULL):
        raise InputError("--full-size", f"width and height must be {MIN_SIZE} to {MAX_FULL} pixels")
    for option, value in (("--stills", recipe.stills), ("--full-stills", recipe.full_stills),
                          ("--sequences", recipe.sequences)):
        if value < 0:
            raise InputError(option, "must be 0 or more")
    if recipe.stills + recipe.full_stills + recipe.sequences == 0:
        raise InputError("--stills", "the set needs at least one shot")
    if recipe.sequence_frames < 2:
        raise InputError("--sequence-frames", "must be 2 or more")
    if not 0 <= recipe.tune_stills <= recipe.stills or not 0 <= recipe.tune_sequences <= recipe.sequences:
        raise InputError("--stills", "more tuning shots than shots")
    if recipe.sources not in SOURCE_SETS:
        raise InputError("--sources", f"must be one of {', '.join(SOURCE_SETS)}")


# --- sources ---------------------------------------------------------------------------------------

@dataclass
class _Source:
    """One held-out file, decoded once: pixels as stored (uint8 sRGB or float linear) and provenance."""

    image: CatalogueImage
    path: Path
    pixels: np.ndarray
    colourspace: str
    sha256: str

    @property
    def is_hdri(self) -> bool:
        return self.image.kind.startswith("hdri")

    def record(self) -> dict[str, Any]:
        """Provenance for index.json: path, package, licence, attribution, hashes."""
        image = self.image
        return {"file": image.path, "installed": str(self.path), "package": image.package,
                "manager": image.manager, "version": image.version, "licence": image.licence,
                "attribution": image.attribution, "kind": image.kind, "sha256": self.sha256,
                "catalogue_sha256_16": image.sha256_16,
                "sha_matches_catalogue": self.sha256[:16] == image.sha256_16, "split": image.split}


def validation_files(sources: str = "all", deb_root: Path | None = None) -> list[tuple[CatalogueImage, Path]]:
    """The held-out files a set of ``sources`` (``"all"`` or ``"hdri"``) reads, each with where it is installed.

    Raises:
        InputError: a Debian package (all of its files absent) or the bpy wheel is not installed;
            one line naming the packages and the command that installs them.
    """
    return installed_files("validation", "the photographic validation set", hdri_only=sources == "hdri",
                           deb_root=deb_root, hint="or --sources hdri for a small set from the bpy HDRIs alone")


class _SourceBank:
    """The held-out files, decoded lazily and kept (plates and textures are cropped from them)."""

    def __init__(self, files: list[tuple[CatalogueImage, Path]]) -> None:
        self.files = files
        self._decoded: dict[int, _Source] = {}

    def __len__(self) -> int:
        return len(self.files)

    def get(self, index: int) -> _Source:
        if index not in self._decoded:
            image, path = self.files[index]
            pixels, colourspace = decode_photo(path)
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            if sha[:16] != image.sha256_16:
                log.warning("%s: sha256 %s differs from the catalogue's %s (another package version?)",
                            path, sha[:16], image.sha256_16)
            self._decoded[index] = _Source(image, path, pixels, colourspace, sha)
        return self._decoded[index]

    def fits(self, index: int, height: int, width: int) -> bool:
        """Whether file ``index`` is at least height x width (a crop needs no upscaling)."""
        image = self.files[index][0]
        return image.width >= width and image.height >= height and not image.kind.startswith("hdri")


def _crop(rng: np.random.Generator, source: _Source, height: int, width: int,
          scale: tuple[float, float]) -> tuple[np.ndarray, dict[str, Any]]:
    """A random crop of ``source`` with the aspect of (height, width), resampled in linear light.

    ``scale`` is the range of the crop's width as a share of the widest crop that fits (HDRIs:
    within 35 degrees of the horizon, where the equirectangular image is least stretched).

    Returns:
        (height, width, 3) float32 ACEScg and the crop's record (x, y, w, h in file pixels, flip).
    """
    file_h, file_w = source.pixels.shape[:2]
    top, bottom = (int(file_h * 0.3), int(file_h * 0.7)) if source.is_hdri else (0, file_h)
    aspect = width / height
    widest = min(file_w, (bottom - top) * aspect)
    crop_w = max(8, int(round(widest * rng.uniform(*scale))))
    crop_h = max(8, min(bottom - top, int(round(crop_w / aspect))))
    x = int(rng.integers(0, file_w - crop_w + 1))
    y = int(rng.integers(top, bottom - crop_h + 1))
    flip = bool(rng.uniform() < 0.5)
    region = source.pixels[y:y + crop_h, x:x + crop_w]
    if flip:
        region = region[:, ::-1]
    linear = photo_to_acescg(region, source.colourspace)
    exposure = 1.0
    if source.is_hdri:
        exposure = float(rng.uniform(0.7, 1.4))
        linear = np.clip(linear, 0.0, HDRI_CLAMP) * exposure
    upscaled = crop_w < width
    interpolation = cv2.INTER_AREA if not upscaled else cv2.INTER_CUBIC
    out = cv2.resize(linear, (width, height), interpolation=interpolation)
    out = np.maximum(out, 0.0).astype(np.float32)
    return out, {"x": x, "y": y, "w": crop_w, "h": crop_h, "flip": flip, "exposure": exposure,
                 "upscaled": upscaled}


# --- elements --------------------------------------------------------------------------------------

def _sheet(rng: np.random.Generator, n: int, texture: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """A semi-transparent sheet (veil, thin fabric, plastic film): alpha 0.1-0.6, denser along folds."""
    family = rng.integers(3)
    if family == 0:
        mask = _blob_mask(rng, n)
    elif family == 1:
        mask = _polygon_mask(rng, n)
    else:
        mask = np.zeros((n, n), np.uint8)
        centre = (float(n * rng.uniform(0.4, 0.6)), float(n * rng.uniform(0.4, 0.6)))
        box = ((centre), (float(n * rng.uniform(0.5, 0.9)), float(n * rng.uniform(0.5, 0.9))), float(rng.uniform(0, 90)))
        cv2.fillPoly(mask, [cv2.boxPoints(box).astype(np.int32)], 1)
        mask = mask > 0
    if not mask.any():
        mask = np.zeros((n, n), bool)
        mask[n // 5:4 * n // 5, n // 5:4 * n // 5] = True
    edge = _soft_alpha(rng, mask)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    warp = (fractal_noise(rng, (n, n), 3, 2) - 0.5) * rng.uniform(0.05, 0.3) * n
    period = rng.uniform(0.04, 0.18) * n
    u = (xx * np.cos(angle) + yy * np.sin(angle) + warp) / period
    fold = (0.5 + 0.5 * np.cos(2 * np.pi * u)) ** rng.uniform(4.0, 16.0)
    base = rng.uniform(0.1, 0.5)
    density = base + rng.uniform(0.05, 0.6 - base + 0.05) * fold + 0.06 * (fractal_noise(rng, (n, n), 4, 6) - 0.5)
    alpha = np.clip(density, 0.05, 0.8) * edge
    film = bool(rng.uniform() < 0.5)
    if rng.uniform() < 0.5:
        colour = cv2.GaussianBlur(texture, (0, 0), n / 200.0) * rng.uniform(0.5, 1.2)
    else:
        tint = random_colour(rng, saturation=rng.uniform(0.0, 0.5))
        colour = tint * (0.8 + 0.4 * fractal_noise(rng, (n, n), 3, 3))[..., None]
    if film:
        colour = colour + rng.uniform(0.5, 4.0) * (fold ** 3)[..., None]
    return (colour * alpha[..., None]).astype(np.float32), alpha.astype(np.float32), \
        {"sheet_base_alpha": float(base), "sheet_material": "film" if film else "veil"}


def _lattice(rng: np.random.Generator, n: int, texture: np.ndarray, canvas_scale: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """A sieve, perforated plate, square mesh or chain-link fence: an opaque pattern with fine holes.

    ``canvas_scale`` is how much the element will be scaled when placed, so the holes land 1-9
    frame pixels wide whatever the canvas size.
    """
    style = str(rng.choice(("sieve", "perforated", "mesh", "chain_link")))
    mask = _body_mask(rng, n, holes=False) if rng.uniform() < 0.5 else _blob_mask(rng, n)
    if not mask.any():
        mask = np.ones((n, n), bool)
    edge = _soft_alpha(rng, mask)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    angle = rng.uniform(0, np.pi) if style != "chain_link" else np.pi / 4 + rng.normal(0, 0.1)
    # Period in element pixels: 2.5-18 pixels of the 2x frame, i.e. 1.25-9 frame pixels.
    period = rng.uniform(2.5, 18.0) / max(canvas_scale, 1e-3)
    perspective = 1.0 + rng.uniform(-0.4, 0.4) * (xx / n - 0.5)
    warp = (fractal_noise(rng, (n, n), 2, 2) - 0.5) * rng.uniform(0.0, 3.0) * period
    u = (xx * np.cos(angle) + yy * np.sin(angle) + warp) / (period * perspective)
    v = (-xx * np.sin(angle) + yy * np.cos(angle) + warp) / (period * perspective)
    soft = 1.0 / (period * perspective)
    if style in ("sieve", "perforated"):
        if style == "sieve":
            row = np.floor(v)
            u = u + 0.5 * (row % 2)
        du, dv = (u % 1.0) - 0.5, (v % 1.0) - 0.5
        distance = np.sqrt(du * du + dv * dv)
        radius = rng.uniform(0.25, 0.45)
        hole = smoothstep((radius - distance) / soft + 0.5)
        pattern = 1.0 - hole
    else:
        thread = rng.uniform(0.08, 0.3)
        pattern = np.maximum(_threads(u, thread, soft), _threads(v, thread, soft))
    alpha = pattern * edge
    if rng.uniform() < 0.5:
        rim = np.clip(_signed_distance(mask) < rng.uniform(0.01, 0.04) * n, 0, 1).astype(np.float32)
        alpha = np.maximum(alpha, rim * edge)
    if rng.uniform() < 0.5:
        colour = texture * rng.uniform(0.6, 1.4)
    else:
        grey = rng.uniform(0.05, 0.6) * rng.uniform(0.9, 1.1, 3).astype(np.float32)
        colour = grey * (0.6 + 0.8 * fractal_noise(rng, (n, n), 4, 8))[..., None]
    return (colour * alpha[..., None]).astype(np.float32), alpha.astype(np.float32), \
        {"lattice_style": style, "lattice_period_px": float(period * canvas_scale / 2)}


def _seedhead(rng: np.random.Generator, n: int, texture: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One to three seed heads (dandelion pappus): hundreds of sub-pixel filaments with tufts, on stems."""
    paths, stems = [], []
    cores = np.zeros((n, n), np.float32)
    for _ in range(int(rng.integers(1, 4))):
        centre = rng.uniform(0.25, 0.75, 2) * n
        radius = rng.uniform(0.1, 0.3) * n
        for _ in range(int(rng.integers(150, 600))):
            angle = rng.uniform(0, 2 * np.pi)
            direction = np.array([np.cos(angle), np.sin(angle)])
            start = centre + direction * radius * 0.08
            tip = centre + direction * radius * rng.uniform(0.8, 1.05)
            bend = rng.normal(0, 0.03 * radius, 2)
            line = np.stack([np.linspace(start[0], tip[0], 6), np.linspace(start[1], tip[1], 6)], 1)
            line += np.sin(np.linspace(0, np.pi, 6))[:, None] * bend
            paths.append(line)
            for _ in range(int(rng.integers(3, 7))):
                spread = angle + rng.uniform(-0.7, 0.7)
                end = tip + np.array([np.cos(spread), np.sin(spread)]) * radius * rng.uniform(0.08, 0.2)
                paths.append(np.stack([tip, end]))
        cv2.circle(cores, (int(centre[0]), int(centre[1])), max(1, int(radius * 0.09)), 1.0, -1, cv2.LINE_AA)
        stem_end = centre + np.array([rng.normal(0, 0.1) * n, n])
        stems.append(np.stack([centre, stem_end]))
    coverage = _draw_coverage(n, paths, 1) * rng.uniform(0.5, 1.0)
    stem = _draw_coverage(n, stems, int(rng.integers(4, 12)))
    alpha = np.clip(np.maximum(np.maximum(coverage, stem), cores), 0.0, 1.0)
    white = rng.uniform(0.4, 1.2) * np.array([1.0, 0.97, 0.9], np.float32)
    shade = (0.6 + 0.4 * texture / max(float(texture.mean()), 1e-4)).clip(0.3, 2.0)
    colour = np.where((cores > 0.5)[..., None] | (stem > coverage)[..., None],
                      texture * 0.5, white * shade)
    return (colour * alpha[..., None]).astype(np.float32), alpha.astype(np.float32)


def _photo_coloured(rng: np.random.Generator, premult: np.ndarray, alpha: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """Premultiplied colour with ``texture`` replacing the element's colour, keeping part of its shading
    and its highlights above 1."""
    colour = np.where(alpha[..., None] > 1e-4, premult / np.maximum(alpha[..., None], 1e-4), 0.0)
    luma = colour @ _ACESCG_LUMA
    inside = alpha > 0.05
    reference = float(np.median(luma[inside])) if inside.any() else 1.0
    shade = np.clip(luma / max(reference, 1e-4), 0.25, 4.0) ** rng.uniform(0.3, 0.8)
    highlight = np.maximum(colour - 1.0, 0.0)
    out = texture * shade[..., None] * rng.uniform(0.5, 1.5) + highlight
    return (np.maximum(out, 0.0) * alpha[..., None]).astype(np.float32)


def _trim(premult: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """The element cropped to its alpha's bounding box, and the box's top-left corner."""
    ys, xs = np.nonzero(alpha > 1e-3)
    if len(ys) == 0:
        raise ValueError("empty element")
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return premult[y0:y1, x0:x1], alpha[y0:y1, x0:x1], (int(x0), int(y0))


def _scaled(premult: np.ndarray, alpha: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Premultiplied element and alpha resampled by ``scale`` (area when shrinking)."""
    shape = (max(1, round(alpha.shape[1] * scale)), max(1, round(alpha.shape[0] * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    rgba = cv2.resize(np.dstack([premult, alpha]).astype(np.float32), shape, interpolation=interpolation)
    rgba = np.maximum(rgba, 0.0)
    rgba[..., 3] = np.minimum(rgba[..., 3], 1.0)
    return rgba[..., :3], rgba[..., 3]


def _paste(layer: np.ndarray, shape: tuple[int, int], x: int, y: int) -> np.ndarray:
    """``layer`` (h, w[, C]) with its top-left corner at (x, y) on a zero (H, W[, C]) canvas, clipped."""
    out = np.zeros(shape + layer.shape[2:], np.float32)
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + layer.shape[1], shape[1]), min(y + layer.shape[0], shape[0])
    if x0 < x1 and y0 < y1:
        out[y0:y1, x0:x1] = layer[y0 - y:y1 - y, x0 - x:x1 - x]
    return out


def _under(plate2x: np.ndarray, x: int, y: int, h: int, w: int) -> np.ndarray:
    """The (h, w, 3) piece of the 2x plate under an element at (x, y), reflected beyond the edges."""
    pad = max(h, w)
    padded = cv2.copyMakeBorder(plate2x, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    return padded[y + pad:y + pad + h, x + pad:x + pad + w].copy()


def _plate_colour(rng: np.random.Generator, alpha: np.ndarray, under: np.ndarray) -> np.ndarray:
    """Premultiplied colour = the blurred plate under the element, x 0.85-1.15, with a little texture."""
    blurred = cv2.GaussianBlur(under, (0, 0), max(1.0, rng.uniform(0.005, 0.03) * max(alpha.shape)))
    factor = rng.uniform(0.85, 1.15) * rng.uniform(0.97, 1.03, 3).astype(np.float32)
    grain = 1.0 + rng.uniform(0.0, 0.15) * (fractal_noise(rng, alpha.shape, 3, 8) - 0.5)
    return (blurred * factor * grain[..., None] * alpha[..., None]).astype(np.float32)


def _chrome_colour(rng: np.random.Generator, alpha: np.ndarray, around: np.ndarray) -> np.ndarray:
    """Premultiplied colour of a shiny body: a mirrored, blurred, distorted piece of the plate around it."""
    h, w = alpha.shape
    mirrored = cv2.resize(around[::-1, ::-1], (w, h), interpolation=cv2.INTER_AREA)
    mirrored = cv2.GaussianBlur(mirrored, (0, 0), max(0.5, rng.uniform(0.002, 0.02) * max(h, w)))
    smooth = cv2.GaussianBlur(alpha, (0, 0), max(1.0, 0.05 * max(h, w)))
    gy, gx = np.gradient(smooth)
    strength = rng.uniform(0.1, 0.5) * max(h, w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    reflected = cv2.remap(mirrored, (xx + gx * strength).astype(np.float32), (yy + gy * strength).astype(np.float32),
                          cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    tint = rng.uniform(0.5, 0.95) * rng.uniform(0.92, 1.08, 3).astype(np.float32)
    highlight = fractal_noise(rng, (h, w), 3, int(rng.integers(3, 9))) ** rng.uniform(10, 20)
    colour = reflected * tint + rng.uniform(3.0, 15.0) * highlight[..., None]
    return (colour * alpha[..., None]).astype(np.float32)


# --- capture ---------------------------------------------------------------------------------------

class _Jpeg:
    """sRGB 8-bit JPEG round trip of ACEScg pixels through OCIO and ``cv2.imencode``."""

    def __init__(self) -> None:
        config = OCIO.Config.CreateFromBuiltinConfig("cg-config-latest")
        self.encode = config.getProcessor("ACEScg", "sRGB Encoded Rec.709 (sRGB)").getDefaultCPUProcessor()
        self.decode = config.getProcessor("sRGB Encoded Rec.709 (sRGB)", "ACEScg").getDefaultCPUProcessor()

    def __call__(self, linear: np.ndarray, quality: int) -> tuple[np.ndarray, float]:
        """The round trip and the white level used (the 99.5th percentile, at least 1): values are
        divided by it before encoding, and whatever lies outside the encodable range is added back
        exactly, so only the in-range signal is quantised and softened."""
        white = max(1.0, float(np.percentile(linear.max(axis=2), 99.5)))
        encoded = np.ascontiguousarray(linear / white, dtype=np.float32)
        self.encode.applyRGB(encoded)
        clipped = np.clip(encoded, 0.0, 1.0)
        reference = clipped.copy()
        self.decode.applyRGB(reference)
        excess = linear - reference * white
        bytes_ = np.round(clipped * 255.0).astype(np.uint8)[..., ::-1]
        ok, buffer = cv2.imencode(".jpg", np.ascontiguousarray(bytes_), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        decoded = np.ascontiguousarray(cv2.imdecode(buffer, cv2.IMREAD_COLOR)[..., ::-1], dtype=np.float32) / 255.0
        self.decode.applyRGB(decoded)
        return (decoded * white + excess).astype(np.float32), white


def _capture(rng: np.random.Generator, jpeg: _Jpeg, linear: np.ndarray, drift: np.ndarray, gain: float,
             read: float, quality: int) -> np.ndarray:
    """One camera pass: exposure drift (per channel), sensor noise, JPEG-like softening."""
    exposed = (linear * (1.0 + drift)).astype(np.float32)
    noisy = _sensor_noise(rng, exposed, gain, read)
    return jpeg(noisy, quality)[0]


def _shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, matrix, (image.shape[1], image.shape[0]), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REFLECT)


def _darkening(alpha: np.ndarray, strength: float, offset: np.ndarray) -> np.ndarray:
    """(H, W) factor that darkens the plate under the shifted, blurred alpha (a cast shadow)."""
    moved = _shift(alpha, float(offset[0]), float(offset[1]))
    soft = cv2.GaussianBlur(moved, (0, 0), 0.02 * min(alpha.shape))
    return np.clip(1.0 - strength * soft, 0.0, 1.0).astype(np.float32)


# --- shots -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Plan:
    what: str
    number: int
    shot_class: str
    height: int
    width: int
    frames: int
    tune: bool

    @property
    def name(self) -> str:
        return f"{self.what}_{self.number:03d}_{self.shot_class}"


def shot_plan(recipe: PhotoRecipe) -> list[_Plan]:
    """Every shot of the recipe in writing order: stills, full-resolution stills, sequences."""
    plan = [_Plan("still", i, CLASSES[i % len(CLASSES)], recipe.size, recipe.size, 1, i < recipe.tune_stills)
            for i in range(recipe.stills)]
    plan += [_Plan("full", i, CLASSES[i % len(CLASSES)], recipe.full_height, recipe.full_width, 1, False)
             for i in range(recipe.full_stills)]
    plan += [_Plan("sequence", i, SEQUENCE_CLASSES[i % len(SEQUENCE_CLASSES)], recipe.size, recipe.size,
                   recipe.sequence_frames, i < recipe.tune_sequences) for i in range(recipe.sequences)]
    return plan


def _pick_plate(rng: np.random.Generator, bank: _SourceBank, plan: _Plan) -> tuple[int, np.ndarray, dict]:
    """A plate crop at 2x the frame: (source index, (2H, 2W, 3) ACEScg, crop record)."""
    h2, w2 = 2 * plan.height, 2 * plan.width
    full = plan.what == "full"
    candidates = [i for i in range(len(bank)) if bank.fits(i, plan.height, plan.width)] if full else []
    if not candidates:
        candidates = list(range(len(bank)))
    tries = 3 if plan.shot_class == "sheet" else 1
    best = None
    for _ in range(tries):
        index = int(candidates[rng.integers(len(candidates))])
        source = bank.get(index)
        if full and bank.fits(index, plan.height, plan.width):
            widest = min(source.pixels.shape[1], source.pixels.shape[0] * plan.width / plan.height)
            scale = (min(1.0, plan.width / widest), 1.0)  # never narrower than the frame: no upscaling
        else:
            scale = (0.5, 1.0) if source.is_hdri else (0.2, 0.7)
        plate, crop = _crop(rng, source, h2, w2, scale)
        busy = float(np.mean(np.abs(np.diff(np.log1p(plate.mean(2) * 10), axis=1))))
        if best is None or busy > best[3]:
            best = (index, plate, crop, busy)
    index, plate, crop, busy = best
    crop["busy"] = busy
    return index, plate, crop


def _element(rng: np.random.Generator, plan: _Plan, bank: _SourceBank, plate_index: int, recipe: PhotoRecipe,
             index: int, canvas_scale_hint: float) -> tuple[np.ndarray, np.ndarray, str, dict, list[dict]]:
    """The shot's element on its own canvas before placement: premult, alpha, kind, params, texture records."""
    n = min(2 * max(plan.height, plan.width), MAX_ELEMENT_CANVAS)
    others = [i for i in range(len(bank)) if i != plate_index] or [plate_index]
    texture_index = int(others[rng.integers(len(others))])
    texture_source = bank.get(texture_index)
    texture, crop = _crop(item_rng(recipe.seed, TEXTURE_STREAM, index), texture_source, n, n,
                          (0.5, 1.0) if texture_source.is_hdri else (0.1, 0.5))
    textures = [{**texture_source.record(), "crop": crop, "use": "element texture"}]
    element_rng = item_rng(recipe.seed, ELEMENT_STREAM, index)
    params: dict[str, Any] = {}
    cls = plan.shot_class
    if cls == "sheet":
        premult, alpha, params = _sheet(element_rng, n, texture)
        return premult, alpha, "sheet", params, textures
    if cls == "lattice":
        premult, alpha, params = _lattice(element_rng, n, texture, canvas_scale_hint * 2 * min(plan.height, plan.width) / n)
        return premult, alpha, "lattice", params, textures
    if cls == "fine":
        kind = str(rng.choice(("hair", "fur", "strands", "seedhead"), p=(0.3, 0.25, 0.2, 0.25)))
        if kind == "seedhead":
            premult, alpha = _seedhead(element_rng, n, texture)
            return premult, alpha, kind, params, textures
    elif cls in ("plate_coloured",):
        kind = str(rng.choice(("solid", "hair", "fur", "fabric", "glass")))
    elif cls == "chrome":
        kind = "solid"
    elif cls == "closeup":
        kind = str(rng.choice(("solid", "hair", "fur")))
    else:
        kind = str(rng.choice(ELEMENT_KINDS))
    element = generate_element(element_rng, n, kind)
    premult = element.premultiplied()
    alpha = premult[..., 3]
    if cls in ("plate_coloured", "chrome"):
        return premult[..., :3], alpha, kind, params, []  # coloured from the plate once placed
    return _photo_coloured(rng, premult[..., :3], alpha, texture), alpha, kind, params, textures


def _closeup_placement(rng: np.random.Generator, alpha: np.ndarray, premult: np.ndarray, h2: int, w2: int,
                       margin: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Scale the element about an opaque point until it covers 50-100 % of the frame.

    Only the part that lands on the 2x canvas (plus ``margin`` pixels for motion) is resampled.

    Returns:
        The scaled premult and alpha, their top-left corner on the 2x canvas, the coverage reached.
    """
    target = rng.uniform(CLOSEUP_MIN_COVERAGE + 0.05, 0.97)
    opaque = np.argwhere(alpha > 0.98)
    if len(opaque) == 0:
        opaque = np.argwhere(alpha >= alpha.max() * 0.9)
    anchor = opaque[rng.integers(len(opaque))][::-1].astype(np.float64)  # (x, y) in element pixels
    goal = np.array([w2, h2]) * rng.uniform(0.3, 0.7, 2)
    scale = rng.uniform(1.0, 1.6) * max(h2, w2) / max(alpha.shape)
    for _ in range(12):
        # Element pixels that land on the canvas (with the margin), then scaled.
        low = np.floor(anchor - (goal + margin) / scale).astype(int)
        high = np.ceil(anchor + (np.array([w2, h2]) - goal + margin) / scale).astype(int) + 1
        low = np.maximum(low, 0)
        high = np.minimum(high, np.array(alpha.shape[::-1]))
        part_premult = premult[low[1]:high[1], low[0]:high[0]]
        part_alpha = alpha[low[1]:high[1], low[0]:high[0]]
        scaled_premult, scaled_alpha = _scaled(part_premult, part_alpha, scale)
        corner = np.round(goal - (anchor - low) * scale).astype(int)
        placed = _paste(scaled_alpha, (h2, w2), int(corner[0]), int(corner[1]))
        coverage = float(np.mean(resize_area(placed, (h2 // 2, w2 // 2)) > 0.5))
        if coverage >= target or (coverage >= CLOSEUP_MIN_COVERAGE and scale > 6 * max(h2, w2) / max(alpha.shape)):
            break
        scale *= 1.35
    return scaled_premult, scaled_alpha, corner, coverage


def _write_shot(out: Path, plan: _Plan, index: int, recipe: PhotoRecipe, bank: _SourceBank, jpeg: _Jpeg) -> Shot:
    """Build and write one shot (``plan.frames`` frames; the element moves when more than one)."""
    rng = item_rng(recipe.seed, SHOT_STREAM, index)
    capture = item_rng(recipe.seed, CAPTURE_STREAM, index)
    h, w, h2, w2 = plan.height, plan.width, 2 * plan.height, 2 * plan.width
    plate_index, plate2x, plate_crop = _pick_plate(item_rng(recipe.seed, PLATE_STREAM, index), bank, plan)
    plate_source = bank.get(plate_index)
    params: dict[str, Any] = {"size": [w, h], "plate_busy": plate_crop.pop("busy")}
    if plan.shot_class == "sheet" and rng.uniform() < 0.5:
        darkness = float(rng.uniform(0.03, 0.15))
        plate2x = plate2x * darkness
        params["plate_darkened"] = darkness
    fill = rng.uniform(0.45, 0.85)
    premult, alpha, kind, element_params, textures = _element(rng, plan, bank, plate_index, recipe, index, fill)
    params.update(element_params)
    premult, alpha, _ = _trim(premult, alpha)
    if plan.shot_class == "closeup":
        margin = int(12 * 2 * plan.frames * min(h, w) / 320) if plan.frames > 1 else 0
        premult, alpha, corner, _ = _closeup_placement(rng, alpha, premult, h2, w2, margin)
        start = corner.astype(np.float64)
    else:
        premult, alpha = _scaled(premult, alpha, fill * min(h2, w2) / max(alpha.shape))
        room = np.array([w2, h2], np.float64) - np.array(alpha.shape[::-1])
        start = rng.uniform(-0.15, 1.15, 2) * room  # mostly inside the frame, sometimes cut by its edge
    x0, y0 = (int(v) for v in np.round(start))
    if plan.shot_class == "plate_coloured":
        premult = _plate_colour(rng, alpha, _under(plate2x, x0, y0, *alpha.shape))
    elif plan.shot_class == "chrome":
        grow = np.array(alpha.shape) // 4
        around = _under(plate2x, x0 - int(grow[1]), y0 - int(grow[0]), alpha.shape[0] + 2 * int(grow[0]),
                        alpha.shape[1] + 2 * int(grow[1]))
        premult = _chrome_colour(rng, alpha, around)
    moving = plan.frames > 1
    velocity = rng.uniform(-12.0, 12.0, 2) * (min(h, w) / 320.0) if moving else np.zeros(2)
    if plan.shot_class == "closeup":
        start = start - velocity * 2 * (plan.frames // 2)  # the middle frame has the measured coverage
    shutter = 4 if moving else 1
    shadow = float(rng.uniform(0.25, 0.6)) if rng.uniform() < 0.3 else 0.0
    shadow_offset = rng.uniform(0.02, 0.08, 2) * min(h, w) * rng.choice((-1.0, 1.0), 2)
    # Capture: one camera, two passes (frame, plate) with their own drift, noise and shift.
    gain, read = float(10.0 ** capture.uniform(-4.0, -2.5)), float(10.0 ** capture.uniform(-3.5, -2.5))
    quality = int(capture.integers(85, 96))
    frame_drift = (capture.uniform(-0.02, 0.02) + capture.uniform(-0.005, 0.005, 3)).astype(np.float32)
    plate_drift = (capture.uniform(0.01, 0.04) * capture.choice((-1.0, 1.0))
                   + capture.uniform(-0.01, 0.01, 3)).astype(np.float32)
    angle, distance = capture.uniform(0.0, 2.0 * np.pi), capture.uniform(0.2, 0.7)
    shift = (float(distance * np.cos(angle)), float(distance * np.sin(angle)))
    plate = resize_area(plate2x, (h, w))
    clean = resize_area(_shift(plate2x, 2 * shift[0], 2 * shift[1]), (h, w))
    clean = _capture(capture, jpeg, clean, plate_drift, gain, read, quality)
    folder = out / ("tune" if plan.tune else "test") / plan.name
    write_exr(folder / "clean.exr", clean, ("R", "G", "B"))
    coverages = []
    for t in range(plan.frames):
        samples_premult, samples_alpha = [], []
        for s in range(shutter):
            x, y = np.round(start + velocity * 2 * (t + 0.5 * s / shutter)).astype(int)
            samples_premult.append(_paste(premult, (h2, w2), int(x), int(y)))
            samples_alpha.append(_paste(alpha, (h2, w2), int(x), int(y)))
        frame_premult = resize_area(np.mean(samples_premult, axis=0), (h, w))
        frame_alpha = np.clip(resize_area(np.mean(samples_alpha, axis=0), (h, w)), 0.0, 1.0).astype(np.float32)
        background = plate * _darkening(frame_alpha, shadow, shadow_offset)[..., None] if shadow else plate
        frame = (frame_premult + (1.0 - frame_alpha[..., None]) * background).astype(np.float32)
        frame = _capture(capture, jpeg, frame, frame_drift, gain, read, quality)
        number = FIRST_FRAME + t
        write_exr(folder / f"frame.{number:04d}.exr", frame, ("R", "G", "B"))
        write_exr(folder / f"alpha.{number:04d}.exr", frame_alpha[..., None], ("Y",))
        coverages.append(float(np.mean(frame_alpha > 0.5)))
    params.update({
        "coverage": coverages[len(coverages) // 2], "alpha_mean": float(frame_alpha.mean()),
        "frame_exposure_drift": [float(v) for v in frame_drift],
        "plate_exposure_drift": [float(v) for v in plate_drift],
        "plate_gain_truth": [float(v) for v in (1.0 + plate_drift) / (1.0 + frame_drift)],
        "plate_shift_px": list(shift), "noise_gain": gain, "noise_read": read, "jpeg_quality": quality,
        "shadow": shadow, "velocity_px": [float(v) for v in velocity], "plate_upscaled": plate_crop["upscaled"]})
    relative = f"{'tune' if plan.tune else 'test'}/{plan.name}"
    sources = {"plate": {**plate_source.record(), "crop": plate_crop, "use": "plate"}, "textures": textures}
    return Shot(name=plan.name, split="tune" if plan.tune else "test",
                frames=list(range(FIRST_FRAME, FIRST_FRAME + plan.frames)), frame=f"{relative}/frame.####.exr",
                plate=f"{relative}/clean.exr", alpha=f"{relative}/alpha.####.exr", kind=kind, params=params,
                shot_class=plan.shot_class, sources=sources)


def generate_photo_validation(out: Path, recipe: PhotoRecipe = PhotoRecipe(),
                              progress: Callable[[int, int, str], None] | None = None, command: str = "",
                              deb_root: Path | None = None) -> Path:
    """Write the photographic validation set to ``out`` and return its ``index.json``.

    Args:
        out: Set folder (created; files of the same names are replaced).
        recipe: Seed, sizes, counts and which sources.
        progress: Called after each shot as progress(done, total, shot name).
        command: The command line that made the set, kept in the index.
        deb_root: Where the Debian packages' files are found (None: ``/``).

    Raises:
        InputError: the recipe cannot be built, or a source package is not installed (one line
            naming it and the install command), before anything is written.
    """
    check_photo_recipe(recipe)
    bank = _SourceBank(validation_files(recipe.sources, deb_root))
    if len(bank) < 2:
        raise InputError("--sources", "needs at least two held-out files (a plate and a texture)")
    jpeg = _Jpeg()
    plan = shot_plan(recipe)
    shots = []
    for index, item in enumerate(plan):
        shots.append(_write_shot(out, item, index, recipe, bank, jpeg))
        if progress:
            progress(index + 1, len(plan), item.name)
    used: dict[str, dict] = {}
    for shot in shots:
        for record in [shot.sources["plate"], *shot.sources["textures"]]:
            used.setdefault(record["file"], {k: v for k, v in record.items() if k not in ("crop", "use")})
    document = {
        "format": VALIDATION_FORMAT, "version": 1, "set": "photographic", "colorspace": "ACEScg",
        "recipe": {**asdict(recipe), "command": command,
                   "streams": {"plate": PLATE_STREAM, "element": ELEMENT_STREAM, "texture": TEXTURE_STREAM,
                               "shot": SHOT_STREAM, "capture": CAPTURE_STREAM}},
        "classes": list(CLASSES),
        "split": {"rule": "bgmatte.data.photo_catalogue.split_of: validation = lomiri-wallpapers-16.04/-20.04 "
                          "photos and the interior, night and city bpy HDRIs; everything else trains",
                  "validation_files": [image.path for image in images_in_split("validation")]},
        "licence": ("derived from the source photographs listed per shot (CC-BY-4.0, CC-BY-SA-3.0/4.0, "
                    "CC0-1.0): keep their attribution and ShareAlike terms, or regenerate from the "
                    "installed packages instead of redistributing"),
        "sources": sorted(used.values(), key=lambda r: r["file"]),
        "shots": [shot.index_entry() for shot in shots]}
    index_path = out / "index.json"
    with atomic_output(index_path) as temp:
        temp.write_text(json.dumps(document, indent=1))
    log.info("photographic validation set written: %s (%d shots)", out, len(shots))
    return index_path
