"""The generator's shape as plain data: widths, block counts, norm, working size and encoding.

A weights file stores this dict next to the state dict, so a file always rebuilds its own network.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

NORMS = ("batch", "none")
ENCODINGS = ("acescct",)
MAX_DOWNSAMPLES = 5


@dataclass(frozen=True)
class GeneratorConfig:
    """Widths and depths of the generator (Sengupta et al. 2020, Fig. 2); defaults are the paper's.

    Attributes:
        base_width: channels after each encoder's 7x7 convolution; level i has base_width * 2**i.
        downsamples: stride-2 convolutions per encoder (d); features meet at 1/2**d resolution.
        selector_width: output channels of each selector (one per prior).
        combinator_width: output channels of the combinator, the width of every residual block.
        shared_blocks: residual blocks shared by both heads.
        head_blocks: residual blocks at the start of each head.
        norm: "batch" (BatchNorm2d, as the paper) or "none".
        working_size: longest side, in pixels, of the resolution the network runs at.
        encoding: the network's encoding of working linear ("acescct", see bgmatte.color.encoding).
        refiner_width: hidden channels of the learned full-resolution refiner (bgmatte.model.refiner);
            0 = none (the analytic refinement alone).
        alpha_skips: the alpha head's upsampling stages also see the image and plate encoders'
            features at their own resolution (a departure from the paper, whose alpha head
            rebuilds every detail from the 1/2**d features; see bgmatte.model.heads.AlphaHead).
    """

    base_width: int = 64
    downsamples: int = 2
    selector_width: int = 64
    combinator_width: int = 256
    shared_blocks: int = 7
    head_blocks: int = 3
    norm: str = "batch"
    working_size: int = 512
    encoding: str = "acescct"
    refiner_width: int = 0
    alpha_skips: bool = False

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            wanted = {"str": str, "bool": bool}.get(item.type, int)
            if type(value) is not wanted:
                raise ValueError(f"generator config {item.name} must be {wanted.__name__}, got {value!r}")
        positive = ("base_width", "downsamples", "selector_width", "combinator_width", "working_size")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"generator config {name} must be >= 1, got {getattr(self, name)}")
        for name in ("shared_blocks", "head_blocks", "refiner_width"):
            if getattr(self, name) < 0:
                raise ValueError(f"generator config {name} must be >= 0, got {getattr(self, name)}")
        if self.downsamples > MAX_DOWNSAMPLES:
            raise ValueError(f"generator config downsamples must be <= {MAX_DOWNSAMPLES}, got {self.downsamples}")
        if self.norm not in NORMS:
            raise ValueError(f"generator config norm must be one of {', '.join(NORMS)}, got {self.norm!r}")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"generator config encoding must be one of {', '.join(ENCODINGS)}, "
                             f"got {self.encoding!r}")

    @property
    def level_widths(self) -> tuple[int, ...]:
        """Channels of the encoder features at 1, 1/2, ..., 1/2**d resolution."""
        return tuple(self.base_width * 2**level for level in range(self.downsamples + 1))

    def to_dict(self) -> dict[str, Any]:
        """Plain-type dict (str/int/bool values) for a weights file or a training log."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorConfig:
        """Rebuild a config from `to_dict` output; missing keys take the paper's defaults.

        Raises:
            ValueError: On an unknown key or a value of the wrong type or range.
        """
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown generator config keys: {', '.join(map(str, unknown))} "
                             f"(known: {', '.join(sorted(known))})")
        return cls(**data)
