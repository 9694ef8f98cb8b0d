"""The 3x3 matrices between the Nuke script's working space and ACEScg, baked into the exported graph.

The packed input is scene-linear in the script's working space; the graph works in ACEScg like the
core. Between two linear spaces OCIO's conversion is a matrix, which is read off the core's own
ColorPipeline (the same processors `bgmatte matte --colorspace NAME` uses) and checked to be one.
"""
from __future__ import annotations

import numpy as np

from bgmatte.color import ColorPipeline, resolve_config
from bgmatte.errors import InputError

# A conversion is a matrix when it maps these probes (negatives and highlights included) like one.
_PROBES = np.array([[[0.18, 0.18, 0.18], [-0.05, 0.4, 2.5], [16.0, 0.001, 0.7], [1000.0, 30.0, -2.0]]],
                   dtype=np.float32)
_MATRIX_RTOL = 1e-4
_MATRIX_ATOL = 1e-5


def _matrix_of(convert, subject: str, what: str) -> np.ndarray:
    """The (3, 3) float64 matrix M with ``convert(rgb) = M @ rgb``, or InputError if it is not linear."""
    basis = convert(np.eye(3, dtype=np.float32)[None].copy())[0]
    matrix = basis.T.astype(np.float64)
    origin = convert(np.zeros((1, 1, 3), np.float32))[0, 0]
    probed = convert(_PROBES.copy())[0]
    expected = _PROBES[0].astype(np.float64) @ matrix.T
    if np.abs(origin).max() > _MATRIX_ATOL or not np.allclose(probed, expected, rtol=_MATRIX_RTOL, atol=_MATRIX_ATOL):
        raise InputError(subject, f"{what} is not a 3x3 matrix (not scene-linear?); the exported model "
                                  "takes scene-linear input: name the script's linear working space")
    return matrix


def working_matrices(colorspace: str, ocio: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The matrices from a linear colourspace to ACEScg and back.

    Args:
        colorspace: the script's working space (name, alias or role in the config).
        ocio: OCIO config path or ``ocio://`` name; None = ``$OCIO``, else the bundled config.

    Returns:
        (to_working, from_working): (3, 3) float64 matrices acting on column RGB vectors.

    Raises:
        InputError: unknown colourspace, or a conversion that is not a matrix.
    """
    pipeline = ColorPipeline(resolve_config(ocio), input_colorspace=colorspace, output_colorspace=colorspace)
    to_working = _matrix_of(pipeline.to_working, "--colorspace", f"'{colorspace}' to ACEScg")
    from_working = _matrix_of(pipeline.from_working, "--colorspace", f"ACEScg to '{colorspace}'")
    return to_working, from_working
