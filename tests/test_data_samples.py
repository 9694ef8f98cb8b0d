"""Specification of stage-1 samples: composed from banks, deterministic per (seed, index), physically consistent."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bgmatte.color.encoding import decode_from_network
from bgmatte.data.bank import open_bank
from bgmatte.data.compose import SUPERSAMPLE, _background_change, draw_scene, training_sample
from bgmatte.data.dataset import SampleDataset, batch_stream, open_banks
from bgmatte.data.exr import write_exr
from bgmatte.data.generate import generate_bank
from bgmatte.errors import InputError

CROP = 32


@pytest.fixture(scope="module")
def banks(tmp_path_factory: pytest.TempPathFactory) -> list:
    root = tmp_path_factory.mktemp("bank")
    generate_bank(root, seed=11, elements=4, plates=2, photos=False, element_size=96, plate_size=96)
    return [open_bank(root)]


def test_key_frame_obeys_the_compositing_equation_in_linear_light(banks: list) -> None:
    for index in range(6):
        scene = draw_scene(banks, np.random.default_rng([3, index]), CROP * SUPERSAMPLE)
        expected = scene.premult + (1.0 - scene.alpha[..., None]) * scene.background
        np.testing.assert_allclose(scene.frame, expected, rtol=1e-5, atol=1e-6)
        assert scene.alpha.min() >= 0.0 and scene.alpha.max() <= 1.0
        assert scene.neighbours.shape == (4, CROP, CROP, 3)


def test_cast_shadows_darken_the_background_where_the_alpha_stays_zero(banks: list) -> None:
    shadowed = 0
    for index in range(20):
        scene = draw_scene(banks, np.random.default_rng([6, index]), CROP * SUPERSAMPLE)
        plate_sum, background_sum = scene.plate.sum(axis=2), scene.background.sum(axis=2)
        assert (background_sum <= plate_sum * (1 + 1e-5) + 1e-7).all(), "a shadow only darkens"
        lit = plate_sum > 1e-3
        darkening = 1.0 - background_sum / np.where(lit, plate_sum, 1.0)
        outside_subject = (darkening > 0.1) & lit & (scene.alpha == 0.0)
        shadowed += bool(outside_subject.sum() > 4)
    assert shadowed >= 3


def test_a_good_share_of_scenes_are_close_ups_whose_subject_fills_half_the_frame_or_more(banks: list) -> None:
    coverages = [draw_scene(banks, np.random.default_rng([8, index]), CROP * SUPERSAMPLE).alpha.mean()
                 for index in range(40)]
    close_ups = np.mean(np.array(coverages) >= 0.5)
    assert 0.15 <= close_ups <= 0.5, coverages
    assert np.mean(np.array(coverages) < 0.3) >= 0.4  # most scenes still show much of the plate


def test_sample_has_the_network_inputs_and_targets_at_the_crop_size(banks: list) -> None:
    sample = training_sample(banks, seed=0, index=0, crop=CROP)
    shapes = {name: value.shape for name, value in sample.items()}
    assert shapes == {"image": (CROP, CROP, 3), "image_clean": (CROP, CROP, 3), "plate": (CROP, CROP, 3),
                      "background": (CROP, CROP, 3), "fg": (CROP, CROP, 3), "motion": (CROP, CROP, 4),
                      "seg": (CROP, CROP), "alpha": (CROP, CROP)}
    for name, value in sample.items():
        assert value.dtype == np.float32 and np.isfinite(value).all(), name
    assert 0.0 <= sample["seg"].min() and sample["seg"].max() <= 1.0


def test_clean_sample_is_close_to_the_compositing_equation_after_downsampling(banks: list) -> None:
    # Area averaging keeps I = P + (1 - A) B up to the covariance of A and B inside a 2x2 block.
    for index in range(4):
        sample = training_sample(banks, seed=1, index=index, crop=CROP)
        alpha = sample["alpha"][..., None]
        composite = alpha * decode_from_network(sample["fg"]) + (1 - alpha) * decode_from_network(sample["background"])
        error = np.abs(composite - decode_from_network(sample["image_clean"]))
        assert np.median(error) < 1e-4 and np.quantile(error, 0.99) < 0.05 * max(1.0, composite.max())


def test_same_seed_and_index_give_identical_samples_and_other_seeds_differ(banks: list) -> None:
    first = training_sample(banks, seed=4, index=9, crop=CROP)
    again = training_sample(banks, seed=4, index=9, crop=CROP)
    other_seed = training_sample(banks, seed=5, index=9, crop=CROP)
    other_index = training_sample(banks, seed=4, index=10, crop=CROP)
    for name in first:
        np.testing.assert_array_equal(first[name], again[name])
    assert not np.array_equal(first["image"], other_seed["image"])
    assert not np.array_equal(first["image"], other_index["image"])


def test_the_network_plate_is_perturbed_not_the_true_background(banks: list) -> None:
    differs = [not np.allclose(s["plate"], s["background"], atol=1e-4)
               for s in (training_sample(banks, seed=2, index=i, crop=CROP) for i in range(6))]
    assert any(differs)


def test_batches_from_a_position_match_the_samples_at_that_position(banks: list) -> None:
    dataset = SampleDataset(banks, seed=3, crop=CROP)
    batch = next(batch_stream(dataset, position=5, batch_size=2, workers=0))
    assert batch["image"].shape == (2, 3, CROP, CROP) and batch["alpha"].shape == (2, 1, CROP, CROP)
    np.testing.assert_array_equal(batch["image"][1].permute(1, 2, 0).numpy(), dataset[6]["image"])


def test_rendered_elements_with_sequence_and_shadow_pair_are_used(tmp_path: Path) -> None:
    size = 64
    yy, xx = np.mgrid[0:size, 0:size]
    names = []
    for frame in range(5):
        alpha = np.clip(12.0 - np.hypot(yy - 32, xx - 20 - 4 * frame), 0, 1).astype(np.float32)
        rgba = np.dstack([alpha[..., None] * np.array([0.5, 0.2, 0.1], np.float32), alpha])
        names.append(f"elements/ball.f{frame}.exr")
        write_exr(tmp_path / names[-1], rgba, ("R", "G", "B", "A"))
    plate = np.full((size, size, 3), 0.3, np.float32)
    shadowed = plate * np.where(np.hypot(yy - 50, xx - 30) < 10, 0.4, 1.0)[..., None].astype(np.float32)
    write_exr(tmp_path / "shadows/ball.plate.exr", plate, ("R", "G", "B"))
    write_exr(tmp_path / "shadows/ball.shadow.exr", shadowed, ("R", "G", "B"))
    write_exr(tmp_path / "plates/grey.exr", plate, ("R", "G", "B"))
    index = {"format": "bgmatte-bank", "version": 1, "colorspace": "ACEScg", "alpha": "premultiplied",
             "recipe": {"generator": "test"},
             "elements": [{"id": "ball", "file": names[2], "kind": "render", "sequence": names,
                           "shadow": {"plate_with_shadow": "shadows/ball.shadow.exr", "plate": "shadows/ball.plate.exr"},
                           "licence": "CC0-1.0", "provenance": {"generator": "test"}}],
             "plates": [{"id": "grey", "file": "plates/grey.exr", "kind": "procedural", "licence": "CC0-1.0",
                         "provenance": {"generator": "test"}}]}
    (tmp_path / "index.json").write_text(json.dumps(index))
    bank = open_banks([tmp_path])
    assert bank[0].elements[0].sequence is not None and bank[0].elements[0].shadow is not None
    samples = [training_sample(bank, seed=0, index=i, crop=CROP) for i in range(8)]
    assert all(np.isfinite(s["motion"]).all() and s["alpha"].max() > 0 for s in samples)


def test_element_banks_are_drawn_by_their_weight(tmp_path: Path) -> None:
    from bgmatte.data.compose import _choose_element

    for name, weight in (("usual", 1.0), ("films", 0.25)):
        generate_bank(tmp_path / name, seed=3, elements=2, plates=1, photos=False, element_size=32, plate_size=32,
                      kinds=("film",) if name == "films" else (), weight=weight)
    banks = open_banks([tmp_path / "usual", tmp_path / "films"])
    rng = np.random.default_rng(0)
    films = np.mean([_choose_element(banks, rng).kind == "film" for _ in range(2000)])
    assert abs(films - 0.25 / 1.25) < 0.03


def test_a_dark_plate_scene_dims_the_plate_and_not_the_subject(banks: list, monkeypatch: pytest.MonkeyPatch) -> None:
    import bgmatte.data.compose as compose

    scenes = {}
    for chance in (0.0, 1.0):
        monkeypatch.setattr(compose, "DARK_PLATE_CHANCE", chance)
        scenes[chance] = draw_scene(banks, np.random.default_rng(4), 64)
    ratio = scenes[1.0].plate.mean() / scenes[0.0].plate.mean()
    assert compose.DARK_PLATE_LEVELS[0] <= ratio <= compose.DARK_PLATE_LEVELS[1]
    assert scenes[1.0].premult.max() > 0


def test_banks_without_elements_are_refused(tmp_path: Path) -> None:
    generate_bank(tmp_path, seed=1, elements=0, plates=1, photos=False, plate_size=64)
    with pytest.raises(InputError, match="no elements"):
        open_banks([tmp_path])


def test_a_background_change_relights_or_moves_only_part_of_the_plate() -> None:
    rng = np.random.default_rng(3)
    plate = rng.uniform(0.05, 1.0, (96, 96, 3)).astype(np.float32)
    for seed in range(8):
        changed = _background_change(np.random.default_rng(seed), plate)
        moved = np.abs(changed - plate).max(axis=2) > 1e-4
        assert changed.shape == plate.shape and changed.dtype == np.float32
        assert 0.0 < moved.mean() < 0.6, f"seed {seed}: {moved.mean():.2f} of the plate changed"


def test_some_elements_wear_the_texture_of_a_bank_photo(tmp_path: Path) -> None:
    from bgmatte.data.compose import PHOTO_TEXTURE_CHANCE, _dress, _photo_texture

    generate_bank(tmp_path, seed=12, elements=1, plates=1, photos=True, element_size=48, plate_size=48)
    banks = [open_bank(tmp_path)]
    textures = [_photo_texture(np.random.default_rng([9, i]), banks, (40, 30)) for i in range(60)]
    worn = [t for t in textures if t is not None]
    assert abs(len(worn) / len(textures) - PHOTO_TEXTURE_CHANCE) < 0.15
    assert all(t.shape == (40, 30, 3) and t.min() >= 0 and 0.5 < t.mean() < 2.0 for t in worn)
    assert max(float(t.std()) for t in worn) > 0.1  # real detail, not a flat colour

    element = np.zeros((40, 30, 4), np.float32)
    element[..., :3], element[..., 3] = 0.25, 0.5
    dressed = _dress(element, np.eye(3, dtype=np.float32), worn[0])
    np.testing.assert_array_equal(dressed[..., 3], element[..., 3])
    np.testing.assert_allclose(dressed[..., :3], 0.25 * worn[0], rtol=1e-6)
    assert _photo_texture(np.random.default_rng(0), [], (4, 4)) is None  # no photo in the banks
