"""Compose one stage-1 training sample from the banks, as the network would see a real frame.

A sample is a pure function of (seed, index). It is built in three steps:

1. :func:`draw_scene`: in scene-linear ACEScg, one or two elements (scaled, rotated, recoloured,
   sometimes cut by the frame edge, sometimes coloured like the plate) over a plate (cropped,
   flipped, colour-shifted, sometimes with highlights well above 1), with a cast shadow on the
   plate that the alpha leaves out. The key frame t is composed at 2x the training crop and obeys
   ``I = P + (1 - A) B`` exactly (P premultiplied foreground); the neighbours t-2k, t-k, t+k, t+2k
   (the element moving, or still) are composed directly at the crop size for the motion cue.
2. :func:`downsample_scene`: area-average the key frame to the crop size, so strands thinner than
   a pixel become fractional alpha as in a downsampled 4K frame.
3. :func:`network_sample`: camera effects (defocus, sensor noise), the clean plate perturbed as a
   real plate pass differs from its take (exposure drift, ``match_gain`` after a large one, gamma,
   blur, noise, sub-pixel shift, small misalignment), the soft segmentation prior (from the true
   alpha by ``process_mask``, the automatic ``soft_segmentation``, or a missing/poor prior),
   motion cues (or four copies of the frame, as inference does for a still), and the network
   encoding (``encode_for_network``) after the exposure normalisation that inference applies
   (every image of the sample times ``exposure_scale`` of the plate given to the network).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from bgmatte.color.encoding import encode_for_network
from bgmatte.color.exposure import exposure_scale
from bgmatte.data.bank import Bank, ElementEntry, read_element, read_plate
from bgmatte.data.textures import fractal_noise, smoothstep
from bgmatte.priors.motion import motion_grey, stack_motion_cues
from bgmatte.priors.gain_match import match_gain
from bgmatte.priors.resample import resize_area
from bgmatte.priors.segmentation import process_mask, soft_segmentation

log = logging.getLogger(__name__)

SUPERSAMPLE = 2
"""Scenes are composed at this multiple of the crop, then area-averaged."""
BACKGROUND_CHANGE_CHANCE = 0.15
"""Share of samples whose plate differs locally from the frame's background (see _background_change)."""
SYNTHETIC_SHADOW_CHANCE = 0.4
"""Share of elements without a rendered shadow pass that get a synthetic cast shadow."""
NEIGHBOURS = (-2, -1, 1, 2)
"""Neighbour frames of the motion cue in units of the motion gap k: t-2k, t-k, t+k, t+2k."""


@dataclass(frozen=True)
class Scene:
    """A composite in scene-linear ACEScg before any camera effect: the key frame t and its neighbours.

    The key frame obeys ``frame = premult + (1 - alpha) * background`` exactly. Neighbours only feed
    the motion cue, so they are composed directly at the working size (half the key's size before
    :func:`downsample_scene`), which keeps sample generation cheap.

    Attributes:
        frame: (H, W, 3) composite I at t.
        premult: (H, W, 3) premultiplied foreground P at t.
        alpha: (H, W) coverage A at t.
        background: (H, W, 3) background behind the subject B (the plate with the cast shadow).
        plate: (H, W, 3) the clean plate as shot without the subject (no shadow).
        neighbours: (4, h, w, 3) composites at t-2k, t-k, t+k, t+2k at the working size.
    """

    frame: np.ndarray
    premult: np.ndarray
    alpha: np.ndarray
    background: np.ndarray
    plate: np.ndarray
    neighbours: np.ndarray


def training_sample(banks: list[Bank], seed: int, index: int, crop: int) -> dict[str, np.ndarray]:
    """Sample ``index`` of the stream ``seed``: network inputs and targets at crop x crop.

    Returns:
        Encoded float32 arrays: ``image`` (h, w, 3) the frame as input; ``image_clean`` (h, w, 3)
        the frame before noise; ``plate`` (h, w, 3) the perturbed clean plate as input;
        ``background`` (h, w, 3) the true background behind the subject (for re-composition);
        ``fg`` (h, w, 3) straight foreground colour (0 where alpha is 0); ``motion`` (h, w, 4)
        encoded greys of t-2k, t-k, t+k, t+2k; and ``seg`` (h, w) prior and ``alpha`` (h, w) truth
        in [0, 1].
    """
    rng = np.random.default_rng([seed, index])
    scene = draw_scene(banks, rng, crop * SUPERSAMPLE)
    return network_sample(downsample_scene(scene, crop), rng)


