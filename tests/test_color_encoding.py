"""The network's encoding: ACEScct on ACEScg, one formula for NumPy, torch, TorchScript and OCIO."""
from __future__ import annotations

import numpy as np
import PyOpenColorIO as OCIO
import pytest
import torch

from bgmatte.color import (
    NETWORK_COLORSPACE,
    WORKING_COLORSPACE,
    bundled_config_path,
    decode_from_network,
    encode_for_network,
    luminance,
)

HALF_MAX = 65504.0
# decode(encode(x)) against x: float32 rounding through log2/pow, ~12 ulp relative at 65504.
ROUND_TRIP_RTOL = 1e-5
ROUND_TRIP_ATOL = 1e-8
# Our curve against OCIO's CPU processor (which also runs the AP1 -> AP0 -> AP1 matrices).
OCIO_ENCODE_RTOL = 2e-6
OCIO_ENCODE_ATOL = 2e-6
OCIO_DECODE_RTOL = 1e-5
OCIO_DECODE_ATOL = 1e-7

# Reference values of ACEScct (S-2016-001): linear -> encoded.
PUBLISHED_POINTS = {
    0.0: 0.0729055341958355,
    0.0078125: 0.155251141552511,
    0.18: 0.4135884,
    1.0: 9.72 / 17.52,
    HALF_MAX: (np.log2(HALF_MAX) + 9.72) / 17.52,
}


def hdr_sweep() -> np.ndarray:
    """Linear values from -65504 to +65504, log-spaced in magnitude, with zero: (N,) float32."""
    magnitudes = np.logspace(-8, np.log10(HALF_MAX), 2000)
    return np.concatenate([-magnitudes[::-1], [0.0], magnitudes]).astype(np.float32)


def ocio_apply(source: str, destination: str, values: np.ndarray, config: OCIO.Config) -> np.ndarray:
    """Run a (N,) array through an OCIO processor as grey RGB and return channel 0."""
    rgb = np.repeat(values[:, None], 3, axis=1).astype(np.float32)
    config.getProcessor(source, destination).getDefaultCPUProcessor().applyRGB(rgb)
    return rgb[:, 0]


@pytest.fixture(scope="module")
def bundled() -> OCIO.Config:
    return OCIO.Config.CreateFromFile(str(bundled_config_path()))


def test_decode_inverts_encode_over_the_half_float_range_including_negatives():
    linear = hdr_sweep()
    np.testing.assert_allclose(decode_from_network(encode_for_network(linear)), linear,
                               rtol=ROUND_TRIP_RTOL, atol=ROUND_TRIP_ATOL)


def test_encode_hits_the_published_acescct_values():
    linear = np.array(list(PUBLISHED_POINTS), dtype=np.float64)
    np.testing.assert_allclose(encode_for_network(linear), list(PUBLISHED_POINTS.values()), rtol=1e-6)


def test_numpy_and_torch_give_identical_numbers():
    linear = hdr_sweep()
    from_numpy = encode_for_network(linear)
    from_torch = encode_for_network(torch.from_numpy(linear.copy())).numpy()
    np.testing.assert_array_equal(from_numpy, from_torch)
    np.testing.assert_array_equal(decode_from_network(from_numpy),
                                  decode_from_network(torch.from_numpy(from_numpy)).numpy())


def test_encode_keeps_type_dtype_and_shape_and_leaves_the_input_alone():
    frame = np.linspace(-1, 100, 4 * 5 * 3, dtype=np.float32).reshape(4, 5, 3)
    before = frame.copy()
    for dtype in (np.float16, np.float32, np.float64):
        encoded = encode_for_network(frame.astype(dtype))
        assert isinstance(encoded, np.ndarray) and encoded.dtype == dtype and encoded.shape == frame.shape
    np.testing.assert_array_equal(frame, before)
    flipped = frame[::-1, :, ::-1]  # negative strides and read-only memory are accepted
    flipped.flags.writeable = False
    np.testing.assert_array_equal(encode_for_network(flipped), encode_for_network(flipped.copy()))


def test_encode_matches_ocio_bgmatte_network_and_acescct_of_the_bundled_config(bundled):
    linear = hdr_sweep()
    ours = encode_for_network(linear)
    for space in (NETWORK_COLORSPACE, "ACEScct"):
        np.testing.assert_allclose(ocio_apply(WORKING_COLORSPACE, space, linear, bundled), ours,
                                   rtol=OCIO_ENCODE_RTOL, atol=OCIO_ENCODE_ATOL, err_msg=space)


