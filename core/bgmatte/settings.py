"""The settings of one matte run that change its pixels, and their fingerprint for --skip-existing."""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field

from bgmatte.errors import InputError

SEG_MODES = ("auto", "none")
MOTION_MODES = ("auto", "none")
ALIGN_MODES = ("none", "homography")
LAYER_NAMES = ("fg", "shadow")


@dataclass(frozen=True)
class MatteSettings:
    """What a run does to each frame (not which frames): everything that changes the output pixels.

    Attributes:
        colorspace: input colourspace name; None = the config's scene_linear role.
        output_colorspace: None = the input's if scene-linear, else the config's scene_linear.
        ocio: config path or ``ocio://`` name; None = ``$OCIO``, else the bundled config.
        seg: "auto" (plate-difference prior), "none", or a roto/mask sequence pattern.
        motion: "auto" (grey frames t-2k, t-k, t+k, t+2k from disk) or "none" (a still).
        motion_gap: k, in frames.
        garbage: pattern of a matte forced to background, or None.
        core: pattern of a matte forced to foreground, or None.
        align: "none" (gain match only) or "homography" (register the plate to each frame).
        layers: extra EXR layers among "fg", "shadow".
        flatten: write onto the display window (Blender drops data-window offsets).
        repair_nonfinite: replace NaN/Inf pixels with 0 and warn, instead of failing the frame.
        gain_match: the plate's exposure match: "auto" (estimated per frame), "off" (gain 1), or a
            fixed per-channel gain "R,G,B" (e.g. "1.02,1,0.98") applied to the plate.
    """

    colorspace: str | None = None
    output_colorspace: str | None = None
    ocio: str | None = None
    seg: str = "auto"
    motion: str = "auto"
    motion_gap: int = 1
    garbage: str | None = None
    core: str | None = None
    align: str = "none"
    layers: tuple[str, ...] = field(default_factory=tuple)
    flatten: bool = False
    repair_nonfinite: bool = False
    gain_match: str = "auto"

    def __post_init__(self) -> None:
        self.fixed_gain()
        if self.motion not in MOTION_MODES:
            raise InputError("--motion", f"expected one of {', '.join(MOTION_MODES)}, got {self.motion!r}")
        if self.align not in ALIGN_MODES:
            raise InputError("--align", f"expected one of {', '.join(ALIGN_MODES)}, got {self.align!r}")
        if self.motion_gap < 1:
            raise InputError("--motion-gap", f"must be a whole number of frames >= 1, got {self.motion_gap}")
        unknown = [name for name in self.layers if name not in LAYER_NAMES]
        if unknown:
            raise InputError("--layers", f"unknown layer {unknown[0]!r}; choose from {', '.join(LAYER_NAMES)}")

    def fixed_gain(self) -> tuple[float, float, float] | None:
        """The plate gain that ``gain_match`` fixes, or None for "auto" (estimated per frame)."""
        if self.gain_match == "auto":
            return None
        if self.gain_match == "off":
            return (1.0, 1.0, 1.0)
        parts = self.gain_match.split(",")
        try:
            values = [float(part) for part in parts]
        except ValueError:
            values = []
        if len(values) == 1:
            values = values * 3
        if len(values) != 3 or not all(math.isfinite(v) and v > 0.0 for v in values):
            raise InputError("--gain-match", f"expected auto, off, one gain or R,G,B positive gains, "
                                             f"got {self.gain_match!r}")
        return (values[0], values[1], values[2])

    def fingerprint(self, model_id: str, precision: str, version: str) -> str:
        """A short hash of everything that changes the pixels; --skip-existing compares it."""
        payload = json.dumps({"settings": asdict(self), "model": model_id, "precision": precision,
                              "version": version}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def to_json(self) -> str:
        """The settings as compact JSON, for the output's metadata and the run report."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