DARK_PLATE_CHANCE = 0.12
DARK_PLATE_LEVELS = (0.03, 0.3)
"""A share of scenes has a lit subject before a background 3-30x darker (a stage, a night exterior):
the plate dims, the element does not, so a bright veil over it must not read as opaque."""


def draw_scene(banks: list[Bank], rng: np.random.Generator, size: int) -> Scene:
    """One or two bank elements moving over a bank plate: key frame size x size, neighbours size/2."""
    plate = _plate_crop(rng, _choose_plate(banks, rng), size)
    if rng.uniform() < DARK_PLATE_CHANCE:
        plate = plate * np.float32(np.exp(rng.uniform(*np.log(DARK_PLATE_LEVELS))))
    small = size // SUPERSAMPLE
    still = rng.uniform() < 0.3
    layers = [_element_layer(rng, _choose_element(banks, rng), size, still, plate, banks)
              for _ in range(1 if rng.uniform() < 0.75 else 2)]
    premult = np.zeros((size, size, 3), np.float32)
    alpha = np.zeros((size, size), np.float32)
    shadow = np.ones((size, size, 1), np.float32)
    moving_premult = np.zeros((len(NEIGHBOURS), small, small, 3), np.float32)
    moving_alpha = np.zeros((len(NEIGHBOURS), small, small), np.float32)
    moving_shadow = np.ones((len(NEIGHBOURS), small, small, 1), np.float32)
    for key, neighbours in layers:
        premult, alpha, shadow = _over(key, (premult, alpha, shadow))
        moving_premult, moving_alpha, moving_shadow = _over(neighbours, (moving_premult, moving_alpha, moving_shadow))
    background = plate * shadow
    frame = premult + (1.0 - alpha[..., None]) * background
    moving_backgrounds = _camera_shake(rng, resize_area(plate, (small, small)), still) * moving_shadow
    moving_frames = moving_premult + (1.0 - moving_alpha[..., None]) * moving_backgrounds
    return Scene(frame, premult, alpha, background.astype(np.float32), plate, moving_frames.astype(np.float32))


