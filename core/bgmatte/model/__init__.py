"""The generator of Background Matting (Sengupta et al. 2020): blocks, configs, registry, weights files."""
from __future__ import annotations

from bgmatte.model.config import GeneratorConfig
from bgmatte.model.generator import Generator
from bgmatte.model.registry import CONFIGS, create_model, list_models, resolve_device, resolve_precision
from bgmatte.model.weights import load_weights, save_weights

__all__ = [
    "CONFIGS",
    "Generator",
    "GeneratorConfig",
    "create_model",
    "list_models",
    "load_weights",
    "resolve_device",
    "resolve_precision",
    "save_weights",
]
