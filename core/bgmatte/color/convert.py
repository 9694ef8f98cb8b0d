"""Frames in the user's colourspace <-> bgmatte's working space (scene-linear ACEScg), through OCIO.

The user's config need not know our spaces: OCIO joins the two configs through their interchange
roles (`aces_interchange`, `cie_xyz_d65_interchange`). A config without them (OCIO v1 style) still
works for colourspace names that bgmatte's own config also defines; those use our definition.

Output colourspace: a scene-linear input is written back in its own space (so is non-colour data,
which OCIO never converts); a log / video / sRGB input is written in the user config's
`scene_linear` role, because a premultiplied matte is only meaningful in linear light.
"""
from __future__ import annotations

import difflib
import logging

import numpy as np
import PyOpenColorIO as OCIO

from bgmatte.color.config import OCIO_ERRORS, ResolvedConfig, bundled_config, ocio_problem
from bgmatte.color.encoding import WORKING_COLORSPACE
from bgmatte.errors import InputError

log = logging.getLogger(__name__)

KNOWN_NAMES_SHOWN = 8
"""How many colourspace names an 'unknown colourspace' message lists."""

# Samples for the numeric linearity test, f(2x) == 2 f(x), including highlights above 1.
_LINEARITY_PROBE = np.array([[0.02, 0.18, 1.0], [0.5, 4.0, 16.0]], dtype=np.float32)
_LINEARITY_RTOL = 1e-3


class ColorPipeline:
    """Converts one shot's frames to working linear and the matte back, with processors built once.

    Every cheap check (names known, interchange possible) runs in the constructor, so a bad
    colourspace fails before anything is written.

    Attributes:
        resolved: the user's config and its source.
        input_colorspace: canonical name of the frames' colourspace in the user's config.
        output_colorspace: canonical name the matte is written in.
        input_is_scene_linear: whether the input colourspace is scene-linear (encoding attribute,
            else tested numerically).
    """

    def __init__(
        self,
        resolved: ResolvedConfig,
        input_colorspace: str | None = None,
        output_colorspace: str | None = None,
    ) -> None:
        """Look up the colourspaces and build both processors.

        Args:
            resolved: the config from `resolve_config`.
            input_colorspace: name, alias or role of the frames' colourspace; None = `scene_linear`.
            output_colorspace: name for the written matte; None = the input space when it is
                scene-linear (or data), else the config's `scene_linear` role.

        Raises:
            InputError: (subject: the config source) unknown colourspace, missing `scene_linear`
                role, or no way to reach ACEScg (no interchange roles and a name bgmatte's config
                does not know).
        """
        self.resolved = resolved
        config = resolved.config
        input_space = self._colorspace(input_colorspace or OCIO.ROLE_SCENE_LINEAR, "input")
        self.input_colorspace = input_space.getName()
        self.input_is_scene_linear = _is_scene_linear(config, input_space, resolved.source)
        if output_colorspace:
            output_space = self._colorspace(output_colorspace, "output")
        elif self.input_is_scene_linear or input_space.isData():
            output_space = input_space
        else:
            output_space = self._colorspace(OCIO.ROLE_SCENE_LINEAR, "output")
            log.info("input colourspace %r is not scene-linear: the matte is written in %r",
                     self.input_colorspace, output_space.getName())
        self.output_colorspace = output_space.getName()
        self._to_working = self._cpu_processor(input_space, to_working=True)
        self._from_working = self._cpu_processor(output_space, to_working=False)

    def to_working(self, pixels: np.ndarray) -> np.ndarray:
        """Convert frame pixels from the input colourspace to working linear (ACEScg).

        Args:
            pixels: (H, W, 3) in the input colourspace, straight (not premultiplied) colour.
                A writable C-contiguous float32 array is converted IN PLACE and returned; any
                other array is copied to float32 first.

        Returns:
            (H, W, 3) float32 scene-linear ACEScg; highlights above 1 and negatives are kept.
        """
        return _apply(self._to_working, pixels)

    def from_working(self, pixels: np.ndarray) -> np.ndarray:
        """Convert working-linear pixels (ACEScg) to the output colourspace, in place like `to_working`.

        Args:
            pixels: (H, W, 3) float32 working linear; premultiplied colour is fine when the output
                space is linear (conversions between linear spaces are matrices).

        Returns:
            (H, W, 3) float32 in `output_colorspace`.
        """
        return _apply(self._from_working, pixels)

    def describe(self) -> dict[str, str]:
        """Plain strings for output metadata: the config source, input and output colourspace."""
        return {
            "config": self.resolved.source,
            "input_colorspace": self.input_colorspace,
            "output_colorspace": self.output_colorspace,
        }

    def _colorspace(self, name: str, purpose: str) -> OCIO.ColorSpace:
        """The colourspace for a name, alias or role, or an InputError that lists the known names.

        A config without interchange roles may also use any name of bgmatte's config.
        """
        config = self.resolved.config
        space = config.getColorSpace(name)
        if space is None and not config.hasRole(OCIO.ROLE_INTERCHANGE_SCENE):
            space = bundled_config().config.getColorSpace(name)
        if space is not None:
            return space
        if name == OCIO.ROLE_SCENE_LINEAR:
            raise InputError(self.resolved.source,
                             f"config has no '{name}' role; name the {purpose} colourspace explicitly")
        raise InputError(self.resolved.source,
                         f"unknown colourspace '{name}'; known: {_known_names(config, name)}")

    def _cpu_processor(self, space: OCIO.ColorSpace, to_working: bool) -> OCIO.CPUProcessor | None:
        """The float32 CPU processor between `space` and ACEScg, or None when it is a no-op."""
        ours = bundled_config().config
        config = self.resolved.config
        source = self.resolved.source
        user_space = space.getName()
        if to_working:
            direction = f"'{user_space}' to {WORKING_COLORSPACE}"
        else:
            direction = f"{WORKING_COLORSPACE} to '{user_space}'"
        missing = _missing_interchange_roles(config, space)
        if self.resolved.is_bundled or not missing:
            space_config = config
        elif ours.getColorSpace(user_space) is not None:
            log.info("%s has no %s role; using bgmatte's definition of %r", source, missing[0], user_space)
            space_config = ours
        else:
            raise InputError(
                source,
                f"cannot convert {direction}: the config has no {' and '.join(missing)} role "
                f"(an OCIO v1 config?) and bgmatte's config has no colourspace named '{user_space}'; "
                f"add the role or use a colourspace name from bgmatte's config",
            )
        try:
            processor = _between(space_config, user_space, ours, WORKING_COLORSPACE, to_working)
            cpu = processor.getDefaultCPUProcessor()
        except OCIO_ERRORS as error:
            raise InputError(source, f"cannot convert {direction}: {ocio_problem(error)}") from None
        log.debug("processor %s: %s", direction, "no-op" if cpu.isNoOp() else "built")
        return None if cpu.isNoOp() else cpu


