"""Procedural 2D foreground elements with true fractional alpha.

Each generator draws one element from a ``numpy.random.Generator``: a body silhouette (person-like
figure, noise blob or polygon) with soft or hard edges and holes, plus what makes matting hard:
hair strands and fur fringes drawn 4x supersampled (so strands thinner than a pixel get fractional
coverage), semi-transparent glass with bright rims and highlights, fabric meshes, smoke, large
draped films and veils, and motion or defocus blur applied to the premultiplied element. Colour is straight (unpremultiplied)
scene-linear ACEScg; alpha is coverage in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from bgmatte.data.textures import colour_field, fractal_noise, random_colour, smoothstep
from bgmatte.priors.resample import resize_area

# Strands are drawn this many times finer than the element, then area-averaged to coverage.
SUPERSAMPLE = 4

KINDS = ("hair", "fur", "strands", "glass", "fabric", "smoke", "solid")
# Relative frequency of each kind in a default bank; hair and fur dominate because real subjects have them.
KIND_WEIGHTS = (0.28, 0.18, 0.1, 0.1, 0.1, 0.06, 0.18)
OPT_IN_KINDS = ("film",)
"""Kinds drawn only into banks that ask for them (`bgmatte data --kinds film`), so that a default
bank stays what its seed made."""

_HAIR_COLOURS = np.array([
    [0.008, 0.006, 0.005], [0.04, 0.022, 0.012], [0.09, 0.05, 0.025], [0.45, 0.32, 0.15],
    [0.32, 0.3, 0.28], [0.28, 0.07, 0.025], [0.7, 0.62, 0.45], [0.15, 0.1, 0.07],
], np.float32)


@dataclass(frozen=True)
class Element:
    """One foreground element.

    Attributes:
        colour: (H, W, 3) float32 straight colour, scene-linear ACEScg (0 where alpha is 0).
        alpha: (H, W) float32 coverage in [0, 1].
        kind: Generator name, one of KINDS.
    """

    colour: np.ndarray
    alpha: np.ndarray
    kind: str

    def premultiplied(self) -> np.ndarray:
        """(H, W, 4) float32 premultiplied RGBA, the bank's file layout."""
        return np.concatenate([self.colour * self.alpha[..., None], self.alpha[..., None]], axis=2)


def generate_element(rng: np.random.Generator, size: int, kind: str | None = None) -> Element:
    """Draw one element of ``kind`` (KINDS or OPT_IN_KINDS; random by KIND_WEIGHTS when None) on a
    size x size canvas."""
    if kind is None:
        kind = str(rng.choice(KINDS, p=np.array(KIND_WEIGHTS) / sum(KIND_WEIGHTS)))
    makers = {"hair": _hair, "fur": _fur, "strands": _strands, "glass": _glass, "fabric": _fabric,
              "smoke": _smoke, "solid": _solid, "film": _film}
    premult, alpha = makers[kind](rng, size)
    premult, alpha = _post_blur(rng, premult, alpha)
    if rng.uniform() < 0.08:
        opacity = rng.uniform(0.3, 0.9)
        premult, alpha = premult * opacity, alpha * opacity
    alpha = np.clip(alpha, 0.0, 1.0).astype(np.float32)
    colour = np.where(alpha[..., None] > 1e-4, premult / np.maximum(alpha[..., None], 1e-4), 0.0)
    return Element(np.maximum(colour, 0.0).astype(np.float32), np.where(alpha > 1e-4, alpha, 0.0).astype(np.float32), kind)


def _signed_distance(mask: np.ndarray) -> np.ndarray:
    """Signed distance in pixels from pixel centres to the edge of a boolean mask (positive inside).

    The edge lies half a pixel beyond the last inside pixel, hence the 0.5 offsets.
    """
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    outside = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)
    return np.where(mask, inside - 0.5, 0.5 - outside).astype(np.float32)


