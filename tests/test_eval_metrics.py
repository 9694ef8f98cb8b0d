"""Matte metrics give the values the Composition-1k and Erofeev et al. definitions give by hand."""
from __future__ import annotations

import numpy as np
import pytest

from bgmatte.eval import metrics


def soft_edge(height: int = 32, width: int = 40, edge: int = 20) -> np.ndarray:
    """Alpha 0 left of `edge`, 1 right of it, a 0.5 column at `edge`."""
    alpha = np.zeros((height, width))
    alpha[:, edge + 1:] = 1.0
    alpha[:, edge] = 0.5
    return alpha


def test_a_perfect_prediction_scores_zero_on_every_metric():
    true = soft_edge()
    premult = np.random.default_rng(1).random(true.shape + (3,)) * true[..., None]
    assert metrics.sad(true, true) == 0.0
    assert metrics.mse(true, true) == 0.0
    assert metrics.gradient_error(true, true) == 0.0
    assert metrics.connectivity_error(true, true) == 0.0
    assert metrics.foreground_error(premult, premult, true) == 0.0
    assert metrics.dtssd([true, true, true], [true, true, true]) == 0.0
    assert metrics.messddt([true, true], [true, true]) == 0.0


def test_sad_of_a_constant_offset_is_offset_times_pixels_in_thousands():
    true = np.zeros((20, 50))
    assert metrics.sad(true + 0.1, true) == pytest.approx(0.1 * 1000 / 1000)


def test_mse_is_the_mean_squared_difference_times_1000():
    true = np.full((20, 50), 0.5)
    assert metrics.mse(true + 0.1, true) == pytest.approx(0.01 * 1000)


def test_metrics_with_a_mask_count_only_its_pixels():
    true = np.zeros((10, 10))
    pred = true.copy()
    pred[:, :5] = 0.2  # error only in the left half
    left = np.zeros_like(true, dtype=bool)
    left[:, :5] = True
    assert metrics.sad(pred, true, mask=~left) == 0.0
    assert metrics.sad(pred, true, mask=left) == pytest.approx(50 * 0.2 / 1000)
    assert metrics.mse(pred, true, mask=left) == pytest.approx(0.04 * 1000)  # mean over the 50 masked pixels
    assert metrics.mse(pred, true) == pytest.approx(0.02 * 1000)  # mean over all 100
    assert metrics.gradient_error(pred, true, mask=np.zeros_like(left)) == 0.0


def test_an_empty_mask_gives_zero_rather_than_nan():
    true = soft_edge()
    empty = np.zeros(true.shape, dtype=bool)
    assert metrics.mse(true + 0.3, true, mask=empty) == 0.0
    rgb = np.ones(true.shape + (3,))
    assert metrics.foreground_error(rgb, 0 * rgb, np.zeros(true.shape)) == 0.0


def test_gradient_error_ignores_a_constant_offset_that_sad_counts():
    true = np.tile(np.linspace(0.0, 0.8, 40), (32, 1))
    assert metrics.sad(true + 0.2, true) > 0.2
    assert metrics.gradient_error(true + 0.2, true) == pytest.approx(0.0, abs=1e-12)


def test_gradient_error_grows_with_the_square_of_a_spurious_edge():
    flat = np.zeros((32, 40))
    faint = soft_edge() * 0.25
    strong = soft_edge() * 0.5
    assert metrics.gradient_error(faint, flat) > 0.0
    assert metrics.gradient_error(strong, flat) == pytest.approx(4.0 * metrics.gradient_error(faint, flat))


def test_gradient_kernels_are_the_composition_1k_sigma_1_4_filter():
    smooth, derivative = metrics.gaussian_derivative_kernels(1.4)
    assert smooth.shape == derivative.shape == (9,)  # half-width ceil(1.4 sqrt(-2 ln(sqrt(2 pi) 1.4 0.01))) = 4
    assert np.linalg.norm(np.outer(smooth, derivative)) == pytest.approx(1.0)
    assert derivative == pytest.approx(-derivative[::-1])
    assert smooth == pytest.approx(smooth[::-1])


def test_connectivity_forgives_a_small_error_on_the_subject_but_penalises_it_on_a_detached_blob():
    true = np.zeros((40, 40))
    true[5:25, 5:25] = 1.0  # the subject
    true[32:34, 32:34] = 1.0  # a detached blob of 4 pixels
    on_subject = true.copy()
    on_subject[14:16, 14:16] = 0.95
    on_blob = true.copy()
    on_blob[32:34, 32:34] = 0.95
    assert metrics.sad(on_subject, true) == pytest.approx(metrics.sad(on_blob, true))
    assert metrics.connectivity_error(on_subject, true) == pytest.approx(0.0)
    # detached: level 0, so phi = 1 - 0.95 against 1 - 1 on each of the 4 pixels
    assert metrics.connectivity_error(on_blob, true) == pytest.approx(4 * 0.05 / 1000)
    away_from_blob = np.ones_like(true, dtype=bool)
    away_from_blob[30:, 30:] = False
    assert metrics.connectivity_error(on_blob, true, mask=away_from_blob) == 0.0


