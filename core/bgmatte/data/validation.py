"""A held-out validation set: shots built from elements and plates that no training bank holds.

Every shot is a procedural element (``generate_element``) over a procedural plate
(``generate_plate``), composited in scene-linear ACEScg at 2x and area-downsampled, so thin strands
get fractional alpha. The frame and the clean plate each get their own sensor noise; the plate also
gets an exposure drift (1-4 %) and a sub-pixel shift (0.2-0.7 px), as a separate pass of a real
camera gives; some shots cast a shadow that the true alpha leaves out. Stills have one frame,
sequences five (the element moves with motion blur) for the temporal metrics.

Disjoint from training by construction: a training bank draws element i from
``item_rng(seed, 0, i)`` and plate i from ``item_rng(seed, 1, i)`` (streams 0 and 1, see
``bgmatte.data.generate``). This set draws from streams 10, 11 and 12 of its own seed, and NumPy's
``SeedSequence`` makes a generator from the whole entropy list ``[seed, stream, index]``, so no
validation element, plate or perturbation equals a training one, whatever the seeds. Photo plates
(which every training bank holds) are never used.

Layout (frames numbered from 1001, the same files ``make_shot`` writes)::

    DIR/index.json
    DIR/tune/<shot>/frame.####.exr   RGB, the frame (half float)
    DIR/tune/<shot>/clean.exr        RGB, the clean plate, one still for every frame
    DIR/tune/<shot>/alpha.####.exr   Y, the true alpha
    DIR/test/<shot>/...              the same; peers are tuned on tune/, every method scored on test/
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bgmatte.data.elements import generate_element
from bgmatte.data.exr import write_exr
from bgmatte.data.generate import item_rng
from bgmatte.data.plates import generate_plate
from bgmatte.errors import InputError
from bgmatte.io.atomic import atomic_output
from bgmatte.priors.resample import resize_area

log = logging.getLogger(__name__)

VALIDATION_FORMAT = "bgmatte-validation"
VALIDATION_SEED = 1000
ELEMENT_STREAM, PLATE_STREAM, SHOT_STREAM = 10, 11, 12
KINDS = ("hair", "fur", "strands", "glass", "fabric", "solid")
FIRST_FRAME = 1001
MAX_SIZE = 512
MIN_SIZE = 64


@dataclass(frozen=True)
class ValidationRecipe:
    """What the set holds; the same recipe gives the same files.

    Attributes:
        seed: Set seed (default 1000); see the module docstring for why any seed is held out.
        size: Side of the square frames in pixels (64-512, so classic peers finish).
        stills: Number of one-frame shots.
        sequences: Number of moving shots.
        sequence_frames: Frames per sequence.
        tune_stills: How many of the stills go to tune/ (the rest to test/); at most all of them.
        tune_sequences: How many of the sequences go to tune/; at most all of them.
    """

    seed: int = VALIDATION_SEED
    size: int = 384
    stills: int = 12
    sequences: int = 3
    sequence_frames: int = 5
    tune_stills: int = 4
    tune_sequences: int = 1


@dataclass(frozen=True)
class Shot:
    """One written shot: where its files are and how it was made.

    Attributes:
        name: Folder name, e.g. ``still_003_hair``.
        split: "tune" or "test".
        frames: Frame numbers written.
        frame, plate, alpha: Patterns (``####``) or the still plate path, relative to the set folder.
        kind: Element kind.
        params: The perturbations drawn (drift, shift, noise, shadow strength, motion).
        shot_class: What the shot tests (``class`` in index.json; the photographic set's classes,
            ``bgmatte.data.photo_validation.CLASSES``); empty in a procedural set, whose
            benchmark classes are the element kinds.
        sources: The files the shot's pixels come from (photographic set: plate and textures with
            path, package, licence and sha256); None for a procedural set.
    """

    name: str
    split: str
    frames: list[int]
    frame: str
    plate: str
    alpha: str
    kind: str
    params: dict[str, Any]
    shot_class: str = ""
    sources: dict[str, Any] | None = None

    @property
    def group(self) -> str:
        """The class the benchmark reports this shot under: its ``class``, else its element kind."""
        return self.shot_class or self.kind

    def index_entry(self) -> dict[str, Any]:
        """The shot as an index.json entry (``shot_class`` is written as ``class``; empty fields left out)."""
        entry = asdict(self)
        shot_class, sources = entry.pop("shot_class"), entry.pop("sources")
        if shot_class:
            entry["class"] = shot_class
        if sources is not None:
            entry["sources"] = sources
        return entry


def check_recipe(recipe: ValidationRecipe) -> None:
    """Refuse a recipe that cannot be built.

    Raises:
        InputError: naming the option (``--size``, ``--stills``...) and the problem.
    """
    if not MIN_SIZE <= recipe.size <= MAX_SIZE:
        raise InputError("--size", f"must be {MIN_SIZE} to {MAX_SIZE} pixels")
    for option, value in (("--stills", recipe.stills), ("--sequences", recipe.sequences)):
        if value < 0:
            raise InputError(option, "must be 0 or more")
    if recipe.stills + recipe.sequences == 0:
        raise InputError("--stills", "the set needs at least one shot")
    if recipe.sequence_frames < 2:
        raise InputError("--sequence-frames", "must be 2 or more")


def _sensor_noise(rng: np.random.Generator, linear: np.ndarray, gain: float, read: float) -> np.ndarray:
    """Signal-dependent Gaussian noise: variance = gain * signal + read**2, per pixel and channel."""
    sigma = np.sqrt(gain * np.maximum(linear, 0.0) + read * read)
    return (linear + sigma * rng.standard_normal(linear.shape, dtype=np.float32)).astype(np.float32)


def _placed_element(rng: np.random.Generator, kind: str, element_index: int, seed: int,
                    canvas: int) -> tuple[np.ndarray, np.ndarray]:
    """The element cropped to its alpha and scaled to fill 45-85 % of a canvas x canvas frame.

    Returns:
        premult (h, w, 3) and alpha (h, w), float32, premultiplied scene-linear ACEScg.
    """
    element = generate_element(item_rng(seed, ELEMENT_STREAM, element_index), canvas, kind)
    ys, xs = np.nonzero(element.alpha > 1e-3)
    if len(ys) == 0:
        raise ValueError(f"element {element_index} of seed {seed} is empty")
    premult = element.premultiplied()[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    scale = rng.uniform(0.45, 0.85) * canvas / max(premult.shape[:2])
    shape = (max(1, round(premult.shape[1] * scale)), max(1, round(premult.shape[0] * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    premult = np.clip(cv2.resize(premult, shape, interpolation=interpolation), 0.0, None)
    premult[..., 3] = np.minimum(premult[..., 3], 1.0)
    return premult[..., :3], premult[..., 3]


def _paste(layer: np.ndarray, canvas: int, x: int, y: int) -> np.ndarray:
    """``layer`` (h, w[, C]) placed with its top-left corner at (x, y) on a zero canvas, clipped."""
    out = np.zeros((canvas, canvas) + layer.shape[2:], np.float32)
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + layer.shape[1], canvas), min(y + layer.shape[0], canvas)
    if x0 < x1 and y0 < y1:
        out[y0:y1, x0:x1] = layer[y0 - y:y1 - y, x0 - x:x1 - x]
    return out


def _plate_pass(rng: np.random.Generator, plate: np.ndarray, gain: float, read: float) -> tuple[np.ndarray, dict]:
    """The clean plate as its own pass: exposure drift, sub-pixel shift, its own sensor noise."""
    drift = float(rng.uniform(0.01, 0.04) * rng.choice((-1.0, 1.0)))
    angle = rng.uniform(0.0, 2.0 * np.pi)
    distance = rng.uniform(0.2, 0.7)
    shift = (float(distance * np.cos(angle)), float(distance * np.sin(angle)))
    matrix = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    size = plate.shape[0]
    moved = cv2.warpAffine(plate, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    clean = _sensor_noise(rng, moved * (1.0 + drift), gain, read)
    return clean, {"exposure_drift": drift, "plate_shift_px": list(shift)}


def _shadow_params(rng: np.random.Generator, size: int) -> tuple[float, np.ndarray]:
    """A cast shadow on 40 % of shots: its strength (0 = none) and its offset (x, y) in pixels."""
    if rng.uniform() >= 0.4:
        return 0.0, np.zeros(2)
    return float(rng.uniform(0.25, 0.6)), rng.uniform(0.02, 0.08, 2) * size * rng.choice((-1.0, 1.0), 2)


def _darkening(alpha: np.ndarray, strength: float, offset: np.ndarray) -> np.ndarray:
    """(H, W) factor in [0, 1] that darkens the plate under the shifted, blurred alpha."""
    size = alpha.shape[0]
    moved = cv2.warpAffine(alpha, np.float32([[1, 0, offset[0]], [0, 1, offset[1]]]), (size, size))
    soft = cv2.GaussianBlur(moved, (0, 0), 0.02 * size)
    return (1.0 - strength * soft).astype(np.float32)


def _write_shot(out: Path, split: str, name: str, index: int, kind: str, count: int,
                recipe: ValidationRecipe) -> Shot:
    """Build and write shot ``index`` (count frames; the element moves when count > 1)."""
    rng = item_rng(recipe.seed, SHOT_STREAM, index)
    size = recipe.size
    plate, style = generate_plate(item_rng(recipe.seed, PLATE_STREAM, index), size)
    premult, alpha = _placed_element(rng, kind, index, recipe.seed, 2 * size)
    gain, read = float(10.0 ** rng.uniform(-4.0, -2.5)), float(10.0 ** rng.uniform(-3.5, -2.5))
    clean, params = _plate_pass(rng, plate, gain, read)
    start = rng.uniform(-0.1, 0.6, 2) * (2 * size - np.array(alpha.shape[::-1]) * 0.5)
    velocity = rng.uniform(-12.0, 12.0, 2) if count > 1 else np.zeros(2)
    shutter = 4 if count > 1 else 1
    folder = out / split / name
    write_exr(folder / "clean.exr", clean, ("R", "G", "B"))
    shadow_strength, shadow_offset = _shadow_params(rng, size)
    for t in range(count):
        samples = []
        for s in range(shutter):
            x, y = np.round(start + velocity * (t + 0.5 * s / shutter)).astype(int)
            samples.append((_paste(premult, 2 * size, x, y), _paste(alpha, 2 * size, x, y)))
        frame_premult = resize_area(np.mean([p for p, _ in samples], axis=0), (size, size))
        frame_alpha = np.clip(resize_area(np.mean([a for _, a in samples], axis=0), (size, size)), 0.0, 1.0)
        background = plate * _darkening(frame_alpha, shadow_strength, shadow_offset)[..., None] \
            if shadow_strength else plate
        frame = frame_premult + (1.0 - frame_alpha[..., None]) * background
        frame = _sensor_noise(rng, frame.astype(np.float32), gain, read)
        number = FIRST_FRAME + t
        write_exr(folder / f"frame.{number:04d}.exr", frame, ("R", "G", "B"))
        write_exr(folder / f"alpha.{number:04d}.exr", frame_alpha[..., None].astype(np.float32), ("Y",))
    params.update({"noise_gain": gain, "noise_read": read, "shadow": shadow_strength, "plate_style": style,
                   "velocity_px": [float(v) / 2 for v in velocity]})
    relative = f"{split}/{name}"
    return Shot(name=name, split=split, frames=list(range(FIRST_FRAME, FIRST_FRAME + count)),
                frame=f"{relative}/frame.####.exr", plate=f"{relative}/clean.exr",
                alpha=f"{relative}/alpha.####.exr", kind=kind, params=params)


def generate_validation(out: Path, recipe: ValidationRecipe = ValidationRecipe(),
                        progress: Callable[[int, int, str], None] | None = None, command: str = "") -> Path:
    """Write the validation set to ``out`` and return its ``index.json``.

    Args:
        out: Set folder (created; files of the same names are replaced).
        recipe: Seed, size and counts.
        progress: Called after each shot as progress(done, total, shot name).
        command: The command line that made the set, kept in the index.

    Raises:
        InputError: the recipe cannot be built (see ``check_recipe``).
    """
    check_recipe(recipe)
    plan = [("still", i, 1, i < recipe.tune_stills) for i in range(recipe.stills)]
    plan += [("sequence", i, recipe.sequence_frames, i < recipe.tune_sequences) for i in range(recipe.sequences)]
    shots = []
    for index, (what, number, count, tune) in enumerate(plan):
        kind = KINDS[index % len(KINDS)]
        name = f"{what}_{number:03d}_{kind}"
        shots.append(_write_shot(out, "tune" if tune else "test", name, index, kind, count, recipe))
        if progress:
            progress(index + 1, len(plan), name)
    index_path = out / "index.json"
    document = {"format": VALIDATION_FORMAT, "version": 1, "colorspace": "ACEScg",
                "recipe": {**asdict(recipe), "command": command,
                           "streams": {"element": ELEMENT_STREAM, "plate": PLATE_STREAM, "shot": SHOT_STREAM}},
                "licence": "Apache-2.0 (generated by bgmatte)",
                "shots": [shot.index_entry() for shot in shots]}
    with atomic_output(index_path) as temp:
        temp.write_text(json.dumps(document, indent=1))
    log.info("validation set written: %s (%d shots)", out, len(shots))
    return index_path


def load_validation(folder: Path) -> list[Shot]:
    """The shots listed in a validation set's ``index.json``.

    Raises:
        InputError: the folder has no readable index of this format.
    """
    index_path = Path(folder) / "index.json"
    if not index_path.is_file():
        raise InputError(folder, "no index.json: not a validation set (make one with bgmatte data --validation)")
    try:
        document = json.loads(index_path.read_text())
    except (OSError, ValueError) as error:
        raise InputError(index_path, f"cannot read the index: {error}") from None
    if not isinstance(document, dict) or document.get("format") != VALIDATION_FORMAT:
        raise InputError(index_path, f"not a {VALIDATION_FORMAT} index")
    shots = []
    for entry in document["shots"]:
        entry = dict(entry)
        entry["shot_class"] = entry.pop("class", "")
        try:
            shots.append(Shot(**entry))
        except TypeError as error:
            raise InputError(index_path, f"bad shot entry: {error}") from None
    return shots
