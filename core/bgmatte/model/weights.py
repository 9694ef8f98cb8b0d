"""The one weights file format: config, state dict and provenance, loadable with weights_only=True.

    {"format": "bgmatte-weights", "format_version": 2, "config": {...}, "state_dict": {...},
     "provenance": {"data": ..., "command": ..., "commit": ..., "licence": ..., "created": ...}}

Tensors are stored on the CPU in float32 whatever the model ran in, so a file made on a GPU in
fp16 loads anywhere. `bgmatte train` and `bgmatte finetune -o` write this; the shipped default
is one of these files. Format version 2: the alpha head's last upsampling stage lost
its ReLU; version 1 files are refused, since the same numbers compute a different network there.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from bgmatte.errors import InputError
from bgmatte.io.atomic import atomic_output
from bgmatte.model.config import GeneratorConfig
from bgmatte.model.generator import Generator

log = logging.getLogger(__name__)

FORMAT = "bgmatte-weights"
FORMAT_VERSION = 2
_PLAIN_SCALARS = (str, int, float, bool, type(None))


def _check_plain(value: Any, where: str) -> None:
    """Raise TypeError unless value is made of str/int/float/bool/None, lists and str-keyed dicts."""
    if isinstance(value, _PLAIN_SCALARS):
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_plain(item, f"{where}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} has a non-string key {key!r}")
            _check_plain(item, f"{where}.{key}")
        return
    raise TypeError(f"{where} must hold plain types only, got {type(value).__name__}")


def save_weights(path: str | Path, model: Generator, provenance: dict[str, Any]) -> Path:
    """Write a model to a weights file atomically (temp file in the same folder, then rename).

    Args:
        path: destination file, conventionally ``*.pt``.
        model: a Generator (any device or dtype; its ``config`` is stored).
        provenance: plain-type dict: data recipe, command, commit, licence; "created" (UTC, ISO
            8601) and "bgmatte_version" are added when absent.

    Returns:
        The path written.

    Raises:
        TypeError: If provenance holds anything but plain types.
    """
    from bgmatte import __version__

    provenance = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "bgmatte_version": __version__, **provenance}
    _check_plain(provenance, "provenance")
    state_dict = {name: (tensor.detach().to("cpu", torch.float32) if tensor.is_floating_point()
                         else tensor.detach().to("cpu")).contiguous()
                  for name, tensor in model.state_dict().items()}
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": model.config.to_dict(),
               "state_dict": state_dict, "provenance": provenance}
    path = Path(path)
    with atomic_output(path) as temp:
        torch.save(payload, temp)
    log.info("wrote weights %s", path)
    return path


def load_weights(path: str | Path) -> tuple[GeneratorConfig, dict[str, torch.Tensor], dict[str, Any]]:
    """Read and check a weights file.

    Args:
        path: a file written by `save_weights`.

    Returns:
        (config, state_dict, provenance); the state dict's tensors are float32 on the CPU and fit
        ``Generator(config)`` exactly (names and shapes).

    Raises:
        InputError: (path, problem) for a missing file, a file torch cannot read, a file that is
            not in this format (or a newer version of it), a bad config, a state dict that does
            not fit its config, or parameters/statistics holding NaN or Inf.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such weights file" if not path.exists() else "not a file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as error:
        raise InputError(path, f"cannot be read ({error.strerror or error})") from None
    except Exception as error:  # the unpickler raises almost anything on a corrupt file
        log.debug("torch.load failed on %s: %s", path, error)
        raise InputError(path, "not a torch weights file (or it is truncated)") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(path, f"not a bgmatte weights file (no format {FORMAT!r})")
    version = payload.get("format_version")
    if isinstance(version, int) and 0 < version < FORMAT_VERSION:
        raise InputError(path, f"weights format version {version} was made by an older bgmatte whose alpha head "
                               f"differs; make it again (bgmatte finetune, or bgmatte train --export)")
    if version != FORMAT_VERSION:
        raise InputError(path, f"weights format version {version!r} is not supported "
                               f"(this bgmatte reads version {FORMAT_VERSION})")
    missing = [key for key in ("config", "state_dict", "provenance") if not isinstance(payload.get(key), dict)]
    if missing:
        raise InputError(path, f"weights file lacks {', '.join(missing)}")
    try:
        config = GeneratorConfig.from_dict(payload["config"])
    except (TypeError, ValueError) as error:
        raise InputError(path, f"bad generator config: {error}") from None
    state_dict = payload["state_dict"]
    problem = _state_dict_mismatch(config, state_dict)
    if problem:
        raise InputError(path, f"state dict does not fit its config: {problem}")
    problem = _nonfinite_parameters(state_dict)
    if problem:
        raise InputError(path, f"damaged weights: {problem}; train or fine-tune them again")
    return config, state_dict, payload["provenance"]


def _nonfinite_parameters(state_dict: dict[str, torch.Tensor]) -> str:
    """Name the tensors holding NaN/Inf values ('' if every value is finite): they make an all-NaN matte."""
    bad = {}
    for name, tensor in state_dict.items():
        if tensor.is_floating_point():
            count = int((~torch.isfinite(tensor)).sum())
            if count:
                bad[name] = count
    if not bad:
        return ""
    names = list(bad)
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    return (f"{sum(bad.values())} NaN/Inf values in {len(names)} tensors "
            f"({', '.join(names[:3])}{more})")


def _state_dict_mismatch(config: GeneratorConfig, state_dict: dict[str, Any]) -> str:
    """Describe how a state dict differs from Generator(config) in names or shapes ('' if it fits)."""
    with torch.device("meta"):
        expected = Generator(config).state_dict()
    missing = [name for name in expected if name not in state_dict]
    unexpected = [name for name in state_dict if name not in expected]
    wrong = [name for name in expected if name in state_dict and (
        not isinstance(state_dict[name], torch.Tensor) or state_dict[name].shape != expected[name].shape)]
    parts = []
    for label, names in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if names:
            more = f" and {len(names) - 3} more" if len(names) > 3 else ""
            parts.append(f"{label} {', '.join(names[:3])}{more}")
    return "; ".join(parts)
