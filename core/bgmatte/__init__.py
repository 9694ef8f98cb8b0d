"""bgmatte: background matting for VFX (Sengupta et al., CVPR 2020) on linear-light EXR sequences."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bgmatte")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["Matter", "matte_sequence", "__version__"]


def __getattr__(name: str):
    """Import the front door lazily so `bgmatte submit` and host adapters start without torch."""
    if name in ("Matter", "matte_sequence"):
        from bgmatte import api

        return getattr(api, name)
    raise AttributeError(f"module 'bgmatte' has no attribute {name!r}")
