"""The whole frame on the GPU: with a CUDA model every tensor of the frame's maths lives on the
device, and the matte equals the CPU's within the documented tolerance (tests/device_checks.py).

Needs a CUDA device: skipped otherwise (the build machines have none). On a GPU machine run
``pytest tests/test_pipeline_cuda.py``.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bgmatte.model import create_model
from bgmatte.model.config import GeneratorConfig
from bgmatte.model.generator import Generator
from bgmatte.pipeline import FrameInputs, matte_arrays
from device_checks import assert_within_precision_tolerance, audited_matte
from test_pipeline_device import every_branch, rgb

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device (torch.cuda.is_available() is False)")


def with_refiner(precision: str) -> Generator:
    """The tiny model grown with a seeded learned refiner, so the refiner's path runs too (4x its working size)."""
    tiny = create_model("tiny", device="cpu")
    torch.manual_seed(0)
    model = Generator(GeneratorConfig.from_dict({**tiny.config.to_dict(), "refiner_width": 6})).eval()
    model.load_state_dict({**tiny.state_dict(), **{k: v for k, v in model.state_dict().items() if k.startswith("refiner.")}})
    dtype = torch.float16 if precision == "fp16" else torch.float32
    return model.to(device="cuda", dtype=dtype, memory_format=torch.channels_last)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("kind", ["default", "refiner"])
def test_every_tensor_of_the_frames_maths_is_on_the_gpu(monkeypatch, precision, kind):
    model = create_model("default", device="cuda", precision=precision) if kind == "default" else with_refiner(precision)
    audit, result = audited_matte(monkeypatch, model, every_branch(1003, model.config.working_size))
    assert audit.calls > 200
    assert audit.cpu_pixels == [], f"CPU tensors made during the frame's maths: {audit.cpu_pixels[:20]}"
    for name in ("alpha", "premult", "fg", "shadow", "gain", "noise_floor"):
        assert result[name].device.type == "cuda", name


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("frame", [1001, 1012])
def test_the_gpu_matte_equals_the_cpus_within_the_documented_tolerance(precision, frame):
    inputs = FrameInputs(frame=rgb(frame), plate=rgb("clean"))
    reference = matte_arrays(create_model("default", device="cpu"), inputs, ("fg", "shadow"))
    on_gpu = matte_arrays(create_model("default", device="cuda", precision=precision), inputs, ("fg", "shadow"))
    assert isinstance(on_gpu.alpha, np.ndarray) and on_gpu.premult.shape == reference.premult.shape
    assert_within_precision_tolerance(on_gpu, reference, inputs.frame)


def test_auto_picks_cuda_and_fp16():
    model = create_model("default")
    param = next(model.parameters())
    assert (param.device.type, param.dtype) == ("cuda", torch.float16)