def _soft_alpha(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """Coverage from a hard mask with an edge ramp 1.5-12 px wide (log-uniform; the narrowest is an
    antialiased hard edge, ~0.75 px after the 2x downsampling of training)."""
    width = float(np.exp(rng.uniform(np.log(1.5), np.log(12.0))))
    return smoothstep(_signed_distance(mask) / width + 0.5)


def _figure_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    """A person-like silhouette: head, neck, shoulders/torso and arms, often cut by the frame."""
    mask = np.zeros((size, size), np.uint8)
    cx = size * rng.uniform(0.35, 0.65)
    head_r = size * rng.uniform(0.09, 0.18)
    head_y = size * rng.uniform(0.15, 0.35)
    cv2.ellipse(mask, (int(cx), int(head_y)), (int(head_r * rng.uniform(0.8, 1.0)), int(head_r * 1.2)),
                rng.uniform(-15, 15), 0, 360, 255, -1)
    neck_w = head_r * 0.45
    cv2.rectangle(mask, (int(cx - neck_w), int(head_y)), (int(cx + neck_w), int(head_y + head_r * 1.8)), 255, -1)
    torso_top = head_y + head_r * 1.6
    shoulders = head_r * rng.uniform(1.8, 3.0)
    points = np.array([
        [cx - shoulders, torso_top + head_r * 0.5], [cx - shoulders * 0.3, torso_top],
        [cx + shoulders * 0.3, torso_top], [cx + shoulders, torso_top + head_r * 0.5],
        [cx + shoulders * rng.uniform(0.8, 1.2), size * 1.1], [cx - shoulders * rng.uniform(0.8, 1.2), size * 1.1],
    ], np.int32)
    cv2.fillPoly(mask, [points], 255)
    for side in (-1, 1):
        if rng.uniform() < 0.7:
            start = (int(cx + side * shoulders * 0.9), int(torso_top + head_r * 0.6))
            end = (int(start[0] + side * size * rng.uniform(0.0, 0.3)), int(start[1] + size * rng.uniform(0.1, 0.5)))
            cv2.line(mask, start, end, 255, max(2, int(head_r * rng.uniform(0.5, 0.8))))
    return mask > 0


def _blob_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    """An organic blob from thresholded low-frequency noise with a radial falloff."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    cy, cx = rng.uniform(0.35, 0.65, 2)
    radius = np.sqrt(((yy - cy) / rng.uniform(0.6, 1.4)) ** 2 + ((xx - cx) / rng.uniform(0.6, 1.4)) ** 2)
    field = fractal_noise(rng, (size, size), octaves=4, base=int(rng.integers(2, 5))) * 0.7 + (1.0 - 2.0 * radius)
    return field > rng.uniform(0.2, 0.6)


def _polygon_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random star-shaped polygon with sharp corners (hard objects, props)."""
    count = int(rng.integers(3, 12))
    angles = np.sort(rng.uniform(0, 2 * np.pi, count))
    radii = size * rng.uniform(0.15, 0.45, count)
    centre = size * rng.uniform(0.35, 0.65, 2)
    points = np.stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)], 1)
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [points.astype(np.int32)], 255)
    return mask > 0


