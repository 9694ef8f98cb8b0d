"""Write the matting graph as a TorchScript file for Nuke's CatFileCreator and Inference node."""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import torch

from bgmatte import __version__
from bgmatte.export.colour import working_matrices
from bgmatte.export.graph import INPUT_CHANNELS, OUTPUT_CHANNELS, MatteGraph

log = logging.getLogger(__name__)

METADATA_FILE = "bgmatte.json"
"""Name of the JSON record stored inside the TorchScript archive (read it with ``_extra_files``)."""


def build_graph(model: str = "default", colorspace: str = "ACEScg", ocio: str | None = None) -> torch.jit.ScriptModule:
    """Build and script the graph for one model and one working space, on the CPU in float32.

    Args:
        model: registry name or weights file, as ``bgmatte matte --model``.
        colorspace: the Nuke script's scene-linear working space (its matrix to ACEScg is baked in).
        ocio: OCIO config path or ``ocio://`` name; None = ``$OCIO``, else the bundled config.

    Returns:
        The scripted MatteGraph in eval mode: (1, 6, H, W) -> (1, 4, H, W).

    Raises:
        InputError: unknown model or colourspace, or a colourspace that is not scene-linear.
    """
    from bgmatte.model import create_model

    to_working, from_working = working_matrices(colorspace, ocio)
    generator = create_model(model, device="cpu", precision="fp32").to(memory_format=torch.contiguous_format)
    graph = MatteGraph(generator, to_working, from_working).eval()
    return torch.jit.script(graph)


def export_torchscript(output: str | Path, model: str = "default", colorspace: str = "ACEScg",
                       ocio: str | None = None) -> Path:
    """Export the graph to ``output`` atomically (its folder is created), with a ``bgmatte.json`` record inside.

    Args:
        output: the ``.pt`` file to write.
        model, colorspace, ocio: see ``build_graph``.

    Returns:
        The path written.
    """
    scripted = build_graph(model, colorspace, ocio)
    record = {"bgmatte_version": __version__, "model": model, "colorspace": colorspace, "ocio": ocio,
              "input": f"[1,{INPUT_CHANNELS},H,W] source RGB then clean plate RGB, scene-linear {colorspace}",
              "output": f"[1,{OUTPUT_CHANNELS},H,W] premultiplied RGB ({colorspace}) and alpha",
              "equivalent": "bgmatte matte --seg auto --motion none"}
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    # Saved under its final name in a hidden folder beside it, then moved: the archive's inner
    # folder takes the file's name, and a reader never sees half a file.
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        staged = staging / output.name
        torch.jit.save(scripted, str(staged), _extra_files={METADATA_FILE: json.dumps(record, indent=1)})
        os.replace(staged, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("exported %s for %s to %s", model, colorspace, output)
    return output
