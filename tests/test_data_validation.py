"""The held-out validation set: deterministic, disjoint from training, perturbed like a real capture."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from bgmatte.cli import main
from bgmatte.data.exr import read_exr
from bgmatte.data.generate import item_rng
from bgmatte.data.plates import generate_plate
from bgmatte.data.validation import (ELEMENT_STREAM, PLATE_STREAM, SHOT_STREAM, ValidationRecipe,
                                     generate_validation, load_validation)

SMALL = ValidationRecipe(seed=1000, size=64, stills=2, sequences=1, sequence_frames=3, tune_stills=1,
                         tune_sequences=0)


def _pixels(folder: Path) -> dict[str, np.ndarray]:
    channels = {"frame": ("R", "G", "B"), "clean": ("R", "G", "B"), "alpha": ("Y",)}
    return {str(p.relative_to(folder)): read_exr(p, channels[p.name.split(".")[0]])
            for p in sorted(folder.rglob("*.exr"))}


def test_the_same_recipe_writes_the_same_files(tmp_path: Path) -> None:
    generate_validation(tmp_path / "a", SMALL)
    generate_validation(tmp_path / "b", SMALL)
    a, b = _pixels(tmp_path / "a"), _pixels(tmp_path / "b")
    assert sorted(a) == sorted(b) and len(a) == 2 * 3 + 3 * 2 + 1
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert [s.params for s in load_validation(tmp_path / "a")] == [s.params for s in load_validation(tmp_path / "b")]


def test_validation_streams_are_not_the_training_bank_streams_so_no_plate_is_shared(tmp_path: Path) -> None:
    # A training bank draws element i from item_rng(seed, 0, i) and plate i from item_rng(seed, 1, i).
    assert {ELEMENT_STREAM, PLATE_STREAM, SHOT_STREAM}.isdisjoint({0, 1})
    training = [generate_plate(item_rng(1, 1, i), 64)[0] for i in range(20)]
    held_out = [generate_plate(item_rng(1000, PLATE_STREAM, i), 64)[0] for i in range(3)]
    same_seed = [generate_plate(item_rng(1, PLATE_STREAM, i), 64)[0] for i in range(3)]
    for plate in held_out + same_seed:
        assert all(not np.allclose(plate, other, atol=1e-3) for other in training)


def test_the_split_puts_tuning_shots_apart_from_test_shots(tmp_path: Path) -> None:
    generate_validation(tmp_path, SMALL)
    shots = load_validation(tmp_path)
    assert [(s.split, len(s.frames)) for s in shots] == [("tune", 1), ("test", 1), ("test", 3)]
    for shot in shots:
        assert (tmp_path / shot.plate).is_file()
        assert all((tmp_path / shot.frame.replace("####", f"{n:04d}")).is_file() for n in shot.frames)
        assert (tmp_path / shot.frame).parent.parent.name == shot.split


def test_the_plate_is_a_separate_noisy_drifted_shifted_pass(tmp_path: Path) -> None:
    generate_validation(tmp_path, SMALL)
    for shot in load_validation(tmp_path):
        assert 0.01 <= abs(shot.params["exposure_drift"]) <= 0.04
        assert 0.2 <= float(np.hypot(*shot.params["plate_shift_px"])) <= 0.7 + 1e-9
        frame = read_exr(tmp_path / shot.frame.replace("####", f"{shot.frames[0]:04d}"), ("R", "G", "B"))
        alpha = read_exr(tmp_path / shot.alpha.replace("####", f"{shot.frames[0]:04d}"), ("Y",))[..., 0]
        plate = read_exr(tmp_path / shot.plate, ("R", "G", "B"))
        background = alpha == 0
        assert background.mean() > 0.1 and 0 < (alpha[~background] < 1).mean()
        residual = (frame - plate)[background]
        assert residual.std() > 1e-4


def test_data_validation_command_writes_an_index_and_refuses_big_frames(tmp_path: Path, capsys) -> None:
    assert main(["data", "--validation", "--out", str(tmp_path / "v"), "--size", "64",
                 "--stills", "3", "--sequences", "0"]) == 0
    index = json.loads((tmp_path / "v" / "index.json").read_text())
    assert index["format"] == "bgmatte-validation" and index["recipe"]["seed"] == 1000
    assert [s["split"] for s in index["shots"]] == ["tune", "test", "test"]
    assert main(["data", "--validation", "--out", str(tmp_path / "w"), "--size", "1024"]) == 2
    assert "bgmatte: error: --size: must be 64 to 512 pixels" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_element_alpha_is_fractional_at_edges(tmp_path: Path) -> None:
    generate_validation(tmp_path, ValidationRecipe(size=64, stills=1, sequences=0))
    alpha = read_exr(tmp_path / "tune" / "still_000_hair" / "alpha.1001.exr", ("Y",))[..., 0]
    assert ((alpha > 0.02) & (alpha < 0.98)).sum() > 20
