"""Specification of the fast guided filter: function and module agree, shapes are checked, gradients hold."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from bgmatte.refine import FastGuidedFilter, fast_guided_filter
from bgmatte.refine.sampling import sample_bilinear_points, upsample_bilinear_region


def random(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("guides", [1, 3])
def test_module_and_function_agree(guides):
    guide_full = random(2, guides, 40, 60)
    guide_low = F.interpolate(guide_full, size=(10, 15), mode="area")
    src_low = random(2, 2, 10, 15, seed=1)
    expected = fast_guided_filter(guide_low, src_low, guide_full, 2, 1e-3)
    got = FastGuidedFilter(radius=2, eps=1e-3)(guide_low, src_low, guide_full)
    assert got.shape == (2, 2, 40, 60)
    assert torch.equal(got, expected)


@pytest.mark.parametrize("guides", [1, 3])
def test_a_source_linear_in_the_guide_is_reproduced_at_full_resolution(guides):
    guide_full = random(1, guides, 64, 48)
    guide_low = F.interpolate(guide_full, size=(16, 12), mode="area")
    weights = torch.tensor([0.7, -0.4, 0.2])[:guides].view(1, guides, 1, 1)
    src_low = (guide_low * weights).sum(1, keepdim=True) + 0.3
    expected = (guide_full * weights).sum(1, keepdim=True) + 0.3
    got = fast_guided_filter(guide_low, src_low, guide_full, 1, 1e-8)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-3)


def test_non_contiguous_inputs_give_the_same_result():
    guide_full = random(1, 3, 32, 32)
    guide_low = F.interpolate(guide_full, size=(8, 8), mode="area")
    src_strided = random(1, 1, 8, 16, seed=2)[..., ::2]
    assert not src_strided.is_contiguous()
    expected = fast_guided_filter(guide_low, src_strided.contiguous(), guide_full, 1, 1e-2)
    got = fast_guided_filter(guide_low.contiguous(memory_format=torch.channels_last), src_strided,
                             guide_full.contiguous(memory_format=torch.channels_last), 1, 1e-2)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("guide_low, src_low, guide_full, message", [
    ((8, 8), (1, 1, 8, 8), (1, 1, 16, 16), r"guide_low: expected a \(B, C, H, W\) tensor, got \(8, 8\)"),
    ((1, 2, 8, 8), (1, 1, 8, 8), (1, 2, 16, 16), r"guide_low: expected \(B, C, H, W\) with C = 1 \(grey\) or 3"),
    ((1, 3, 8, 8), (1, 1, 9, 8), (1, 3, 16, 16), r"src_low: expected \(B, C, H, W\) = \(1, \*, 8, 8\)"),
    ((1, 3, 8, 8), (2, 1, 8, 8), (1, 3, 16, 16), r"src_low: expected \(B, C, H, W\) = \(1, \*, 8, 8\)"),
    ((1, 3, 8, 8), (1, 1, 8, 8), (1, 1, 16, 16), r"guide_full: expected \(B, C, H, W\) = \(1, 3, >=8, >=8\)"),
    ((1, 3, 8, 8), (1, 1, 8, 8), (1, 3, 4, 16), r"guide_full: expected \(B, C, H, W\) = \(1, 3, >=8, >=8\)"),
    ((1, 3, 8, 8), (1, 1, 8, 8), (3, 16, 16), r"guide_full: expected a \(B, C, H, W\) tensor, got \(3, 16, 16\)"),
])
def test_shape_errors_name_the_expected_layout(guide_low, src_low, guide_full, message):
    with pytest.raises(ValueError, match=message):
        fast_guided_filter(torch.zeros(guide_low), torch.zeros(src_low), torch.zeros(guide_full), 1, 1e-3)


@pytest.mark.parametrize("guides", [1, 3])
def test_gradients_match_finite_differences_in_float64(guides):
    guide_low = random(1, guides, 4, 3, dtype=torch.float64).requires_grad_()
    src_low = random(1, 1, 4, 3, seed=1, dtype=torch.float64).requires_grad_()
    guide_full = random(1, guides, 7, 6, seed=2, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda g, s, f: fast_guided_filter(g, s, f, 1, 1e-2),
                                    (guide_low, src_low, guide_full), fast_mode=True)


@pytest.mark.parametrize("low, full, region", [
    ((7, 9), (29, 40), (0, 0, 29, 40)),
    ((7, 9), (29, 40), (5, 11, 13, 17)),
    ((32, 18), (128, 72), (100, 60, 28, 12)),
    ((5, 5), (5, 5), (1, 2, 3, 3)),
])
def test_region_upsampling_equals_a_crop_of_full_bilinear_upsampling(low, full, region):
    image = random(2, 3, *low)
    top, left, height, width = region
    expected = F.interpolate(image, size=full, mode="bilinear", align_corners=False)
    got = upsample_bilinear_region(image, full, top, left, height, width)
    torch.testing.assert_close(got, expected[..., top:top + height, left:left + width], rtol=0, atol=1e-6)


def test_region_outside_the_full_size_is_rejected():
    with pytest.raises(ValueError, match="is not inside the full size"):
        upsample_bilinear_region(random(1, 1, 4, 4), (8, 8), 4, 0, 5, 8)


def test_point_sampling_equals_region_sampling_bit_for_bit():
    image = random(1, 7, 30, 40)
    region = upsample_bilinear_region(image, (97, 131), 10, 20, 50, 60)
    generator = torch.Generator().manual_seed(3)
    rows, cols = torch.randint(0, 50, (500,), generator=generator), torch.randint(0, 60, (500,), generator=generator)
    points = sample_bilinear_points(image, (97, 131), rows + 10, cols + 20)
    assert torch.equal(points, region[..., rows, cols])