def _between(
    user_config: OCIO.Config, user_space: str, our_config: OCIO.Config, working: str, to_working: bool
) -> OCIO.Processor:
    """A processor user_space -> working (or back), within one config or across two."""
    if user_config is our_config:
        names = (user_space, working) if to_working else (working, user_space)
        return our_config.getProcessor(*names)
    if to_working:
        return OCIO.Config.GetProcessorFromConfigs(user_config, user_space, our_config, working)
    return OCIO.Config.GetProcessorFromConfigs(our_config, working, user_config, user_space)


def _missing_interchange_roles(config: OCIO.Config, space: OCIO.ColorSpace) -> list[str]:
    """Interchange roles the config lacks for reaching our scene-referred working space from `space`."""
    needed = [OCIO.ROLE_INTERCHANGE_SCENE]
    if space.getReferenceSpaceType() == OCIO.REFERENCE_SPACE_DISPLAY:
        needed.append(OCIO.ROLE_INTERCHANGE_DISPLAY)
    return [role for role in needed if not config.hasRole(role)]


def _apply(cpu: OCIO.CPUProcessor | None, pixels: np.ndarray) -> np.ndarray:
    """Run `cpu` on (H, W, 3) pixels in place (after a float32 copy when needed); None = no-op."""
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) pixels, got shape {pixels.shape}")
    buffer = np.ascontiguousarray(pixels, dtype=np.float32)
    if cpu is None:
        return buffer
    if not buffer.flags.writeable:
        buffer = buffer.copy()
    height, width, channels = buffer.shape
    cpu.apply(OCIO.PackedImageDesc(buffer, width, height, channels))
    return buffer


def _is_scene_linear(config: OCIO.Config, space: OCIO.ColorSpace, source: str) -> bool:
    """Whether a colourspace is scene-linear: its `encoding` when set, else f(2x) == 2 f(x) numerically."""
    encoding = space.getEncoding()
    if encoding:
        return encoding == "scene-linear"
    if space.isData():
        return False
    transform = space.getTransform(OCIO.COLORSPACE_DIR_TO_REFERENCE)
    direction = OCIO.TRANSFORM_DIR_FORWARD
    if transform is None:
        transform = space.getTransform(OCIO.COLORSPACE_DIR_FROM_REFERENCE)
        direction = OCIO.TRANSFORM_DIR_INVERSE
    if transform is None:
        return True  # the reference space itself; references are scene-linear in practice
    try:
        cpu = config.getProcessor(transform, direction).getDefaultCPUProcessor()
    except OCIO_ERRORS as error:
        raise InputError(source, f"cannot read colourspace '{space.getName()}': {ocio_problem(error)}") from None
    single = _LINEARITY_PROBE.copy()
    double = _LINEARITY_PROBE * 2.0
    cpu.applyRGB(single)
    cpu.applyRGB(double)
    return bool(np.allclose(double, single * 2.0, rtol=_LINEARITY_RTOL, atol=1e-6))


def _known_names(config: OCIO.Config, wanted: str) -> str:
    """Up to KNOWN_NAMES_SHOWN colourspace names, closest to `wanted` first, then how many more."""
    names = list(config.getColorSpaceNames())
    by_lower = {name.lower(): name for name in names}
    close = [by_lower[n] for n in difflib.get_close_matches(wanted.lower(), list(by_lower), n=3, cutoff=0.5)]
    ordered = close + [name for name in names if name not in close]
    shown = ", ".join(ordered[:KNOWN_NAMES_SHOWN])
    hidden = len(ordered) - KNOWN_NAMES_SHOWN
    return f"{shown}… ({hidden} more)" if hidden > 0 else shown