def test_decode_matches_ocio_bgmatte_network_to_acescg(bundled):
    encoded = encode_for_network(hdr_sweep())
    np.testing.assert_allclose(ocio_apply(NETWORK_COLORSPACE, WORKING_COLORSPACE, encoded, bundled),
                               decode_from_network(encoded), rtol=OCIO_DECODE_RTOL, atol=OCIO_DECODE_ATOL)


def test_encode_matches_acescct_of_the_studio_config():
    studio = OCIO.Config.CreateFromFile("ocio://studio-config-latest")
    linear = hdr_sweep()
    np.testing.assert_allclose(ocio_apply("ACEScg", "ACEScct", linear, studio), encode_for_network(linear),
                               rtol=OCIO_ENCODE_RTOL, atol=OCIO_ENCODE_ATOL)


def test_encode_is_monotonic_and_continuous_at_the_toe_break():
    assert np.all(np.diff(encode_for_network(hdr_sweep().astype(np.float64))) > 0)
    # float32 cannot resolve steps of 1e-10 around 0.073, so there it is only non-decreasing.
    assert np.all(np.diff(encode_for_network(hdr_sweep())) >= 0)
    break_point = np.float64(0.0078125)
    around = encode_for_network(np.array([break_point - 1e-9, break_point, break_point + 1e-9]))
    assert np.ptp(around) < 1e-7


def test_highlights_above_one_stay_distinct_after_encoding():
    highlights = np.array([1.0, 1.5, 2.0, 4.0, 16.0, 100.0, 1000.0, 10000.0, HALF_MAX], dtype=np.float32)
    encoded = encode_for_network(highlights)
    assert np.all(np.diff(encoded) > 0.01), "each highlight step must stay visible to the network"
    assert encoded[-1] < 1.5, "the curve compresses: the half-float maximum lands below 1.5"
    np.testing.assert_allclose(decode_from_network(encoded), highlights, rtol=ROUND_TRIP_RTOL)


def test_negative_values_stay_finite_and_ordered():
    negatives = np.array([-HALF_MAX, -100.0, -1.0, -0.01, -1e-6], dtype=np.float32)
    encoded = encode_for_network(negatives)
    assert np.all(np.isfinite(encoded)) and np.all(np.diff(encoded) > 0)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_torchscript_compiles_the_encoding_with_basic_ops_only():
    allowed = {"aten::clamp", "aten::log2", "aten::pow", "aten::mul", "aten::add", "aten::sub", "aten::div",
               "aten::slice", "prim::Constant", "prim::unchecked_cast", "prim::CallFunction"}
    values = torch.from_numpy(hdr_sweep())
    for function in (encode_for_network, decode_from_network):
        scripted = torch.jit.script(function)
        torch._C._jit_pass_inline(scripted.graph)
        assert {node.kind() for node in scripted.graph.nodes()} <= allowed, function.__name__
        np.testing.assert_array_equal(scripted(values).numpy(), function(values).numpy())


def test_encoding_gradients_are_correct_on_both_sides_of_the_toe():
    values = torch.tensor([-3.0, -0.1, 0.001, 0.005, 0.02, 0.18, 1.0, 50.0], dtype=torch.float64)
    values.requires_grad_(True)
    assert torch.autograd.gradcheck(encode_for_network, (values,))
    encoded = encode_for_network(values).detach().requires_grad_(True)
    assert torch.autograd.gradcheck(decode_from_network, (encoded,))


def test_luminance_of_grey_is_the_grey_value_in_numpy_and_torch():
    grey = np.full((2, 3, 3), 0.18, dtype=np.float32)
    grey[1, 2] = 100.0
    y = luminance(grey)
    assert y.shape == (2, 3) and y.dtype == np.float32
    np.testing.assert_allclose(y, grey[..., 0], rtol=1e-6)
    nchw = torch.from_numpy(grey).permute(2, 0, 1).unsqueeze(0)
    y_torch = luminance(nchw)
    assert tuple(y_torch.shape) == (1, 1, 2, 3)
    np.testing.assert_allclose(y_torch[0, 0].numpy(), y, rtol=1e-6)


def test_luminance_weighs_green_most_and_blue_least():
    primaries = np.eye(3, dtype=np.float32).reshape(1, 3, 3)
    np.testing.assert_allclose(luminance(primaries)[0], [0.2722287168, 0.6740817658, 0.0536895174], rtol=1e-6)
