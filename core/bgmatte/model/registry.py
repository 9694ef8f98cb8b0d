"""Models by name or path: registered configs, the shipped default, devices and precision.

Names: "default" (the shipped weights, ``bgmatte/weights/default.pt``), and the registered
configs below, which give a seeded, untrained model (for tests and training from scratch).
Anything ending in ``.pt`` or containing a path separator is a weights file.
"""
from __future__ import annotations

import logging
import os
from importlib import resources
from pathlib import Path

import torch

from bgmatte.errors import InputError
from bgmatte.model.config import GeneratorConfig
from bgmatte.model.generator import Generator
from bgmatte.model.weights import load_weights

log = logging.getLogger(__name__)

DEFAULT_NAME = "default"
DEFAULT_WEIGHTS = "default.pt"
INIT_SEED = 0
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "fp16")

CONFIGS: dict[str, GeneratorConfig] = {
    # The paper's generator: widths 64/128/256, selectors 64, 7 shared and 3 per-head blocks.
    "paper": GeneratorConfig(),
    # The CPU product size: ~55 ms per 512x288 forward with 2 torch threads (channels_last), 0.85 M params.
    "small": GeneratorConfig(base_width=8, downsamples=3, selector_width=32, combinator_width=64,
                             shared_blocks=5, head_blocks=2, working_size=512),
    # "small" whose alpha head also sees the image and plate features at every resolution
    # (AlphaHead's skips): ~18 % more work per frame, 0.88 M params; grown from "small" weights
    # by `bgmatte train --init-from` with the new inputs' weights at zero (the same network to start).
    "detail": GeneratorConfig(base_width=8, downsamples=3, selector_width=32, combinator_width=64,
                              shared_blocks=5, head_blocks=2, working_size=768, alpha_skips=True),
    # Tests: a few channels, a few milliseconds.
    "tiny": GeneratorConfig(base_width=4, downsamples=2, selector_width=4, combinator_width=16,
                            shared_blocks=1, head_blocks=1, working_size=128),
}


def list_models() -> list[str]:
    """Names `create_model` accepts besides paths: "default" first, then the registered configs."""
    return [DEFAULT_NAME, *CONFIGS]


def resolve_device(device: str = "auto") -> torch.device:
    """The torch device for --device: "auto" (CUDA when available, else CPU), "cpu" or "cuda[:N]".

    Raises:
        InputError: ("--device", problem) for an unknown name or CUDA without a CUDA device.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        if not torch.cuda.is_available():
            raise InputError("--device", f"{device} requested but no CUDA device is available "
                                         f"(torch {torch.__version__}); use --device cpu or auto")
        index = int(device[5:]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise InputError("--device", f"{device} requested but only {torch.cuda.device_count()} "
                                         "CUDA devices exist")
        return torch.device(device)
    raise InputError("--device", f"unknown device {device!r}; use auto, cpu or cuda")


def cpu_half_supported() -> bool:
    """Whether this torch runs the generator's ops (convolution, batch norm) in float16 on the CPU."""
    try:
        with torch.no_grad():
            x = torch.ones(1, 2, 4, 4, dtype=torch.float16)
            conv = torch.nn.functional.conv2d(x, torch.ones(2, 2, 3, 3, dtype=torch.float16), padding=1)
            torch.nn.functional.batch_norm(conv, torch.zeros(2, dtype=torch.float16), torch.ones(2, dtype=torch.float16))
        return True
    except RuntimeError:
        return False


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """The generator's parameter dtype for --precision: "auto" = fp16 on CUDA, fp32 on the CPU.

    Only the generator (and its learned refiner) runs in this dtype; every other stage of the frame
    (priors, refinement, output) runs in float32 (the refinement guide in float64) on the same device.
    "fp16" on the CPU is allowed where torch runs half convolutions there (slower than fp32 on most
    CPUs; it is how the fp16 path's tolerance against fp32 is checked without a GPU).

    Raises:
        InputError: ("--precision", problem) for an unknown name, or fp16 on a CPU whose torch
            cannot run it.
    """
    if precision not in PRECISIONS:
        raise InputError("--precision", f"unknown precision {precision!r}; use {', '.join(PRECISIONS)}")
    if precision == "fp16" and device.type != "cuda" and not cpu_half_supported():
        raise InputError("--precision", f"fp16 needs a CUDA device or a torch that runs half convolutions on "
                                        f"the CPU (torch {torch.__version__} does not); use fp32 (or auto)")
    if precision == "fp16" or (precision == "auto" and device.type == "cuda"):
        return torch.float16
    return torch.float32


def _is_path(name_or_path: str) -> bool:
    """Whether --model names a file: it ends in .pt or contains a path separator."""
    separators = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return name_or_path.endswith(".pt") or any(sep in name_or_path for sep in separators)


def _model_error(name: str, problem: str) -> InputError:
    """An InputError for --model that lists the names and says how to write a path."""
    return InputError("--model", f"{problem}; names: {', '.join(list_models())}; "
                                 f"for a weights file write a path, e.g. ./{name}.pt or ./{name}")


def _shipped_weights() -> Path:
    """Path of the shipped default weights (package data), or InputError when not installed."""
    path = resources.files("bgmatte") / "weights" / DEFAULT_WEIGHTS
    if not path.is_file():
        raise InputError(DEFAULT_NAME, "no shipped weights: bgmatte/weights/default.pt is not installed; "
                                       "pass --model with a weights file, or train one with bgmatte train")
    return Path(str(path))


def create_model(name_or_path: str = DEFAULT_NAME, device: str = "auto", precision: str = "auto") -> Generator:
    """Build a Generator in eval mode from a name or a weights file, on a device and precision.

    Args:
        name_or_path: "default", a registered config name (seeded, untrained), or a path to a
            weights file (ends in ``.pt`` or contains a path separator).
        device: "auto", "cpu" or "cuda" (see `resolve_device`).
        precision: "auto", "fp32" or "fp16" (see `resolve_precision`).

    Returns:
        The model, channels_last, with ``.config`` (GeneratorConfig), ``.provenance`` (dict) and
        ``.weights_file`` (the file it was loaded from; None for a registered config).

    Raises:
        InputError: unknown or ambiguous names ("--model"), missing shipped weights ("default"),
            unreadable weights files (the path), bad device or precision.
    """
    torch_device = resolve_device(device)
    dtype = resolve_precision(precision, torch_device)
    if not _is_path(name_or_path) and name_or_path in list_models() and Path(name_or_path).exists():
        raise _model_error(name_or_path, f"{name_or_path!r} is both a model name and a file here")
    if _is_path(name_or_path) or name_or_path == DEFAULT_NAME:
        path = name_or_path if _is_path(name_or_path) else _shipped_weights()
        config, state_dict, provenance = load_weights(path)
        model = Generator(config)
        model.load_state_dict(state_dict)
        weights_file = Path(path)
    elif name_or_path in CONFIGS:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(INIT_SEED)
            model = Generator(CONFIGS[name_or_path])
        weights_file = None
        provenance = {"trained": False,
                      "note": f"untrained: registered config {name_or_path!r}, initialised with seed {INIT_SEED}"}
    else:
        problem = f"unknown model {name_or_path!r}"
        if Path(name_or_path).exists():
            problem += " (a file of that name exists: write it as a path)"
        raise _model_error(name_or_path, problem)
    model.provenance = provenance
    model.weights_file = weights_file
    model = model.to(device=torch_device, dtype=dtype, memory_format=torch.channels_last).eval()
    log.info("model %s on %s in %s", name_or_path, torch_device, dtype)
    return model
