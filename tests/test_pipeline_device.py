"""The frame's maths as torch on the model's device, checked on the CPU: the fp16 generator's
tolerance against fp32 (documented in tests/device_checks.py and the README) and the audit that
tests/test_pipeline_cuda.py runs on a GPU."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bgmatte.color.encoding import encode_for_network
from bgmatte.model import create_model
from bgmatte.model.registry import cpu_half_supported
from bgmatte.pipeline import FrameInputs, matte_arrays, working_linear
from bgmatte.priors import working_shape
from bgmatte.priors.segmentation import soft_prior
from conftest import TEST_MODEL, read_exr
from device_checks import assert_within_precision_tolerance, audited_matte

SHOT = Path(__file__).resolve().parents[1] / "samples" / "shot"


def rgb(frame: int | str) -> np.ndarray:
    name = "clean.exr" if frame == "clean" else f"frame.{frame}.exr"
    return np.ascontiguousarray(read_exr(SHOT / name)[0][..., :3])


def every_branch(frame: int, working_size: int) -> FrameInputs:
    """A sample frame with motion cues, garbage and core mattes and a partly invalid plate."""
    image, plate = rgb(frame), rgb("clean")
    height, width = image.shape[:2]
    size = working_shape(height, width, working_size)
    garbage = np.zeros((height, width), np.float32)
    garbage[:, :24] = 1.0
    core = np.zeros((height, width), np.float32)
    core[140:150, 250:260] = 1.0
    valid = np.ones((height, width), np.float32)
    valid[:, -16:] = 0.0
    return FrameInputs(frame=image, plate=plate, neighbours=[working_linear(rgb(f), size) for f in (1001, 1002, 1004, 1005)],
                       garbage=garbage, core=core, plate_valid=valid)


@pytest.mark.skipif(not cpu_half_supported(), reason="this torch does not run half convolutions on the CPU")
@pytest.mark.parametrize("frame", [1001, 1012])
def test_the_fp16_generator_on_the_cpu_is_within_the_documented_tolerance_of_fp32(frame):
    fp32 = create_model("default", device="cpu")
    fp16 = create_model("default", device="cpu", precision="fp16")
    inputs = FrameInputs(frame=rgb(frame), plate=rgb("clean"))
    reference = matte_arrays(fp32, inputs, ("fg", "shadow"))
    halved = matte_arrays(fp16, inputs, ("fg", "shadow"))
    assert halved.alpha.dtype == np.float32 and halved.premult.dtype == np.float32
    figures = assert_within_precision_tolerance(halved, reference, inputs.frame)
    assert figures["alpha_max"] > 0.0  # the generator did run in half precision


def test_the_device_audit_sees_every_stage_and_flags_cpu_pixels(monkeypatch):
    calls = []
    from bgmatte.priors import components

    monkeypatch.setattr(components, "cv2", _counting_cv2(calls))
    audit, result = audited_matte(monkeypatch, create_model(TEST_MODEL, device="cpu"), every_branch(1003, 128))
    assert audit.calls > 200 and audit.devices == {"cpu"}
    # On the CPU every map is a CPU tensor: on a GPU the same list must be empty (tests/test_pipeline_cuda.py).
    assert len(audit.cpu_pixels) > 50
    # The frame is larger than the working size, so its prior is the coverage prior; it and the
    # working-size prior each label their mask once (OpenCV, on the CPU), and nothing else labels.
    assert len(calls) == 1
    working = encode_for_network(torch.rand(1, 3, 64, 96))
    soft_prior(working, working * 0.9)
    assert len(calls) == 2
    assert set(result) >= {"alpha", "premult", "fg", "shadow", "gain", "noise_floor"}


def _counting_cv2(calls: list):
    import cv2

    class Counting:
        def __getattr__(self, name):
            return getattr(cv2, name)

        def connectedComponents(self, *args, **kwargs):
            calls.append(1)
            return cv2.connectedComponents(*args, **kwargs)

    return Counting()
