"""Specification of the stage-1 losses: named terms plus a total, zero for a perfect prediction."""
from __future__ import annotations

import pytest
import torch

from bgmatte.color.encoding import encode_for_network
from bgmatte.train.losses import LossWeights, stage1_losses, unknown_band


def _batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    alpha = torch.rand(2, 1, 16, 16, generator=generator)
    alpha[:, :, :4] = 0.0
    fg_linear = torch.rand(2, 3, 16, 16, generator=generator) * 2.0
    background_linear = torch.rand(2, 3, 16, 16, generator=generator) * 4.0
    image = alpha * fg_linear + (1 - alpha) * background_linear
    return {"alpha": alpha, "fg": encode_for_network(fg_linear) * (alpha > 1e-3),
            "background": encode_for_network(background_linear), "image_clean": encode_for_network(image)}


def test_losses_are_named_terms_and_their_weighted_total() -> None:
    batch = _batch()
    losses = stage1_losses(torch.full_like(batch["alpha"], 0.5), torch.zeros_like(batch["fg"]), batch)
    assert set(losses) == {"alpha", "alpha_gradient", "composition", "foreground", "alpha_band", "total"}
    weights = LossWeights()
    paper = (weights.alpha * losses["alpha"] + weights.alpha_gradient * losses["alpha_gradient"]
             + weights.composition * losses["composition"] + weights.foreground * losses["foreground"])
    torch.testing.assert_close(losses["total"], paper)  # the band term weighs 0 unless a run sets it
    assert all(float(value) > 0 for value in losses.values())
    banded = stage1_losses(torch.full_like(batch["alpha"], 0.5), torch.zeros_like(batch["fg"]), batch,
                           LossWeights(band_alpha=0.5))
    torch.testing.assert_close(banded["total"], paper + 0.5 * losses["alpha_band"])


def test_a_perfect_prediction_has_zero_loss() -> None:
    batch = _batch()
    losses = stage1_losses(batch["alpha"].clone(), batch["fg"].clone(), batch)
    for name, value in losses.items():
        assert float(value) < 1e-5, name


def test_foreground_is_judged_only_where_there_is_coverage() -> None:
    batch = _batch()
    wrong_outside = batch["fg"].clone()
    wrong_outside[:, :, :4] = 9.0
    assert float(stage1_losses(batch["alpha"], wrong_outside, batch)["foreground"]) < 1e-6


def test_losses_have_gradients_for_both_outputs() -> None:
    batch = _batch()
    alpha = torch.full_like(batch["alpha"], 0.5, requires_grad=True)
    fg = torch.zeros_like(batch["fg"], requires_grad=True)
    stage1_losses(alpha, fg, batch)["total"].backward()
    assert alpha.grad is not None and alpha.grad.abs().sum() > 0
    assert fg.grad is not None and fg.grad.abs().sum() > 0


def test_the_band_term_weighs_a_thin_partial_structure_as_much_as_the_crop_it_sits_in() -> None:
    truth = torch.zeros(1, 1, 32, 32)
    truth[:, :, 4:28, 16] = 0.3  # a strand one pixel wide
    batch = {"alpha": truth, "fg": torch.zeros(1, 3, 32, 32), "background": torch.zeros(1, 3, 32, 32),
             "image_clean": torch.zeros(1, 3, 32, 32)}
    band = unknown_band(truth)
    assert band[0, 0, 4:28, 14:19].all() and not band[0, 0, :, :13].any() and not band[0, 0, 0:1].any()
    dropped = stage1_losses(torch.zeros_like(truth), batch["fg"], batch)
    assert float(dropped["alpha"]) == pytest.approx(0.3 * 24 / 1024)
    assert float(dropped["alpha_band"]) == pytest.approx(0.3 * 24 / int(band.sum()))
    assert float(dropped["alpha_band"]) > 5 * float(dropped["alpha"])
    solid = torch.zeros_like(truth)
    solid[:, :, 8:24, 8:24] = 1.0  # no partial pixels: the term is 0, not a division by zero
    assert float(stage1_losses(torch.zeros_like(solid), batch["fg"], {**batch, "alpha": solid})["alpha_band"]) == 0.0
