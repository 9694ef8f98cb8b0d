"""Specification of refine_alpha: the uncertain band is refined at full resolution, nothing else changes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bgmatte.priors.resample import resize_area, resize_linear
from bgmatte.refine import refine_alpha, uncertain
from bgmatte.refine.guided_filter import guided_filter_coefficients
from bgmatte.refine.uncertain import uncertain_band

SCALE = 4
FG_COLOUR = np.array([0.9, 0.7, 0.5], np.float32)


def textured_plate(height: int, width: int, seed: int = 0) -> np.ndarray:
    """(H, W, 3) working-linear plate: coloured stripes and fine noise (background texture)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    noise = np.random.default_rng(seed).random((height, width, 3), dtype=np.float32)
    plate = (0.3 + 0.15 * np.sin(xx / 3.0)[..., None] * np.array([1.0, 0.5, 0.2])
             + 0.1 * np.cos(yy / 5.0)[..., None] * np.array([0.2, 0.6, 1.0]) + 0.05 * noise)
    return plate.astype(np.float32)


def strand_shot(height: int = 128, width: int = 160) -> dict[str, np.ndarray]:
    """A 1-px diagonal strand of constant colour over a textured plate, and its low-res network output."""
    plate = textured_plate(height, width)
    truth = np.zeros((height, width), np.float32)
    for y in range(height):
        truth[y, int(0.2 * width + 0.4 * y)] = 1.0
    frame = truth[..., None] * FG_COLOUR + (1.0 - truth[..., None]) * plate
    low = (height // SCALE, width // SCALE)
    return {"truth": truth, "frame": frame.astype(np.float32), "plate": plate,
            "alpha_low": resize_area(truth, low), "fg_low": np.broadcast_to(FG_COLOUR, low + (3,)).copy()}


@pytest.fixture(scope="module")
def shot() -> dict[str, np.ndarray]:
    return strand_shot()


def refine(shot: dict[str, np.ndarray], **kwargs) -> np.ndarray:
    return refine_alpha(shot["alpha_low"], shot["frame"], shot["plate"], shot["fg_low"], **kwargs)


def test_thin_strand_has_much_lower_sad_than_bilinear_upsampling(shot):
    bilinear = resize_linear(shot["alpha_low"], shot["truth"].shape)
    refined = refine(shot)
    sad_bilinear = np.abs(bilinear - shot["truth"]).sum()
    sad_refined = np.abs(refined - shot["truth"]).sum()
    assert sad_refined < 0.5 * sad_bilinear, (sad_refined, sad_bilinear)


def test_result_is_full_resolution_float32_in_unit_range(shot):
    refined = refine(shot)
    assert refined.shape == shot["truth"].shape and refined.dtype == np.float32
    assert refined.min() >= 0.0 and refined.max() <= 1.0


def test_pixels_far_from_the_band_keep_the_upsampled_alpha(shot):
    alpha_low = shot["alpha_low"].copy()
    alpha_low[:10, 25:] = 1.0  # an opaque block: certain, so not refined except at its edge
    refined = refine_alpha(alpha_low, shot["frame"], shot["plate"], shot["fg_low"])
    bilinear = resize_linear(alpha_low, shot["truth"].shape)
    band = np.pad(uncertain_band(torch.from_numpy(alpha_low)[None, None])[0, 0].numpy(), 1)
    near_low = np.max([band[dy:dy + alpha_low.shape[0], dx:dx + alpha_low.shape[1]]
                       for dy in range(3) for dx in range(3)], axis=0)  # one more low-res pixel
    far = resize_linear(near_low, shot["truth"].shape) == 0
    assert far.mean() > 0.5
    assert np.array_equal(refined[far], bilinear[far])
    assert not np.array_equal(refined, bilinear)


def test_without_an_uncertain_band_the_result_is_the_bilinear_upsampling(shot):
    alpha_low = (shot["alpha_low"] > 0.5).astype(np.float32)
    refined = refine_alpha(alpha_low, shot["frame"], shot["plate"], shot["fg_low"])
    assert np.array_equal(refined, resize_linear(alpha_low, shot["truth"].shape))


@pytest.mark.parametrize("tile", [7, 32, 100])
def test_tiled_result_equals_untiled(shot, tile):
    assert np.array_equal(refine(shot, tile=tile), refine(shot, tile=10_000))


def test_only_tiles_whose_upsampled_band_weight_is_nonzero_are_refined():
    band = torch.zeros((1, 1, 24, 40))
    band[0, 0, 5:7, 30:33] = 1.0  # one small uncertain patch
    size, tile = (96, 160), 16
    weight = torch.nn.functional.interpolate(band, size=size, mode="bilinear", align_corners=False)[0, 0]
    tiles = uncertain.band_tiles(band, size, tile)
    covered = torch.zeros(size, dtype=torch.bool)
    for top, left, rows, cols in tiles:
        assert rows == min(tile, size[0] - top) and cols == min(tile, size[1] - left)
        covered[top:top + rows, left:left + cols] = True
    assert bool(covered[weight > 0].all())  # every pixel with band weight lies in a visited tile
    assert covered.float().mean() < 0.1  # and the visited tiles are few: the patch's neighbourhood
    assert uncertain.band_tiles(torch.zeros_like(band), size, tile) == []


def nchw(x: np.ndarray) -> torch.Tensor:
    """(H, W[, C]) NumPy -> (1, C, H, W) torch."""
    x = x[..., None] if x.ndim == 2 else x
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


def test_the_whole_frame_at_once_as_the_exported_graph_runs_it_gives_the_tiled_alpha(shot):
    frame, plate, alpha_low, fg_low = shot["frame"], shot["plate"], shot["alpha_low"], shot["fg_low"]
    frame_low, plate_low = nchw(resize_area(frame, alpha_low.shape)), nchw(resize_area(plate, alpha_low.shape))
    guide, level = uncertain.refine_guide(frame_low, plate_low)
    a, b = guided_filter_coefficients(guide, nchw(alpha_low).double(), uncertain.GUIDE_RADIUS, uncertain.GUIDE_EPS)
    whole = torch.jit.script(uncertain.refine_whole_frame)(nchw(alpha_low), nchw(frame), nchw(plate), nchw(fg_low),
                                                           frame_low, plate_low, level, a, b)
    np.testing.assert_allclose(whole[0, 0].numpy(), refine(shot, tile=32), rtol=0, atol=2e-5)


def test_where_foreground_matches_the_plate_it_falls_back_to_a_smooth_network_alpha(shot):
    # F == B and nothing visible: the plate says nothing about alpha, so no structure is invented
    # and the result stays about as good as the bilinear upsampling of the network alpha.
    plate = np.broadcast_to(FG_COLOUR, shot["plate"].shape).copy()
    refined = refine_alpha(shot["alpha_low"], plate, plate, shot["fg_low"])
    bilinear = resize_linear(shot["alpha_low"], shot["truth"].shape)
    assert np.abs(refined - shot["truth"]).sum() < 1.1 * np.abs(bilinear - shot["truth"]).sum()
    assert 0.0 <= refined.min() and refined.max() <= shot["alpha_low"].max() + 1e-6


def test_odd_sizes_and_a_non_integer_scale_work():
    shot = strand_shot(101, 77)
    low = (29, 22)
    alpha_low = resize_area(shot["truth"], low)
    fg_low = np.broadcast_to(FG_COLOUR, low + (3,)).copy()
    refined = refine_alpha(alpha_low, shot["frame"], shot["plate"], fg_low, tile=16)
    bilinear = resize_linear(alpha_low, (101, 77))
    assert refined.shape == (101, 77)
    assert np.abs(refined - shot["truth"]).sum() < 0.5 * np.abs(bilinear - shot["truth"]).sum()


@pytest.mark.parametrize("name, index, shape, message", [
    ("alpha_low", 0, (32, 40, 1), r"alpha_low: expected \(h, w\)"),
    ("frame", 1, (128, 160), r"frame: expected \(H, W, 3\)"),
    ("plate", 2, (128, 161, 3), r"plate: expected \(H, W, 3\) = \(128, 160, 3\) like the frame"),
    ("fg_low", 3, (32, 40, 4), r"fg_low: expected \(h, w, 3\) = \(32, 40, 3\) like alpha_low"),
])
def test_shape_errors_name_the_array_and_its_layout(shot, name, index, shape, message):
    args = [shot["alpha_low"], shot["frame"], shot["plate"], shot["fg_low"]]
    args[index] = np.zeros(shape, np.float32)
    with pytest.raises(ValueError, match=message):
        refine_alpha(*args)


def mesh_shot(height: int = 96, width: int = 128) -> dict[str, np.ndarray]:
    """An opaque mesh (2-px bars, 2-px holes) of one colour over a textured plate, and a network output
    whose foreground is the working-size blend of mesh and plate, as a network at 1/4 resolution sees it."""
    plate = textured_plate(height, width, seed=1)
    yy, xx = np.mgrid[0:height, 0:width]
    truth = (((yy // 2) % 2 == 0) | ((xx // 2) % 2 == 0)).astype(np.float32)
    truth[:, : width // 4] = 0.0  # plate only on the left
    frame = truth[..., None] * FG_COLOUR + (1.0 - truth[..., None]) * plate
    low = (height // SCALE, width // SCALE)
    alpha_low = resize_area(truth, low)
    blend = resize_area(frame.astype(np.float32), low)  # what the frame looks like at the working size
    return {"truth": truth, "frame": frame.astype(np.float32), "plate": plate, "alpha_low": alpha_low,
            "fg_low": blend, "fg_true": np.broadcast_to(FG_COLOUR, low + (3,)).copy()}


def test_a_mesh_keeps_its_holes_when_the_network_foreground_is_a_blend_of_mesh_and_plate():
    # The fitted foreground (local least squares of the compositing equation) recovers the mesh's
    # colour from the covered pixels, so the holes come out almost as well as with the true colour.
    shot = mesh_shot()
    blended = refine_alpha(shot["alpha_low"], shot["frame"], shot["plate"], shot["fg_low"])
    exact = refine_alpha(shot["alpha_low"], shot["frame"], shot["plate"], shot["fg_true"])
    bilinear = resize_linear(shot["alpha_low"], shot["truth"].shape)
    sad = {name: np.abs(a - shot["truth"]).sum() for name, a in
           (("blended", blended), ("exact", exact), ("bilinear", bilinear))}
    assert sad["blended"] < 0.25 * sad["bilinear"], sad
    assert sad["blended"] < 1.5 * sad["exact"] + 0.01 * shot["truth"].size, sad


def test_the_local_foreground_is_the_subjects_colour_where_a_window_holds_covered_pixels():
    shot = mesh_shot()
    truth, frame, plate = (nchw(shot[k]) for k in ("truth", "frame", "plate"))
    wrong = torch.zeros_like(frame)
    fitted = uncertain.local_foreground(truth, frame, plate, wrong)
    share = torch.nn.functional.avg_pool2d(truth, 2 * uncertain.FIT_RADIUS + 1, 1, uncertain.FIT_RADIUS,
                                           count_include_pad=False)
    colour = torch.from_numpy(FG_COLOUR).view(1, 3, 1, 1)
    error = (fitted - colour).abs().amax(1, keepdim=True)
    assert float(error[share >= 0.5].max()) < 0.1  # mostly covered: the mesh's colour, the prior pulls little
    assert float(fitted[(share == 0).expand_as(fitted)].abs().max()) == 0.0  # no coverage: the prior's colour


def veil_shot(height: int = 192, width: int = 256, coverage: float = 0.35) -> dict[str, np.ndarray]:
    """A veil of constant coverage over a textured plate; the network's alpha is right, its colour
    is too dark (a barely covered pixel's colour is barely constrained in training)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    plate = (0.3 + 0.12 * np.sin(xx / 9.0 + np.sin(yy / 13.0))[..., None] * np.array([1.0, 0.6, 0.3])
             + 0.1 * np.cos(yy / 7.0 + xx / 17.0)[..., None] * np.array([0.3, 0.7, 1.0])).astype(np.float32)
    inside = np.clip(np.minimum.reduce([xx - 48, 208 - xx, yy - 40, 152 - yy]) / 6.0, 0.0, 1.0)
    truth = (coverage * inside).astype(np.float32)
    frame = truth[..., None] * FG_COLOUR + (1.0 - truth[..., None]) * plate
    low = (height // SCALE, width // SCALE)
    return {"truth": truth, "frame": frame.astype(np.float32), "plate": plate, "alpha_low": resize_area(truth, low),
            "fg_low": np.broadcast_to(0.7 * FG_COLOUR, low + (3,)).copy(), "veil": inside > 0.999}


def test_behind_a_veil_the_band_keeps_closer_to_the_networks_alpha_when_its_colour_is_wrong(monkeypatch):
    shot = veil_shot()
    refined = refine_alpha(shot["alpha_low"], shot["frame"], shot["plate"], shot["fg_low"])
    monkeypatch.setattr(uncertain, "band_foreground", lambda alpha, frame, plate, fg: fg)
    on_the_network_colour = refine_alpha(shot["alpha_low"], shot["frame"], shot["plate"], shot["fg_low"])
    veil, truth = shot["veil"], shot["truth"]
    before = np.abs(on_the_network_colour - truth)[veil].mean()
    assert before > 0.1  # a right alpha projected onto a wrong colour comes out wrong
    assert np.abs(refined - truth)[veil].mean() < 0.6 * before


def test_the_band_foreground_moves_towards_the_consistent_colour_only_where_the_plate_shows_through():
    for shot, moves in ((strand_shot(), False), (veil_shot(), True)):
        low = shot["alpha_low"].shape
        alpha, fg = nchw(shot["alpha_low"]), nchw(shot["fg_low"])
        chosen = uncertain.band_foreground(alpha, nchw(resize_area(shot["frame"], low)),
                                           nchw(resize_area(shot["plate"], low)), fg)
        covered = (alpha > 0.2).expand_as(fg)
        colour = torch.from_numpy(FG_COLOUR).view(1, 3, 1, 1).expand_as(fg)
        error_before = float((fg - colour).abs()[covered].mean())
        error_after = float((chosen - colour).abs()[covered].mean())
        if moves:  # the veil's colour was too dark
            assert error_after < 0.6 * error_before, (error_before, error_after)
        else:  # the opaque strand's colour was right and stays
            assert float((chosen - fg).abs().max()) < 0.01
