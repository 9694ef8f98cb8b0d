"""Specification of the learned full-resolution refiner: where it runs, what it may change, how it is
trained, resumed and shipped, and that the exported graph gives the core's pixels."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bgmatte.data.generate import generate_bank
from bgmatte.model import create_model, load_weights, save_weights
from bgmatte.model.config import GeneratorConfig
from bgmatte.model.generator import Generator
from bgmatte.model.refiner import HALO, PATCH, PatchRefiner
from bgmatte.pipeline import FrameInputs, matte_arrays
from bgmatte.refine import learned
from bgmatte.refine.learned import DenseRefiner, refine_patches, select_patches
from bgmatte.train.checkpoint import load_checkpoint
from bgmatte.train.refiner import RefinerSettings, export_with_refiner, train_refiner

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def disc_case(height: int = 70, width: int = 101, seed: int = 0):
    """A soft-edged disc (fractional ring) with random frame, plate and low-resolution network outputs."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    alpha = np.clip((height * 0.4 - np.hypot(rows - height / 2, cols - width / 2)) / 6.0, 0.0, 1.0)
    frame = rng.uniform(0.0, 2.0, (height, width, 3)).astype(np.float32)
    plate = rng.uniform(0.0, 2.0, (height, width, 3)).astype(np.float32)
    low = (height // 4, width // 4)
    return (alpha.astype(np.float32), frame, plate, rng.uniform(0, 1, low).astype(np.float32),
            rng.uniform(0, 1, (*low, 3)).astype(np.float32))


def random_refiner(width: int = 6, seed: int = 1) -> PatchRefiner:
    """A refiner with non-zero weights everywhere (an untrained one changes nothing)."""
    refiner = PatchRefiner(width).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in refiner.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    return refiner


def as_tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x).permute(2, 0, 1)[None] if x.ndim == 3 else torch.from_numpy(x)[None, None]


def test_patches_are_the_tiles_that_hold_a_fractional_pixel():
    alpha = np.zeros((40, 50), np.float32)
    alpha[20:, :] = 1.0
    alpha[5, 37] = 0.5  # tile (0, 32)
    alpha[33, 2] = 0.99  # tile (32, 0); 0.999 would count as solid
    assert sorted(map(tuple, select_patches(alpha))) == [(0, 32), (32, 0)]
    assert len(select_patches(np.ones((40, 50), np.float32))) == 0


def test_an_untrained_refiner_returns_the_analytic_alpha():
    alpha, frame, plate, alpha_low, fg_low = disc_case()
    refined = refine_patches(PatchRefiner(8).eval(), alpha.copy(), frame, plate, alpha_low, fg_low)
    np.testing.assert_array_equal(refined, alpha)


def test_only_patches_with_fractional_alpha_change():
    alpha, frame, plate, alpha_low, fg_low = disc_case()
    refined = refine_patches(random_refiner(), alpha.copy(), frame, plate, alpha_low, fg_low)
    touched = np.zeros(alpha.shape, bool)
    for top, left in select_patches(alpha):
        touched[top:top + PATCH, left:left + PATCH] = True
    assert not np.array_equal(refined[touched], alpha[touched])
    np.testing.assert_array_equal(refined[~touched], alpha[~touched])
    assert refined.min() >= 0.0 and refined.max() <= 1.0


