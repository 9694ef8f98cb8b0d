"""Background plates: procedural ones drawn from a seed, and the photos shipped inside wheels.

Photos come only from files that the scikit-image and scikit-learn wheels contain (never the
datasets those packages download on first use); each carries the licence stated by the package.
matplotlib's wheel was checked too: its only photo (grace_hopper.jpg) ships without licence text,
so it is not used. Every plate is returned as scene-linear ACEScg, float32 (H, W, 3).
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import PyOpenColorIO as OCIO

from bgmatte.data.textures import colour_field, fractal_noise, random_colour, smoothstep
from bgmatte.errors import InputError

PHOTO_COLORSPACE = "sRGB Encoded Rec.709 (sRGB)"
"""Colourspace of the wheel photos (8-bit sRGB files), converted to ACEScg with OCIO."""


@dataclass(frozen=True)
class PhotoSource:
    """A photo inside an installed package, with the licence its package states for it."""

    package: str
    distribution: str
    path: str
    licence: str


PHOTO_SOURCES = (
    PhotoSource("skimage", "scikit-image", "data/astronaut.png", "public domain (NASA), per skimage.data.astronaut"),
    PhotoSource("skimage", "scikit-image", "data/brick.png", "CC0 (CC0Textures Bricks25), per skimage.data.brick"),
    PhotoSource("skimage", "scikit-image", "data/camera.png", "CC0 (photographer Lav Varshney), per skimage.data.camera"),
    PhotoSource("skimage", "scikit-image", "data/chelsea.png", "CC0 (photographer Stefan van der Walt), per skimage.data.chelsea"),
    PhotoSource("skimage", "scikit-image", "data/coffee.png", "CC0 (photographer Rachel Michetti), per skimage.data.coffee"),
    PhotoSource("skimage", "scikit-image", "data/coins.png", "no known copyright restrictions, per skimage.data.coins"),
    PhotoSource("skimage", "scikit-image", "data/grass.png", "CC0 (CC0Textures Grass), per skimage.data.grass"),
    PhotoSource("skimage", "scikit-image", "data/gravel.png", "CC0 (CC0Textures Gravel04), per skimage.data.gravel"),
    PhotoSource("skimage", "scikit-image", "data/hubble_deep_field.jpg", "public domain (NASA), per skimage.data.hubble_deep_field"),
    PhotoSource("skimage", "scikit-image", "data/rocket.jpg", "public domain (SpaceX), per skimage.data.rocket"),
    PhotoSource("skimage", "scikit-image", "data/retina.jpg", "CC0 1.0, per skimage.data.retina"),
    PhotoSource("sklearn", "scikit-learn", "datasets/images/china.jpg",
                "CC BY 2.0, danielbuechele (Flickr), per sklearn/datasets/images/README.txt"),
    PhotoSource("sklearn", "scikit-learn", "datasets/images/flower.jpg",
                "CC BY 2.0, vultilion (Flickr), per sklearn/datasets/images/README.txt"),
)


def photo_path(source: PhotoSource) -> Path:
    """Where ``source`` lies in the installed package (found without importing the package).

    Raises:
        InputError: If the package is not installed or the file is not in it.
    """
    spec = importlib.util.find_spec(source.package)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(source.distribution, "not installed; photo plates need it "
                         "(pip install scikit-image scikit-learn) or pass --no-photos")
    path = Path(next(iter(spec.submodule_search_locations))) / source.path
    if not path.is_file():
        raise InputError(path, "photo missing from the installed package")
    return path


def photo_provenance(source: PhotoSource) -> dict[str, str]:
    """Package version and in-package path of a photo, for the bank index."""
    version = importlib.metadata.version(source.distribution)
    return {"package": f"{source.distribution} {version}", "path": f"{source.package}/{source.path}"}


HDRI_COLORSPACE = "Linear Rec.709 (sRGB)"
"""Colourspace of float EXR photographs (the bpy wheel's HDRIs: scene-linear Rec.709 primaries)."""


@lru_cache(maxsize=4)
def _to_acescg(colourspace: str) -> OCIO.CPUProcessor:
    config = OCIO.Config.CreateFromBuiltinConfig("cg-config-latest")
    return config.getProcessor(colourspace, "ACEScg").getDefaultCPUProcessor()


def _srgb_to_acescg() -> OCIO.CPUProcessor:
    return _to_acescg(PHOTO_COLORSPACE)


def decode_photo(path: Path) -> tuple[np.ndarray, str]:
    """A photo file's pixels as stored and the OCIO colourspace they are in.

    8-bit files (JPEG, PNG; greyscale becomes grey RGB, an alpha channel is dropped) come back as
    uint8 (H, W, 3) RGB in :data:`PHOTO_COLORSPACE`; float EXRs (HDRIs) as float32 (H, W, 3) in
    :data:`HDRI_COLORSPACE`. Crop first, then :func:`photo_to_acescg`, to convert only what is used.

    Raises:
        InputError: the file cannot be decoded.
    """
    path = Path(path)
    if path.suffix.lower() == ".exr":
        import OpenImageIO as oiio

        buffer = oiio.ImageBuf(str(path))
        if buffer.has_error or buffer.spec().nchannels < 3:
            raise InputError(path, f"cannot decode photo: {buffer.geterror() or 'fewer than 3 channels'}")
        return np.ascontiguousarray(buffer.get_pixels(oiio.FLOAT)[..., :3], dtype=np.float32), HDRI_COLORSPACE
    pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if pixels is None:
        raise InputError(path, "cannot decode photo")
    return np.ascontiguousarray(pixels[..., ::-1]), PHOTO_COLORSPACE


def photo_to_acescg(pixels: np.ndarray, colourspace: str) -> np.ndarray:
    """Decoded photo pixels (uint8 encoded or float linear, see :func:`decode_photo`) as scene-linear
    ACEScg (H, W, 3) float32, converted with OCIO."""
    rgb = np.array(pixels, dtype=np.float32, order="C")
    if pixels.dtype == np.uint8:
        rgb /= 255.0
    _to_acescg(colourspace).applyRGB(rgb)
    return rgb


def load_photo_file(path: Path) -> np.ndarray:
    """Any photo file (8-bit sRGB JPEG/PNG or linear float EXR) as scene-linear ACEScg (H, W, 3) float32."""
    return photo_to_acescg(*decode_photo(path))


def load_photo(source: PhotoSource) -> np.ndarray:
    """A wheel photo as scene-linear ACEScg (H, W, 3) float32 (greyscale photos become grey RGB)."""
    return load_photo_file(photo_path(source))


def generate_plate(rng: np.random.Generator, size: int) -> tuple[np.ndarray, str]:
    """Draw one procedural plate, scene-linear ACEScg (size, size, 3), and its style name.

    Styles: an interior (wall, floor, furniture, lamps), foliage/nature noise, an abstract
    textured backdrop with shapes, and clutter with thin lines (background detail that looks like
    hair, so the network must use the plate rather than edge cues). Light sources exceed 1.
    """
    style = str(rng.choice(("interior", "nature", "abstract", "clutter"), p=(0.3, 0.25, 0.2, 0.25)))
    plate = {"interior": _interior, "nature": _nature, "abstract": _abstract, "clutter": _clutter}[style](rng, size)
    if rng.uniform() < 0.3:
        plate = _add_lights(rng, plate)
    if rng.uniform() < 0.3:
        plate = cv2.GaussianBlur(plate, (0, 0), rng.uniform(0.5, 6.0))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    vignette = 1.0 - rng.uniform(0.0, 0.6) * (xx * xx + yy * yy) * 2
    return np.maximum(plate * vignette[..., None], 0.0).astype(np.float32), style


def _interior(rng: np.random.Generator, size: int) -> np.ndarray:
    horizon = int(size * rng.uniform(0.4, 0.85))
    wall = colour_field(rng, (size, size))
    floor = colour_field(rng, (size, size))
    yy = np.arange(size, dtype=np.float32)[:, None, None]
    plate = np.where(yy < horizon, wall, floor * rng.uniform(0.5, 1.2))
    for _ in range(int(rng.integers(0, 6))):
        x0, y0 = rng.integers(0, size, 2)
        w, h = rng.integers(size // 16, size // 2, 2)
        shade = colour_field(rng, (size, size)) if rng.uniform() < 0.5 else np.broadcast_to(random_colour(rng), (size, size, 3))
        box = np.zeros((size, size), np.float32)
        cv2.rectangle(box, (int(x0), int(y0)), (int(x0 + w), int(y0 + h)), 1.0, -1)
        plate = plate * (1 - box[..., None]) + shade * box[..., None]
    light = 0.4 + 1.2 * fractal_noise(rng, (size, size), 2, 2)
    return plate * light[..., None]


def _nature(rng: np.random.Generator, size: int) -> np.ndarray:
    sky = np.broadcast_to(random_colour(rng, saturation=rng.uniform(0.1, 0.6)) * rng.uniform(1.0, 4.0), (size, size, 3))
    leaves = fractal_noise(rng, (size, size), 7, int(rng.integers(4, 16)), persistence=0.7)
    green = np.array([0.05, 0.12, 0.03], np.float32) * rng.uniform(0.4, 2.0, 3).astype(np.float32)
    foliage = green * (0.3 + 1.4 * leaves)[..., None]
    cover = smoothstep((fractal_noise(rng, (size, size), 4, 3) - rng.uniform(0.2, 0.6)) * 8.0)
    return sky * (1 - cover[..., None]) + foliage * cover[..., None]


def _abstract(rng: np.random.Generator, size: int) -> np.ndarray:
    plate = colour_field(rng, (size, size))
    for _ in range(int(rng.integers(3, 25))):
        colour = tuple(float(c) for c in random_colour(rng))
        centre = (int(rng.integers(0, size)), int(rng.integers(0, size)))
        if rng.uniform() < 0.5:
            cv2.circle(plate, centre, int(rng.integers(3, size // 4)), colour, -1, cv2.LINE_AA)
        else:
            axes = (int(rng.integers(3, size // 3)), int(rng.integers(3, size // 3)))
            cv2.ellipse(plate, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_AA)
    return plate


def _clutter(rng: np.random.Generator, size: int) -> np.ndarray:
    plate = _abstract(rng, size) if rng.uniform() < 0.5 else _interior(rng, size)
    for _ in range(int(rng.integers(20, 200))):
        colour = tuple(float(c) for c in random_colour(rng))
        points = np.cumsum(rng.normal(0, size / 20, (int(rng.integers(2, 12)), 2)), 0) + rng.uniform(0, size, 2)
        cv2.polylines(plate, [points.astype(np.int32)], False, colour, int(rng.integers(1, 4)), cv2.LINE_AA)
    return plate


def _add_lights(rng: np.random.Generator, plate: np.ndarray) -> np.ndarray:
    """Soft bright sources (lamps, windows, sun glints) well above 1.0."""
    size = plate.shape[0]
    glow = np.zeros(plate.shape[:2], np.float32)
    for _ in range(int(rng.integers(1, 5))):
        centre = (int(rng.integers(0, size)), int(rng.integers(0, size)))
        axes = (int(rng.integers(2, size // 14)), int(rng.integers(2, size // 14)))
        cv2.ellipse(glow, centre, axes, float(rng.uniform(0, 180)), 0, 360, float(rng.uniform(1.5, 20.0)), -1)
    glow = cv2.GaussianBlur(glow, (0, 0), rng.uniform(1.0, 8.0))
    tint = random_colour(rng, saturation=rng.uniform(0.0, 0.3))
    return plate + glow[..., None] * tint / max(float(tint.max()), 1e-3)
