"""Element and plate banks on disk: the folder format of ``README.md``, read and written.

A bank is a folder with ``index.json`` plus EXR files (premultiplied RGBA elements, RGB plates,
scene-linear ACEScg). Opening a bank checks the index against the format; reading returns float32
arrays and keeps a few decoded files in memory because training draws the same files many times.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from bgmatte.data.exr import read_exr
from bgmatte.errors import InputError
from bgmatte.io.atomic import write_text_atomic

log = logging.getLogger(__name__)

BANK_FORMAT = "bgmatte-bank"
BANK_VERSION = 1
BANK_COLORSPACE = "ACEScg"
BANK_ALPHA = "premultiplied"
INDEX_NAME = "index.json"
SEQUENCE_LENGTH = 5
"""Frames in an element sequence: t-2k, t-k, t, t+k, t+2k."""


@dataclass(frozen=True)
class ElementEntry:
    """One element of a bank, with absolute paths.

    Attributes:
        id: Unique name within the bank.
        path: RGBA EXR at the key frame t.
        kind: Generator / category name ("hair", "fur", ...).
        sequence: Five RGBA EXRs for t-2k..t+2k (the middle one is ``path``), or None.
        shadow: (plate_with_shadow, plate) RGB EXRs of the element's cast shadow, or None.
    """

    id: str
    path: Path
    kind: str
    sequence: tuple[Path, ...] | None = None
    shadow: tuple[Path, Path] | None = None


@dataclass(frozen=True)
class PlateEntry:
    """One plate of a bank: an RGB EXR and its kind ("photo" or "procedural")."""

    id: str
    path: Path
    kind: str


@dataclass(frozen=True)
class Bank:
    """An opened bank folder."""

    root: Path
    elements: tuple[ElementEntry, ...]
    plates: tuple[PlateEntry, ...]
    recipe: dict[str, Any]
    licences: tuple[str, ...]
    """The distinct licence strings of the bank's entries."""

    @property
    def weight(self) -> float:
        """The bank's relative chance of giving a training sample its element (recipe ``weight``, default 1)."""
        return float(self.recipe.get("weight", 1.0))


def open_bank(root: Path) -> Bank:
    """Read and check ``root/index.json``.

    Raises:
        InputError: If the index is missing, not the bank format, or names files that do not exist.
    """
    index_path = root / INDEX_NAME
    if not index_path.is_file():
        raise InputError(root, f"not a data bank (no {INDEX_NAME}); make one with `bgmatte data`")
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(index_path, f"unreadable bank index: {exc}") from None
    expected = {"format": BANK_FORMAT, "version": BANK_VERSION, "colorspace": BANK_COLORSPACE, "alpha": BANK_ALPHA}
    for key, value in expected.items():
        if index.get(key) != value:
            raise InputError(index_path, f"bank {key} is {index.get(key)!r}, expected {value!r}")
    elements = tuple(_element_entry(root, index_path, item) for item in index.get("elements", []))
    plates = tuple(_plate_entry(root, index_path, item) for item in index.get("plates", []))
    missing = [str(path) for entry in elements for path in _element_files(entry) if not path.is_file()]
    missing += [str(entry.path) for entry in plates if not entry.path.is_file()]
    if missing:
        raise InputError(index_path, f"{len(missing)} bank file(s) missing, e.g. {missing[0]}")
    licences = sorted({str(item["licence"]) for item in [*index.get("elements", []), *index.get("plates", [])]})
    return Bank(root, elements, plates, dict(index.get("recipe", {})), tuple(licences))


def write_index(root: Path, recipe: dict[str, Any], elements: list[dict[str, Any]], plates: list[dict[str, Any]]) -> Path:
    """Write ``root/index.json`` atomically; entries follow README.md (paths relative to root)."""
    index = {"format": BANK_FORMAT, "version": BANK_VERSION, "colorspace": BANK_COLORSPACE,
             "alpha": BANK_ALPHA, "recipe": recipe, "elements": elements, "plates": plates}
    return write_text_atomic(root / INDEX_NAME, json.dumps(index, indent=1, sort_keys=True) + "\n")


def read_element(path: Path) -> np.ndarray:
    """A bank element as a new (H, W, 4) float32 premultiplied RGBA array, ACEScg."""
    return _cached_read(str(path), ("R", "G", "B", "A")).astype(np.float32)


def read_plate(path: Path) -> np.ndarray:
    """A bank plate as a new (H, W, 3) float32 RGB array, ACEScg."""
    return _cached_read(str(path), ("R", "G", "B")).astype(np.float32)


@lru_cache(maxsize=64)
def _cached_read(path: str, channels: tuple[str, ...]) -> np.ndarray:
    """Decoded file kept as float16, as banks are written (float32 files lose what training needs not)."""
    pixels = read_exr(Path(path), channels)
    if not np.isfinite(pixels).all():
        raise InputError(path, "bank image has NaN/Inf pixels")
    pixels = np.clip(pixels, -65504.0, 65504.0).astype(np.float16)
    pixels.setflags(write=False)
    return pixels


def _element_files(entry: ElementEntry) -> list[Path]:
    return [entry.path, *(entry.sequence or ()), *(entry.shadow or ())]


def _require(index_path: Path, item: dict[str, Any], key: str) -> Any:
    if key not in item:
        raise InputError(index_path, f"bank entry {item.get('id', '?')!r} lacks {key!r}")
    return item[key]


def _element_entry(root: Path, index_path: Path, item: dict[str, Any]) -> ElementEntry:
    for key in ("licence", "provenance"):
        _require(index_path, item, key)
    sequence = item.get("sequence")
    if sequence is not None and len(sequence) != SEQUENCE_LENGTH:
        raise InputError(index_path, f"element {item.get('id')!r} sequence has {len(sequence)} files, "
                         f"expected {SEQUENCE_LENGTH} (t-2k, t-k, t, t+k, t+2k)")
    shadow = item.get("shadow")
    return ElementEntry(
        id=str(_require(index_path, item, "id")),
        path=root / _require(index_path, item, "file"),
        kind=str(item.get("kind", "unknown")),
        sequence=tuple(root / name for name in sequence) if sequence else None,
        shadow=(root / shadow["plate_with_shadow"], root / shadow["plate"]) if shadow else None,
    )


def _plate_entry(root: Path, index_path: Path, item: dict[str, Any]) -> PlateEntry:
    for key in ("licence", "provenance"):
        _require(index_path, item, key)
    return PlateEntry(str(_require(index_path, item, "id")), root / _require(index_path, item, "file"),
                      str(item.get("kind", "unknown")))