def test_it_does_not_run_where_the_working_image_already_holds_the_detail():
    alpha, frame, plate, _, _ = disc_case()
    rng = np.random.default_rng(5)
    near_full = (alpha.shape[0] * 2 // 3, alpha.shape[1] * 2 // 3)  # 1.5x: below MIN_RATIO
    refined = refine_patches(random_refiner(), alpha.copy(), frame, plate, rng.uniform(0, 1, near_full).astype(np.float32),
                             rng.uniform(0, 1, (*near_full, 3)).astype(np.float32))
    np.testing.assert_array_equal(refined, alpha)


def test_a_patch_sees_only_the_analytic_alpha_whatever_the_chunking(monkeypatch):
    alpha, frame, plate, alpha_low, fg_low = disc_case()
    refiner = random_refiner()
    whole = refine_patches(refiner, alpha.copy(), frame, plate, alpha_low, fg_low)
    monkeypatch.setattr(learned, "PATCHES_AT_ONCE", 3)
    np.testing.assert_array_equal(refine_patches(refiner, alpha.copy(), frame, plate, alpha_low, fg_low), whole)


def test_the_scripted_whole_frame_refiner_gives_the_patches_pixels():
    alpha, frame, plate, alpha_low, fg_low = disc_case(height=45, width=83)
    refiner = random_refiner()
    patches = refine_patches(refiner, alpha.copy(), frame, plate, alpha_low, fg_low)
    dense = torch.jit.script(DenseRefiner(refiner))
    with torch.no_grad():
        whole = dense(*(as_tensor(x) for x in (alpha, frame, plate, alpha_low, fg_low)), torch.float32)
    np.testing.assert_allclose(whole[0, 0].numpy(), patches, atol=1e-5)


def test_the_halo_is_the_receptive_field():
    refiner = random_refiner()
    raw = torch.rand(1, 11, PATCH + 2 * HALO, PATCH + 2 * HALO)
    with torch.no_grad():
        assert refiner(raw).shape == (1, 1, PATCH, PATCH)


def test_a_weights_file_carries_the_refiner_and_older_files_have_none(tmp_path):
    config = GeneratorConfig.from_dict({**create_model("tiny").config.to_dict(), "refiner_width": 6})
    model = Generator(config).eval()
    model.refiner.load_state_dict(random_refiner().state_dict())
    path = save_weights(tmp_path / "with_refiner.pt", model, {"note": "test"})
    loaded = create_model(str(path), device="cpu")
    assert loaded.config.refiner_width == 6
    for name, value in model.refiner.state_dict().items():
        torch.testing.assert_close(loaded.refiner.state_dict()[name], value)
    plain = save_weights(tmp_path / "plain.pt", create_model("tiny"), {"note": "test"})
    config_plain, state, _ = load_weights(plain)
    assert config_plain.refiner_width == 0 and not any(name.startswith("refiner.") for name in state)
    assert create_model(str(plain), device="cpu").refiner is None


def test_the_pipeline_runs_the_models_refiner(shot_dir):
    from conftest import read_exr

    frame = read_exr(shot_dir / "frame.1001.exr")[0][..., :3]
    plate = read_exr(shot_dir / "clean.exr")[0][..., :3]
    tiny = create_model("tiny", device="cpu")
    small_working = {**tiny.config.to_dict(), "working_size": 32}  # the sample frames are 96 px wide: 3x
    base = Generator(GeneratorConfig.from_dict(small_working)).eval()
    base.load_state_dict(tiny.state_dict())
    with_refiner = Generator(GeneratorConfig.from_dict({**small_working, "refiner_width": 6})).eval()
    with_refiner.load_state_dict({**tiny.state_dict(),
                                  **{f"refiner.{k}": v for k, v in random_refiner().state_dict().items()}})
    inputs = FrameInputs(frame=frame, plate=plate)
    plain = matte_arrays(base, inputs).alpha
    refined = matte_arrays(with_refiner, inputs).alpha
    assert refined.shape == plain.shape and np.abs(refined - plain).max() > 0.01


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("refiner_bank") / "bank"
    generate_bank(root, seed=3, elements=3, plates=2, photos=False, element_size=80, plate_size=96)
    return root


def small_run(bank: Path) -> RefinerSettings:
    return RefinerSettings(data=[str(bank)], generator="tiny", width=4, batch=2, patches_per_sample=8, sizes=[6, 8],
                           workers=0, log_every=1, validation_samples=2, checkpoint_minutes=60.0)


def test_training_resumes_exactly_and_ships_generator_and_refiner_as_one_file(bank, tmp_path):
    straight = tmp_path / "straight"
    train_refiner(straight, small_run(bank), max_steps=4)
    split = tmp_path / "split"
    train_refiner(split, small_run(bank), max_steps=2)
    train_refiner(split, None, resume=True, max_steps=4)
    one, two = load_checkpoint(straight), load_checkpoint(split)
    assert one["data_position"] == two["data_position"] == 8
    for name, value in one["model"].items():
        torch.testing.assert_close(two["model"][name], value)
    records = [json.loads(line) for line in (straight / "log.jsonl").read_text().splitlines()]
    validation = [r["validation"] for r in records if "validation" in r][-1]
    assert {"l1", "gradient", "analytic_l1"} <= set(validation)

    shipped = export_with_refiner(straight, tmp_path / "shipped.pt")
    model = create_model(str(shipped), device="cpu")
    assert model.config.refiner_width == 4 and model.config.working_size == create_model("tiny").config.working_size
    for name, value in one["model"].items():
        torch.testing.assert_close(model.refiner.state_dict()[name], value)
    _, _, provenance = load_weights(shipped)
    assert provenance["refiner"]["steps"] == 4


def test_a_new_run_refuses_a_folder_with_a_checkpoint(bank, tmp_path):
    from bgmatte.errors import InputError

    train_refiner(tmp_path / "run", small_run(bank), max_steps=1)
    with pytest.raises(InputError, match="already holds a checkpoint"):
        train_refiner(tmp_path / "run", small_run(bank), max_steps=2)


def test_a_new_run_can_start_from_another_runs_refiner(bank, tmp_path):
    from dataclasses import replace

    train_refiner(tmp_path / "first", small_run(bank), max_steps=2)
    train_refiner(tmp_path / "second", replace(small_run(bank), init_from=str(tmp_path / "first"), sizes=[8, 9],
                                               supersample=1, ratios=[2.0, 3.0]), max_steps=0)
    first, second = load_checkpoint(tmp_path / "first"), load_checkpoint(tmp_path / "second")
    for name, value in first["model"].items():
        torch.testing.assert_close(second["model"][name], value)
    assert second["settings"]["init_from"] == str(tmp_path / "first")


def test_a_resume_drops_log_lines_past_its_checkpoint_and_logs_what_it_changed(bank, tmp_path):
    run = tmp_path / "run"
    train_refiner(run, small_run(bank), max_steps=2)
    with open(run / "log.jsonl", "a") as stream:  # what a run killed after its checkpoint leaves
        stream.write(json.dumps({"step": 3, "losses": {"l1": 9.0}}) + "\n")
    train_refiner(run, None, resume=True, max_steps=2, overrides={"lr": 5e-4})
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert all(record["step"] <= 2 for record in records)
    assert {"step": 2, "settings_changed": {"lr": [1e-3, 5e-4]}} in records