def _over(layer: tuple[np.ndarray, np.ndarray, np.ndarray],
          below: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(premult, alpha, shadow) of ``layer`` over ``below``: premultiplied over, shadows multiply."""
    premult, alpha, shadow = layer
    return (premult + below[0] * (1.0 - alpha[..., None]), alpha + below[1] * (1.0 - alpha), shadow * below[2])


def downsample_scene(scene: Scene, crop: int) -> Scene:
    """Area-average the key frame's images to crop x crop (linear light stays linear)."""
    size = (crop, crop)
    return Scene(resize_area(scene.frame, size), resize_area(scene.premult, size), resize_area(scene.alpha, size),
                 resize_area(scene.background, size), resize_area(scene.plate, size), scene.neighbours)


@dataclass(frozen=True)
class Capture:
    """A scene as a camera records it: the (sometimes defocused) scene, the noisy take and the plate pass.

    Attributes:
        scene: the scene after the camera's defocus (the truth the take was made from).
        image: (H, W, 3) noisy frame.
        neighbours: four (h, w, 3) noisy neighbour frames.
        plate: (H, W, 3) the clean plate pass as shot separately (drift, shift, blur, noise).
    """

    scene: Scene
    image: np.ndarray
    neighbours: list[np.ndarray]
    plate: np.ndarray


def capture(scene: Scene, rng: np.random.Generator) -> Capture:
    """Camera effects and plate perturbation of a scene, in scene-linear (before any encoding)."""
    scene = _camera_blur(rng, scene)
    noise = _noise_model(rng)
    image = _sensor_noise(rng, scene.frame, noise)
    neighbours = [_sensor_noise(rng, frame, noise) for frame in scene.neighbours]
    return Capture(scene, image, neighbours, _perturbed_plate(rng, scene.plate, image, noise))


def network_sample(scene: Scene, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Camera effects, plate perturbation, priors and encoding of a working-size scene."""
    shot = capture(scene, rng)
    scene, image, neighbours, plate = shot.scene, shot.image, shot.neighbours, shot.plate
    alpha = np.clip(scene.alpha, 0.0, 1.0)
    fg = np.where(alpha[..., None] > 1e-3, scene.premult / np.maximum(alpha[..., None], 1e-3), 0.0)
    # As inference (pipeline.network_inputs): the whole sample at the level its plate sets.
    k = np.float32(exposure_scale(plate))
    # One encode call for every image of the sample (it is the costly part at this size).
    encoded = encode_for_network(np.stack([image, scene.frame, plate, scene.background, fg.astype(np.float32),
                                           *neighbours]) * k)
    image_enc, image_clean, plate_enc, background, fg_enc = encoded[:5]
    # As inference does for a single image: four copies of the frame instead of neighbours.
    single_image = rng.uniform() < 0.3
    greys = [motion_grey(image_enc if single_image else frame) for frame in encoded[5:]]
    return {
        "image": image_enc,
        "image_clean": image_clean,
        "plate": plate_enc,
        "background": background,
        "fg": np.where(alpha[..., None] > 1e-3, fg_enc, 0.0).astype(np.float32),
        "motion": stack_motion_cues(greys),
        "seg": _segmentation_prior(rng, alpha, image_enc, plate_enc),
        "alpha": alpha.astype(np.float32),
    }


def _choose_element(banks: list[Bank], rng: np.random.Generator) -> ElementEntry:
    """A bank with elements at random (chance by bank weight, equal by default), then one of its elements."""
    candidates = [bank for bank in banks if bank.elements]
    weights = np.array([bank.weight for bank in candidates])
    if np.all(weights == weights[0]):
        bank = candidates[rng.integers(len(candidates))]
    else:
        bank = candidates[rng.choice(len(candidates), p=weights / weights.sum())]
    return bank.elements[rng.integers(len(bank.elements))]


def _choose_plate(banks: list[Bank], rng: np.random.Generator) -> np.ndarray:
    """Pixels of a random plate: photos 60 % of the time when a bank has any (real footage is photographic)."""
    entries = [plate for bank in banks for plate in bank.plates]
    photos = [plate for plate in entries if plate.kind == "photo"]
    pool = photos if photos and rng.uniform() < 0.6 else entries
    return read_plate(pool[rng.integers(len(pool))].path)


def _plate_crop(rng: np.random.Generator, pixels: np.ndarray, size: int) -> np.ndarray:
    """A random scaled, flipped, colour-shifted size x size window of a plate (linear)."""
    height, width = pixels.shape[:2]
    scale = size / min(height, width) * rng.uniform(1.0, 2.5)
    crop = size / scale
    y0 = rng.uniform(0, height - crop)
    x0 = rng.uniform(0, width - crop)
    matrix = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], np.float32)
    plate = cv2.warpAffine(pixels, matrix, (size, size), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT)
    if rng.uniform() < 0.5:
        plate = plate[:, ::-1]
    plate = _colour_shift(rng, plate, strength=0.15)
    if rng.uniform() < 0.3:
        # Photo plates are display-referred: re-expand their highlights as a scene-linear camera sees them.
        knee = rng.uniform(0.5, 0.9)
        plate = plate + np.maximum(plate - knee, 0.0) ** 2 * rng.uniform(5.0, 60.0)
    return np.ascontiguousarray(np.maximum(plate, 0.0) * 2.0 ** rng.uniform(-1.5, 1.5), dtype=np.float32)


def _colour_shift(rng: np.random.Generator, rgb: np.ndarray, strength: float) -> np.ndarray:
    """Per-channel gain (colour cast) and saturation change of linear RGB (..., 3)."""
    grey = rgb.mean(axis=-1, keepdims=True)
    saturation = rng.uniform(0.5, 1.4)
    cast = np.exp(rng.normal(0.0, strength, 3)).astype(np.float32)
    return (grey + (rgb - grey) * saturation) * cast


Layer = tuple[np.ndarray, np.ndarray, np.ndarray]
"""(premult (H, W, 3), alpha (H, W), shadow factor on the plate (H, W, 1)) of one element layer."""


# A share of elements is a close-up: scaled up until it covers at least half of the frame (a face,
# hands, a dress or a coat filling the shot), up to all of it.
CLOSE_UP_CHANCE = 0.25
CLOSE_UP_COVERAGE = 0.5
# A share of elements wears the texture of a bank photo (real surface detail, not noise).
PHOTO_TEXTURE_CHANCE = 0.3


def _element_layer(rng: np.random.Generator, entry: ElementEntry, size: int, still: bool,
                   plate: np.ndarray, banks: list[Bank]) -> tuple[Layer, Layer]:
    """One element placed in the key frame (size x size) and its four neighbours (size/2, stacked)."""
    key = read_element(entry.path)
    height, width = key.shape[:2]
    close_up = rng.uniform() < CLOSE_UP_CHANCE
    for _ in range(8):
        if close_up:
            scale = size * np.exp(rng.uniform(np.log(1.2), np.log(4.0))) / max(height, width)
            centre = rng.uniform(0.2, 0.8, 2) * size
        else:
            scale = size * np.exp(rng.uniform(np.log(0.3), np.log(2.0))) / max(height, width)
            centre = rng.uniform(-0.1, 1.1, 2) * size
        placement = _Placement(scale, rng.uniform(-25, 25), bool(rng.uniform() < 0.5), centre)
        coverage = _warp(key[..., 3:], placement, (height, width), size).mean()
        if (coverage >= CLOSE_UP_COVERAGE) if close_up else (0.02 < coverage < 0.9):
            break
    velocity = np.zeros(2) if still else rng.normal(0.0, size * 0.03, 2)
    spin = 0.0 if still else rng.normal(0.0, 2.0)
    colour = _recolour(rng, key, plate, placement, size)
    texture = _photo_texture(rng, banks, (height, width))
    shadow = _shadow_maker(rng, entry, placement, (height, width))
    coloured = _dress(key, colour, texture)
    key_rgba = _warp(coloured, placement, (height, width), size)
    key_layer = (key_rgba[..., :3], np.clip(key_rgba[..., 3], 0.0, 1.0), shadow(key_rgba[..., 3], 1.0))
    small = size // SUPERSAMPLE
    factor = small / size
    if entry.sequence and not still:
        paths = [entry.sequence[i] for i in (0, 1, 3, 4)]
    else:
        paths = [entry.path] * len(NEIGHBOURS)
    premults, alphas, shadows = [], [], []
    for offset, path in zip(NEIGHBOURS, paths):
        source = coloured if path == entry.path else _dress(read_element(path), colour, texture)
        moved = _Placement(placement.scale * factor, placement.angle + spin * offset, placement.flip,
                           (placement.centre + velocity * offset) * factor)
        rgba = _warp(source, moved, (height, width), small)
        premults.append(rgba[..., :3])
        alphas.append(np.clip(rgba[..., 3], 0.0, 1.0))
        shadows.append(shadow(rgba[..., 3], factor))
    return key_layer, (np.stack(premults), np.stack(alphas), np.stack(shadows))


@dataclass(frozen=True)
class _Placement:
    """Where an element lands: scale, rotation (degrees), horizontal flip, centre (x, y) in pixels."""

    scale: float
    angle: float
    flip: bool
    centre: np.ndarray


def _warp(pixels: np.ndarray, placement: _Placement, shape: tuple[int, int], size: int) -> np.ndarray:
    """Place a premultiplied (h, w, C) image on a size x size canvas (zeros outside)."""
    height, width = shape
    rotate = np.vstack([cv2.getRotationMatrix2D((width / 2, height / 2), placement.angle, placement.scale), [0, 0, 1]])
    flip = np.array([[-1, 0, width], [0, 1, 0], [0, 0, 1]], np.float64) if placement.flip else np.eye(3)
    matrix = (rotate @ flip)[:2]
    matrix[:, 2] += placement.centre - np.array([width / 2, height / 2])
    flags = cv2.INTER_AREA if placement.scale < 1 else cv2.INTER_LINEAR
    out = cv2.warpAffine(np.ascontiguousarray(pixels), matrix, (size, size), flags=flags,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.reshape(size, size, pixels.shape[2])


def _recolour(rng: np.random.Generator, key: np.ndarray, plate: np.ndarray, placement: _Placement,
              size: int) -> np.ndarray:
    """A 3x3 colour matrix for premultiplied RGB (row vectors): exposure, cast, saturation and,
    sometimes, a pull towards the plate's colour under the element (foreground near background)."""
    saturation = rng.uniform(0.5, 1.3)
    mix = np.full((3, 3), (1.0 - saturation) / 3.0) + np.eye(3) * saturation
    gain = 2.0 ** rng.uniform(-1.5, 1.0) * np.exp(rng.normal(0.0, 0.15, 3))
    matrix = mix * gain[None, :]
    if rng.uniform() < 0.25:
        placed = _warp(key, placement, key.shape[:2], size)
        weight = float(placed[..., 3].sum())
        if weight > 1.0:
            plate_mean = (plate * placed[..., 3:]).sum((0, 1)) / weight
            element_mean = placed[..., :3].sum((0, 1)) / weight @ matrix
            target = plate_mean * np.exp(rng.normal(0.0, 0.1, 3))
            pull = (np.maximum(target, 1e-5) / np.maximum(element_mean, 1e-5)) ** rng.uniform(0.5, 0.95)
            matrix = matrix * pull[None, :]
    return matrix.astype(np.float32)


def _photo_texture(rng: np.random.Generator, banks: list[Bank], shape: tuple[int, int]) -> np.ndarray | None:
    """Sometimes (``PHOTO_TEXTURE_CHANCE``) a photograph's detail to dress an element in: (h, w, 3), mean 1.

    A crop of a bank photo, divided by its mean and given a random contrast, so that a procedural
    or rendered element carries the texture and colour variation of real surfaces (cloth, skin,
    foliage, print) and moves with it.
    """
    photos = [plate for bank in banks for plate in bank.plates if plate.kind == "photo"]
    if not photos or rng.uniform() >= PHOTO_TEXTURE_CHANCE:
        return None
    crop = _plate_crop(rng, read_plate(photos[rng.integers(len(photos))].path), max(shape))[:shape[0], :shape[1]]
    texture = np.maximum(crop, 0.0) / max(float(crop.mean()), 1e-6)
    return np.minimum(texture ** rng.uniform(0.5, 1.2), 20.0).astype(np.float32)


def _dress(rgba: np.ndarray, matrix: np.ndarray, texture: np.ndarray | None) -> np.ndarray:
    """An element recoloured by ``matrix`` and, when given, multiplied by a photo texture (premultiplied)."""
    out = _apply_colour(rgba, matrix)
    if texture is not None:
        out[..., :3] *= texture
    return out


def _apply_colour(rgba: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Premultiplied (h, w, 4) with its RGB multiplied by a 3x3 colour matrix (negatives removed)."""
    out = rgba.copy()
    out[..., :3] = np.maximum(rgba[..., :3] @ matrix, 0.0)
    return out


def _shadow_maker(rng: np.random.Generator, entry: ElementEntry, placement: _Placement,
                  shape: tuple[int, int]) -> Callable[[np.ndarray, float], np.ndarray]:
    """A function (alpha (h, w), canvas factor) -> multiplicative shadow (h, w, 1) on the plate.

    The element's rendered shadow pass when it has one, else (``SYNTHETIC_SHADOW_CHANCE``) a
    synthetic cast shadow: the alpha sheared onto the ground, or offset onto a wall behind, blurred
    and darkened. The target alpha never includes it: a shadow is a change of the background, not
    foreground.
    """
    if entry.shadow is not None and rng.uniform() < 0.8:
        with_shadow, clean = (read_plate(path) for path in entry.shadow)
        darkening = 1.0 - np.clip(with_shadow / np.maximum(clean, 1e-6), 0.0, 1.0).mean(axis=2, keepdims=True)

        def rendered(alpha: np.ndarray, factor: float) -> np.ndarray:
            moved = _Placement(placement.scale * factor, placement.angle, placement.flip, placement.centre * factor)
            return 1.0 - _warp(darkening, moved, shape, alpha.shape[0])

        return rendered
    if rng.uniform() > SYNTHETIC_SHADOW_CHANCE:
        return lambda alpha, factor: np.ones((*alpha.shape, 1), np.float32)
    strength = rng.uniform(0.2, 0.7)
    if rng.uniform() < 0.5:
        cast_onto = np.array([[1.0, rng.uniform(-1.0, 1.0), rng.normal(0, 0.05)],
                              [0.0, rng.uniform(0.2, 1.0), rng.normal(0.05, 0.05)]], np.float32)
    else:
        scale = rng.uniform(0.9, 1.15)
        offset = rng.uniform(0.02, 0.1, 2) * rng.choice((-1.0, 1.0), 2)
        cast_onto = np.array([[scale, 0.0, offset[0]], [0.0, scale, offset[1]]], np.float32)
    softness = rng.uniform(0.004, 0.05)

    def synthetic(alpha: np.ndarray, factor: float) -> np.ndarray:
        size = alpha.shape[0]
        matrix = cast_onto.copy()
        matrix[:, 2] *= size
        cast = cv2.warpAffine(np.ascontiguousarray(alpha), matrix, (size, size))
        return (1.0 - strength * cv2.GaussianBlur(cast, (0, 0), softness * size))[..., None].astype(np.float32)

    return synthetic


def _camera_shake(rng: np.random.Generator, plate: np.ndarray, still: bool) -> np.ndarray:
    """The plate seen in the four neighbour frames (4, h, w, 3): static, or with hand-held jitter."""
    if still or rng.uniform() < 0.7:
        return np.broadcast_to(plate, (len(NEIGHBOURS), *plate.shape)).copy()
    size = plate.shape[0]
    frames = []
    for offset in NEIGHBOURS:
        shift = rng.normal(0.0, size * 0.004, 2) * abs(offset)
        matrix = np.array([[1, 0, shift[0]], [0, 1, shift[1]]], np.float32)
        frames.append(cv2.warpAffine(plate, matrix, (size, size), borderMode=cv2.BORDER_REFLECT))
    return np.stack(frames)


def _camera_blur(rng: np.random.Generator, scene: Scene) -> Scene:
    """Sometimes defocus the whole take (frames, foreground, background alike; not the plate pass)."""
    if rng.uniform() > 0.15:
        return scene
    sigma = rng.uniform(0.3, 1.5)

    def blur(image: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(image, (0, 0), sigma).reshape(image.shape)

    return Scene(blur(scene.frame), blur(scene.premult), blur(scene.alpha), blur(scene.background), scene.plate,
                 np.stack([blur(frame) for frame in scene.neighbours]))


def _noise_model(rng: np.random.Generator) -> tuple[float, float]:
    """(shot-noise gain, read-noise sigma) of the camera, in linear units; sometimes noiseless."""
    if rng.uniform() < 0.2:
        return 0.0, 0.0
    return 10.0 ** rng.uniform(-4.5, -2.0), 10.0 ** rng.uniform(-4.0, -2.0)


def _sensor_noise(rng: np.random.Generator, linear: np.ndarray, noise: tuple[float, float]) -> np.ndarray:
    """Signal-dependent Gaussian noise: variance = gain * signal + read**2, per pixel and channel."""
    gain, read = noise
    if gain == 0.0 and read == 0.0:
        return linear
    sigma = np.sqrt(gain * np.maximum(linear, 0.0) + read * read)
    return (linear + sigma * rng.standard_normal(linear.shape, dtype=np.float32)).astype(np.float32)


def _perturbed_plate(rng: np.random.Generator, plate: np.ndarray, image: np.ndarray,
                     noise: tuple[float, float]) -> np.ndarray:
    """The clean plate as a separate pass gives it: drift, local changes, gamma, blur, shift, misalignment, noise.

    A large exposure drift (auto exposure) is then gain-matched to the frame with ``match_gain``
    as inference does; what remains, as for a small drift, is the few-percent residual the network
    must tolerate.
    """
    size = plate.shape[0]
    large_drift = rng.uniform() < 0.3
    drift = rng.normal(0.0, 0.2 if large_drift else 0.03)
    plate = plate * np.exp(drift + rng.normal(0.0, 0.01, 3)).astype(np.float32)
    if rng.uniform() < BACKGROUND_CHANGE_CHANCE:
        plate = _background_change(rng, plate)
    if rng.uniform() < 0.3:
        plate = np.maximum(plate, 0.0) ** rng.uniform(0.9, 1.1)
    if rng.uniform() < 0.4:
        plate = cv2.GaussianBlur(plate, (0, 0), rng.uniform(0.2, 1.2))
    if rng.uniform() < 0.7:
        spread = 2.0 if rng.uniform() < 0.1 else 0.4
        centre = tuple(float(c) for c in rng.uniform(0, size, 2))
        matrix = cv2.getRotationMatrix2D(centre, rng.normal(0.0, 0.3), 1.0 + rng.normal(0.0, 0.004))
        matrix[:, 2] += rng.normal(0.0, spread, 2)
        plate = cv2.warpAffine(plate, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    plate = _sensor_noise(rng, plate.astype(np.float32), noise)
    if large_drift:
        plate, _, _ = match_gain(image, plate)
    return plate.astype(np.float32)


def _background_change(rng: np.random.Generator, plate: np.ndarray) -> np.ndarray:
    """A real plate's local differences from the take's background: a light change or moved content.

    Soft blobs of the plate are relit (clouds, practicals, bounce) or replaced by a shifted copy
    (leaves, a door, a passer-by in the plate pass), while the alpha stays 0 there: not every
    difference from the plate is the subject.
    """
    size = plate.shape[0]
    noise = fractal_noise(rng, plate.shape[:2], octaves=3, base=int(rng.integers(2, 5)))
    blobs = smoothstep((noise - rng.uniform(0.65, 0.85)) * rng.uniform(5.0, 30.0))[..., None]
    if rng.uniform() < 0.5:
        return (plate * (1.0 + blobs * (np.exp(rng.normal(0.0, 0.3)) - 1.0))).astype(np.float32)
    offset = rng.uniform(0.03, 0.15, 2) * size * rng.choice((-1.0, 1.0), 2)
    moved = cv2.warpAffine(plate, np.float32([[1, 0, offset[0]], [0, 1, offset[1]]]), (size, size),
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return (plate + blobs * (moved - plate)).astype(np.float32)


def _segmentation_prior(rng: np.random.Generator, alpha: np.ndarray, image_enc: np.ndarray,
                        plate_enc: np.ndarray) -> np.ndarray:
    """The soft prior S (h, w): from the true alpha (processed as the paper does), automatic, or poor."""
    draw = rng.uniform()
    if draw < 0.45:
        mask = (alpha > rng.uniform(0.05, 0.9)).astype(np.float32)
        if rng.uniform() < 0.3:
            mask = _corrupt(rng, mask)
        return process_mask(mask, scale=float(np.exp(rng.uniform(np.log(0.5), np.log(2.0)))))
    if draw < 0.8:
        return soft_segmentation(image_enc, plate_enc)
    if rng.uniform() < 0.5:
        return np.zeros(alpha.shape, np.float32)
    return process_mask(_corrupt(rng, np.zeros(alpha.shape, np.float32)))


def _corrupt(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """Add false blobs and cut true parts out of a mask, like a segmentation network's mistakes."""
    noise = fractal_noise(rng, mask.shape, octaves=3, base=int(rng.integers(2, 6)))
    false_blobs = smoothstep((noise - rng.uniform(0.6, 0.9)) * 20.0)
    holes = smoothstep((fractal_noise(rng, mask.shape, octaves=3, base=3) - rng.uniform(0.6, 0.9)) * 20.0)
    return np.clip(np.maximum(mask * (1.0 - holes), false_blobs), 0.0, 1.0).astype(np.float32)
