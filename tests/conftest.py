"""Shared fixtures: small synthetic shots on disk and EXR helpers for the specifications."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest
import torch

from bgmatte.data.synthetic_shot import ShotRecipe, make_shot

TEST_MODEL = "tiny"


def write_exr(path: Path, pixels: np.ndarray, channels: tuple[str, ...] | None = None,
              origin: tuple[int, int] | None = None, display: tuple[int, int, int, int] | None = None,
              attributes: dict | None = None) -> Path:
    """Write float pixels (H, W[, C]) as a half EXR, optionally with a data-window origin and display window."""
    pixels = np.ascontiguousarray(pixels if pixels.ndim == 3 else pixels[..., None], np.float32)
    h, w, c = pixels.shape
    spec = oiio.ImageSpec(w, h, c, oiio.HALF)
    spec.channelnames = channels or {1: ("Y",), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}[c]
    if origin:
        spec.x, spec.y = origin
    if display:
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = display
    for name, value in (attributes or {}).items():
        spec.attribute(name, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = oiio.ImageOutput.create(str(path))
    assert out is not None and out.open(str(path), spec), oiio.geterror()
    out.write_image(pixels)
    out.close()
    return path


def read_exr(path: Path) -> tuple[np.ndarray, oiio.ImageSpec]:
    """Read every channel of an EXR as float32 (H, W, C) with its spec."""
    image = oiio.ImageInput.open(str(path))
    assert image is not None, oiio.geterror()
    spec = image.spec()
    pixels = image.read_image(0, 0, 0, spec.nchannels, oiio.FLOAT)
    image.close()
    return np.asarray(pixels, np.float32).reshape(spec.height, spec.width, spec.nchannels), spec


def write_garbage_outside_subject(shot: Path, out: Path) -> str:
    """Garbage mattes (garbage.####.exr in ``out``) of everything outside the shot's true subject.

    Forcing alpha to 0 there, whatever the model, leaves a cast shadow on the plate to the shadow
    layer: tests of the layer's plumbing then do not depend on what a seeded untrained net outputs.
    """
    for path in sorted(shot.glob("alpha.*.exr")):
        alpha, _ = read_exr(path)
        write_exr(out / path.name.replace("alpha", "garbage"), (alpha[..., 0] <= 1e-3).astype(np.float32))
    return str(out / "garbage.####.exr")


def channel(pixels: np.ndarray, spec: oiio.ImageSpec, name: str) -> np.ndarray:
    """One channel of a read image, selected by name (layered EXR channels can come back reordered)."""
    return pixels[..., list(spec.channelnames).index(name)]


@pytest.fixture(scope="session")
def shot_dir(tmp_path_factory) -> Path:
    """A 6-frame 96x64 shot without cast shadow: frame/plate/alpha.####.exr and clean.exr (1001-1006)."""
    out = tmp_path_factory.mktemp("shot")
    make_shot(out, ShotRecipe(width=96, height=64, count=6, strands=12, shadow=0.0, speed=3.0))
    return out


@pytest.fixture
def shot_copy(shot_dir, tmp_path) -> Path:
    """A private copy of the shot (tmp_path/shot) that a test may damage."""
    target = tmp_path / "shot"
    shutil.copytree(shot_dir, target)
    return target


@pytest.fixture(scope="session")
def shadow_shot_dir(tmp_path_factory) -> Path:
    """The same kind of shot with a cast shadow on the plate that the true alpha leaves out."""
    out = tmp_path_factory.mktemp("shadow_shot")
    make_shot(out, ShotRecipe(width=96, height=64, count=3, strands=12, shadow=0.5, seed=3))
    return out


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread in this module and in the runs it starts: small frames, shared test machines."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        yield
    torch.set_num_threads(threads)