def _body_mask(rng: np.random.Generator, size: int, holes: bool = True) -> np.ndarray:
    """A silhouette of a random family, sometimes with holes punched through it."""
    family = rng.choice(3, p=[0.5, 0.3, 0.2])
    mask = (_figure_mask, _blob_mask, _polygon_mask)[family](rng, size)
    if holes and rng.uniform() < 0.35:
        for _ in range(int(rng.integers(1, 6))):
            centre = (int(rng.uniform(0, size)), int(rng.uniform(0, size)))
            axes = (int(size * rng.uniform(0.01, 0.08)), int(size * rng.uniform(0.01, 0.08)))
            hole = np.zeros((size, size), np.uint8)
            cv2.ellipse(hole, centre, axes, rng.uniform(0, 180), 0, 360, 255, -1)
            mask &= hole == 0
    if not mask.any():
        mask[size // 3: 2 * size // 3, size // 3: 2 * size // 3] = True
    return mask


def _textured(rng: np.random.Generator, alpha: np.ndarray) -> np.ndarray:
    """Premultiplied (H, W, 3) colour for ``alpha`` with a random texture."""
    return colour_field(rng, alpha.shape) * alpha[..., None]


def _solid(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    alpha = _soft_alpha(rng, _body_mask(rng, size))
    return _textured(rng, alpha), alpha


def _outward_normals(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edge pixels (N, 2) as (x, y) and their outward unit normals (N, 2)."""
    smooth = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 3.0)
    edge = mask & ~cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    ys, xs = np.nonzero(edge)
    gy, gx = np.gradient(smooth)
    normals = -np.stack([gx[ys, xs], gy[ys, xs]], 1)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-6)
    return np.stack([xs, ys], 1).astype(np.float32), normals.astype(np.float32)


def _strand_paths(rng: np.random.Generator, roots: np.ndarray, directions: np.ndarray,
                  lengths: np.ndarray, curl: float, gravity: float) -> list[np.ndarray]:
    """Random-walk curves from ``roots`` (N, 2) along ``directions`` (N, 2), in element pixels."""
    paths = []
    for root, direction, length in zip(roots, directions, lengths):
        steps = max(2, int(length / 3.0))
        angle = np.arctan2(direction[1], direction[0]) + rng.normal(0, 0.3)
        bend = rng.normal(0, curl)
        angles = angle + np.cumsum(rng.normal(bend, curl * 0.5, steps))
        step = length / steps
        dx, dy = np.cos(angles) * step, np.sin(angles) * step + gravity * step * np.linspace(0, 1, steps)
        paths.append(np.stack([root[0] + np.cumsum(dx), root[1] + np.cumsum(dy)], 1))
    return paths


def _draw_coverage(size: int, paths: list[np.ndarray], thickness: int) -> np.ndarray:
    """Area coverage (size, size) in [0, 1] of polylines drawn SUPERSAMPLE times finer."""
    fine = np.zeros((size * SUPERSAMPLE, size * SUPERSAMPLE), np.uint8)
    polylines = [np.round(path * SUPERSAMPLE).astype(np.int32) for path in paths]
    cv2.polylines(fine, polylines, False, 255, thickness, cv2.LINE_8)
    return resize_area(fine.astype(np.float32) / 255.0, (size, size))


def _over_strands(rng: np.random.Generator, premult: np.ndarray, alpha: np.ndarray, paths: list[np.ndarray],
                  base_colour: np.ndarray, max_thickness: int) -> tuple[np.ndarray, np.ndarray]:
    """Composite strands over (premult, alpha) in a few opacity/brightness groups."""
    size = alpha.shape[0]
    order = rng.permutation(len(paths))
    for group in np.array_split(order, int(rng.integers(2, 5))):
        if len(group) == 0:
            continue
        coverage = _draw_coverage(size, [paths[i] for i in group], int(rng.integers(1, max_thickness + 1)))
        coverage *= rng.uniform(0.35, 1.0)
        shade = base_colour * rng.uniform(0.5, 1.8) * (0.6 + 0.8 * fractal_noise(rng, (size, size), 3, 6))[..., None]
        if rng.uniform() < 0.3:
            shade = shade + rng.uniform(0.2, 1.5) * fractal_noise(rng, (size, size), 2, 3)[..., None] ** 6
        premult = shade * coverage[..., None] + premult * (1.0 - coverage[..., None])
        alpha = coverage + alpha * (1.0 - coverage)
    return premult, alpha


def _hair_colour(rng: np.random.Generator) -> np.ndarray:
    if rng.uniform() < 0.8:
        return _HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))] * rng.uniform(0.7, 1.4, 3).astype(np.float32)
    return random_colour(rng)


def _hair(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A body with long flowing strands leaving its upper outline (heads, manes, flyaway hair)."""
    mask = _body_mask(rng, size, holes=False)
    alpha = _soft_alpha(rng, mask)
    colour = _hair_colour(rng)
    premult = (colour_field(rng, (size, size)) if rng.uniform() < 0.5 else colour * (0.6 + 0.6 * fractal_noise(rng, (size, size), 4, 8))[..., None]) * alpha[..., None]
    edges, normals = _outward_normals(mask)
    if len(edges) == 0:
        return premult, alpha
    upper = edges[:, 1] < np.quantile(edges[:, 1], rng.uniform(0.3, 1.0))
    count = int(rng.integers(150, 1500))
    pick = rng.choice(np.flatnonzero(upper), count)
    roots = edges[pick] - normals[pick] * rng.uniform(0, size * 0.03, (count, 1))
    lengths = rng.uniform(0.02, rng.uniform(0.08, 0.45), count) * size
    paths = _strand_paths(rng, roots, normals[pick], lengths, curl=rng.uniform(0.01, 0.25), gravity=rng.uniform(-0.2, 1.0))
    return _over_strands(rng, premult, alpha, paths, colour, max_thickness=3)


def _fur(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A body with a dense fringe of short strands all around its outline (fur, fleece, grass)."""
    mask = _body_mask(rng, size, holes=False)
    alpha = _soft_alpha(rng, mask)
    colour = _hair_colour(rng)
    premult = colour * (0.5 + fractal_noise(rng, (size, size), 5, 8))[..., None] * alpha[..., None]
    edges, normals = _outward_normals(mask)
    if len(edges) == 0:
        return premult, alpha
    count = int(rng.integers(800, 4000))
    pick = rng.choice(len(edges), count)
    roots = edges[pick] - normals[pick] * rng.uniform(0, size * 0.02, (count, 1))
    lengths = rng.uniform(0.005, rng.uniform(0.02, 0.06), count) * size
    paths = _strand_paths(rng, roots, normals[pick], lengths, curl=rng.uniform(0.02, 0.3), gravity=rng.uniform(-0.1, 0.3))
    return _over_strands(rng, premult, alpha, paths, colour, max_thickness=2)


def _strands(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Loose thin curves with little or no body: wires, flyaway hair, threads, grass blades."""
    alpha = np.zeros((size, size), np.float32)
    premult = np.zeros((size, size, 3), np.float32)
    if rng.uniform() < 0.4:
        alpha = _soft_alpha(rng, _blob_mask(rng, size))
        premult = _textured(rng, alpha)
    count = int(rng.integers(10, 300))
    roots = rng.uniform(0, size, (count, 2)).astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi) + rng.normal(0, rng.uniform(0.1, 1.5), count)
    directions = np.stack([np.cos(angle), np.sin(angle)], 1).astype(np.float32)
    lengths = rng.uniform(0.1, 0.9, count) * size
    paths = _strand_paths(rng, roots, directions, lengths, curl=rng.uniform(0.0, 0.15), gravity=rng.uniform(-0.3, 0.3))
    return _over_strands(rng, premult, alpha, paths, random_colour(rng), max_thickness=6)


def _glass(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A semi-transparent body, more opaque at grazing rims, with bright specular highlights."""
    mask = _body_mask(rng, size, holes=rng.uniform() < 0.3)
    inside = np.maximum(_signed_distance(mask), 0.0)
    rim = np.exp(-inside / rng.uniform(2.0, 20.0))
    level = rng.uniform(0.05, 0.6)
    alpha = (level + (1.0 - level) * rim * rng.uniform(0.3, 0.9)) * _soft_alpha(rng, mask)
    tint = random_colour(rng, saturation=rng.uniform(0.0, 0.5))
    colour = tint * (0.7 + 0.6 * fractal_noise(rng, (size, size), 3, 3))[..., None]
    highlight = fractal_noise(rng, (size, size), 3, int(rng.integers(3, 10))) ** rng.uniform(8, 20)
    colour = colour + rng.uniform(2.0, 20.0) * highlight[..., None] * (alpha[..., None] > 0)
    return colour * alpha[..., None], alpha


def _fabric(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A body made of a woven or knitted mesh (lace, net, veil) with holes between threads."""
    mask = _body_mask(rng, size, holes=False)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    warp = (fractal_noise(rng, (size, size), 2, 2) - 0.5) * rng.uniform(0, 30)
    angle = rng.uniform(0, np.pi)
    u = xx * np.cos(angle) + yy * np.sin(angle) + warp
    v = -xx * np.sin(angle) + yy * np.cos(angle) + warp
    period = rng.uniform(3.0, 25.0)
    thread = rng.uniform(0.1, 0.45)
    soft = 1.0 / period
    across = _threads(u / period, thread, soft)
    along = _threads(v / (period * rng.uniform(0.7, 1.3)), thread, soft)
    weave = np.maximum(across, along) * rng.uniform(0.6, 1.0)
    alpha = weave * _soft_alpha(rng, mask)
    return _textured(rng, alpha), alpha


def _threads(phase: np.ndarray, thread: float, soft: float) -> np.ndarray:
    """Coverage of parallel threads at integer ``phase``, each ``thread`` periods wide."""
    to_line = 0.5 - np.abs((phase % 1.0) - 0.5)
    return smoothstep((thread / 2 - to_line) / soft + 0.5)


def _smoke(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Wispy, fully soft coverage (smoke, steam, veils) with no hard edge anywhere."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    falloff = np.clip(1.0 - 2.2 * np.sqrt((yy - 0.5) ** 2 + (xx - 0.5) ** 2), 0, 1)
    density = fractal_noise(rng, (size, size), 6, int(rng.integers(2, 6))) * falloff
    alpha = smoothstep((density - rng.uniform(0.05, 0.3)) * rng.uniform(2.0, 6.0)) * rng.uniform(0.3, 1.0)
    colour = random_colour(rng, saturation=rng.uniform(0.0, 0.3)) * (0.7 + 0.6 * fractal_noise(rng, (size, size), 4, 4))[..., None]
    return colour * alpha[..., None], alpha


def _film(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A large draped sheet (veil, gauze, plastic film, thin fabric) whose coverage is physical.

    One layer transmits ``1 - a`` at normal incidence; tilted by the drape it transmits
    ``(1 - a) ** (1 / cos)``, and where the sheet folds over itself two layers multiply. Veils carry
    a weave finer than a pixel or two; films are smooth and reflect the light as streaks brighter
    than 1. The sheet covers most of the canvas, so a shot can be seen through it almost everywhere.
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    corners = np.array([[0, 0], [size, 0], [size, size], [0, size]], np.float32)
    inset = corners + rng.uniform(-0.35, 0.25, (4, 2)).astype(np.float32) * size * np.sign(size / 2 - corners)
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [inset.astype(np.int32)], 1)
    if rng.uniform() < 0.3:
        mask &= _blob_mask(rng, size).astype(np.uint8) | (rng.uniform() < 0.5)
    mask = mask > 0
    if not mask.any():
        mask[size // 8: 7 * size // 8, size // 8: 7 * size // 8] = True
    height = np.zeros((size, size), np.float32)
    for _ in range(int(rng.integers(1, 5))):
        angle = rng.uniform(0, np.pi)
        warp = (fractal_noise(rng, (size, size), 3, 2) - 0.5) * rng.uniform(0.0, 0.4) * size
        period = size * rng.uniform(0.05, 0.5)
        phase = (xx * np.cos(angle) + yy * np.sin(angle) + warp) / period
        height += period * rng.uniform(0.01, 0.15) * np.sin(2 * np.pi * phase)
    height += size * rng.uniform(0.0, 0.05) * fractal_noise(rng, (size, size), 4, 3)
    gy, gx = np.gradient(height)
    cos = 1.0 / np.sqrt(1.0 + gx * gx + gy * gy)
    opacity = float(np.exp(rng.uniform(np.log(0.04), np.log(0.75))))
    veil = rng.uniform() < 0.5
    if veil:
        weave = _threads((xx * rng.uniform(0.8, 1.2) + height) / rng.uniform(1.2, 4.0), rng.uniform(0.3, 0.9), 0.5)
        opacity = np.clip(opacity * (0.6 + 0.8 * weave), 0.0, 0.95)
    layers = 1.0 + (rng.uniform() < 0.4) * (fractal_noise(rng, (size, size), 3, 2) > rng.uniform(0.55, 0.75))
    alpha = (1.0 - (1.0 - opacity) ** (layers / cos)) * _soft_alpha(rng, mask)
    if rng.uniform() < 0.4:
        hem = np.clip(1.0 - _signed_distance(mask) / rng.uniform(1.5, 6.0), 0.0, 1.0) * mask
        alpha = np.maximum(alpha, hem * rng.uniform(0.5, 1.0))
    tint = random_colour(rng, saturation=rng.uniform(0.0, 0.6)) * rng.uniform(0.1, 1.2)
    colour = tint * (0.75 + 0.5 * fractal_noise(rng, (size, size), 3, 3))[..., None]
    premult = colour * alpha[..., None]
    if not veil:
        light = np.array([np.cos(a := rng.uniform(0, 2 * np.pi)), np.sin(a)], np.float32)
        facing = np.clip((gx * light[0] + gy * light[1]) * cos, 0.0, 1.0) ** rng.uniform(4.0, 30.0)
        premult = premult + rng.uniform(0.5, 6.0) * facing[..., None] * (alpha[..., None] > 0)
    return premult.astype(np.float32), alpha.astype(np.float32)


def _post_blur(rng: np.random.Generator, premult: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Motion blur (a line kernel) or defocus (a disc) on the premultiplied element, sometimes."""
    draw = rng.uniform()
    if draw < 0.25:
        length = int(rng.integers(3, 41))
        kernel = np.zeros((length, length), np.float32)
        angle = rng.uniform(0, np.pi)
        centre = (length - 1) / 2
        offset = np.array([np.cos(angle), np.sin(angle)]) * centre
        cv2.line(kernel, (int(round(centre - offset[0])), int(round(centre - offset[1]))),
                 (int(round(centre + offset[0])), int(round(centre + offset[1]))), 1.0, 1, cv2.LINE_AA)
    elif draw < 0.35:
        radius = int(rng.integers(1, 8))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)).astype(np.float32)
    else:
        return premult, alpha
    kernel /= kernel.sum()
    rgba = cv2.filter2D(np.dstack([premult, alpha]).astype(np.float32), -1, kernel, borderType=cv2.BORDER_CONSTANT)
    return rgba[..., :3], rgba[..., 3]