def test_foreground_error_is_premultiplied_mse_over_pixels_with_true_alpha():
    alpha = soft_edge()
    true = np.ones(alpha.shape + (3,)) * alpha[..., None]
    pred = true + 0.1 * (alpha > 0)[..., None]  # 0.1 off wherever the subject is
    pred[:, :5] = 7.0  # garbage where the true alpha is 0 does not count
    assert metrics.foreground_error(pred, true, alpha) == pytest.approx(0.01 * 1000)


def test_dtssd_is_zero_for_an_error_that_holds_still_over_time():
    truth = [soft_edge(edge=e) for e in (18, 19, 20, 21)]
    pred = [t + 0.1 for t in truth]
    assert metrics.dtssd(pred, truth) == pytest.approx(0.0)


def test_dtssd_measures_flicker_as_the_rms_of_the_change_error_times_100():
    truth = [soft_edge() for _ in range(4)]
    pred = [t + (0.05 if i % 2 else -0.05) for i, t in enumerate(truth)]
    # each step changes by +-0.1 where the truth does not change: rms 0.1, x 100
    assert metrics.dtssd(pred, truth) == pytest.approx(10.0)


def test_messddt_is_zero_for_a_steady_error_and_measures_one_that_comes_and_goes():
    truth = [soft_edge() for _ in range(3)]
    assert metrics.messddt([t + 0.1 for t in truth], truth) == pytest.approx(0.0)
    blinking = [truth[0] + 0.1, truth[1], truth[2] + 0.1]
    # squared error jumps between 0.01 and 0 on every pixel: mean 0.01, x 1000
    assert metrics.messddt(blinking, truth) == pytest.approx(10.0)


def test_messddt_with_flow_follows_an_error_that_moves_with_the_subject():
    def square(x: int) -> np.ndarray:
        alpha = np.zeros((32, 40))
        alpha[10:20, x:x + 10] = 1.0
        return alpha

    truth = [square(10), square(11), square(12)]
    pred = [t.copy() for t in truth]
    for x, p in zip((10, 11, 12), pred):
        p[10:20, x + 10] = 0.5  # a halo on the right edge that travels with the subject
    backward = np.zeros((32, 40, 2))
    backward[..., 0] = -1.0  # each pixel of frame t was one pixel to the left in frame t-1
    assert metrics.messddt(pred, truth) > 0.0
    assert metrics.messddt(pred, truth, flow=[backward, backward]) == pytest.approx(0.0, abs=1e-9)


def test_temporal_metrics_need_two_frames_of_matching_count():
    with pytest.raises(ValueError, match="at least 2 frames"):
        metrics.dtssd([soft_edge()], [soft_edge()])
    with pytest.raises(ValueError, match="pred has 2 frames, true has 3"):
        metrics.messddt([soft_edge()] * 2, [soft_edge()] * 3)


def test_shapes_that_differ_are_refused():
    with pytest.raises(ValueError, match="differs"):
        metrics.sad(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"\(H, W\) alpha"):
        metrics.mse(np.zeros((4, 4, 1)), np.zeros((4, 4, 1)))


def test_unknown_band_is_the_soft_edge_dilated_by_the_radius():
    band = metrics.trimap_unknown(soft_edge(edge=20), radius=2)
    columns = np.flatnonzero(band.all(axis=0))
    assert columns.tolist() == [18, 19, 20, 21, 22]
    assert band.sum() == 5 * 32
    assert not metrics.trimap_unknown(np.round(soft_edge()), radius=5).any()  # a hard matte has no band


def test_unknown_from_trimap_reads_float_and_8_bit_grey():
    trimap = np.array([[0.0, 0.5, 1.0, 128 / 255, 127 / 255]])
    assert metrics.unknown_from_trimap(trimap).tolist() == [[False, True, False, True, True]]


def test_grad_and_conn_are_finite_and_positive_on_a_noisy_1024_pixel_frame():
    rng = np.random.default_rng(0)
    true = rng.random((1024, 1024))
    pred = np.clip(true + 0.05 * rng.standard_normal(true.shape), 0.0, 1.0)
    for name, fn in (("grad", metrics.gradient_error), ("conn", metrics.connectivity_error)):
        value = fn(pred, true)
        assert np.isfinite(value) and value > 0.0, name


def test_image_scores_per_region_equal_the_single_metrics_with_that_mask():
    rng = np.random.default_rng(2)
    true = soft_edge(48, 64, 30)
    pred = np.clip(true + 0.1 * rng.standard_normal(true.shape), 0.0, 1.0)
    band = metrics.trimap_unknown(true, radius=3)
    scores = metrics.image_scores(pred, true, {"whole": None, "unknown": band})
    for region, mask in (("whole", None), ("unknown", band)):
        assert scores[region] == pytest.approx({
            "sad": metrics.sad(pred, true, mask),
            "mse": metrics.mse(pred, true, mask),
            "grad": metrics.gradient_error(pred, true, mask),
            "conn": metrics.connectivity_error(pred, true, mask),
        })
    assert scores["unknown"]["sad"] < scores["whole"]["sad"]
