"""Shared by the device tests: an audit of where the frame's tensors live, and the documented
tolerance of a matte made in another precision or on another device against CPU fp32.

Tolerance (README "Devices and precision", docs/architecture.md): only the generator (and a learned
refiner) runs in fp16; every other stage is float32 (the refinement guide float64). Measured on four
frames of the sample shot (512x288, the shipped "detail" model of commit 5c80f44, fp16 generator on
the CPU against fp32): mean |d alpha| 5.0e-5 to 9.7e-5, 99.9th percentile 2.3e-3 to 4.3e-3,
premultiplied RGB mean 4.6e-5 to 7.9e-5 x the frame's level; 10 to 17 isolated pixels of 147 456
(at most 0.012 %) differ by more than 0.05 (up to 0.38 in alpha), where the
network's alpha crosses a threshold of the refinement band (0.02, 0.98) or of the clip-black gate
(0.05) in one precision and not in the other. The bounds below leave 2-4x of margin. The same
bounds are asserted for a CUDA matte (TF32 convolutions, other summation orders) against the CPU's.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

ALPHA_MEAN = 2e-4
ALPHA_P999 = 1e-2
ALPHA_OUTLIER = 0.05  # |d alpha| above this counts as an outlier pixel ...
OUTLIER_SHARE = 5e-4  # ... and at most this share of the pixels may be one
PREMULT_MEAN = 2e-4  # x the frame's mean level
SCALAR_ELEMENTS = 16  # a CPU tensor this small is index or scalar bookkeeping, not pixels


def assert_within_precision_tolerance(result, reference, frame: np.ndarray) -> dict[str, float]:
    """Assert the documented tolerance of ``result`` (a MatteResult) against CPU fp32 ``reference``."""
    d_alpha = np.abs(result.alpha - reference.alpha)
    d_premult = np.abs(result.premult - reference.premult)
    figures = {"alpha_mean": float(d_alpha.mean()), "alpha_p999": float(np.quantile(d_alpha, 0.999)),
               "outliers": float((d_alpha > ALPHA_OUTLIER).mean()), "alpha_max": float(d_alpha.max()),
               "premult_mean": float(d_premult.mean() / max(float(np.mean(frame)), 1e-6))}
    assert figures["alpha_mean"] < ALPHA_MEAN, figures
    assert figures["alpha_p999"] < ALPHA_P999, figures
    assert figures["outliers"] <= OUTLIER_SHARE, figures
    assert figures["premult_mean"] < PREMULT_MEAN, figures
    return figures


class DeviceAudit(TorchFunctionMode):
    """Records the device of every tensor that a torch function or tensor method returns.

    ``cpu_pixels`` lists the CPU tensors larger than SCALAR_ELEMENTS (name, shape) made while the
    audit ran outside ``paused`` sections (see ``pause_inside``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.paused = 0
        self.calls = 0
        self.devices: set[str] = set()
        self.cpu_pixels: list[tuple[str, tuple[int, ...]]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if not self.paused:
            self._record(getattr(func, "__name__", str(func)), out)
        return out

    def _record(self, name: str, out) -> None:
        if isinstance(out, torch.Tensor):
            self.calls += 1
            self.devices.add(out.device.type)
            if out.device.type == "cpu" and out.numel() > SCALAR_ELEMENTS:
                self.cpu_pixels.append((name, tuple(out.shape)))
        elif isinstance(out, (tuple, list)):
            for item in out:
                self._record(name, item)

    def pause_inside(self, monkeypatch, module, name: str) -> None:
        """Do not record inside ``module.name`` (a step allowed to visit the CPU)."""
        original = getattr(module, name)

        def paused(*args, **kwargs):
            self.paused += 1
            try:
                return original(*args, **kwargs)
            finally:
                self.paused -= 1

        monkeypatch.setattr(module, name, paused)


def audited_matte(monkeypatch, model, inputs, layers=("fg", "shadow")) -> tuple[DeviceAudit, dict]:
    """``pipeline.matte_tensors`` on the model's device under a DeviceAudit, OpenCV's labelling paused
    (the one step allowed to visit the CPU: the working-size mask goes there and back)."""
    from bgmatte.pipeline import FrameTensors, matte_tensors
    from bgmatte.priors import segmentation

    device = next(model.parameters()).device
    tensors = FrameTensors.of(inputs, device)
    audit = DeviceAudit()
    audit.pause_inside(monkeypatch, segmentation, "opencv_labels")
    with audit:
        result, _ = matte_tensors(model, tensors, layers)
    return audit, result
