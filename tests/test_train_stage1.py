"""Specification of stage-1 training: exact resume, checkpoints and logs, `bgmatte train` and export."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch

from bgmatte.cli import main
from bgmatte.data.generate import generate_bank
from bgmatte.model import CONFIGS, Generator, create_model, load_weights, save_weights
from bgmatte.train.checkpoint import load_checkpoint
from bgmatte.train.stage1 import RUNNING_STATS_MOMENTUM, Stage1Settings, _new_model, _Trainer, train_stage1


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bank")
    generate_bank(root, seed=2, elements=4, plates=2, photos=False, element_size=80, plate_size=80)
    return root


def _settings(bank: Path) -> Stage1Settings:
    return Stage1Settings(data=[str(bank)], config="tiny", seed=3, batch=2, crop=32, lr=1e-3, workers=0,
                          log_every=1, validation_samples=2)


def test_resumed_training_equals_uninterrupted_training(bank: Path, tmp_path: Path) -> None:
    straight = train_stage1(tmp_path / "straight", _settings(bank), max_steps=4)
    train_stage1(tmp_path / "halves", _settings(bank), max_steps=2)
    resumed = train_stage1(tmp_path / "halves", None, resume=True, max_steps=4)
    assert (straight.step, straight.data_position) == (resumed.step, resumed.data_position) == (4, 8)
    first = load_checkpoint(tmp_path / "straight")
    second = load_checkpoint(tmp_path / "halves")
    for name, tensor in first["model"].items():
        torch.testing.assert_close(second["model"][name], tensor, rtol=1e-5, atol=1e-6, msg=name)
    for key, state in first["optimizer"]["state"].items():
        torch.testing.assert_close(second["optimizer"]["state"][key]["exp_avg"], state["exp_avg"], rtol=1e-5, atol=1e-7)
    assert straight.losses == pytest.approx(resumed.losses, rel=1e-4)


def test_training_changes_the_model_and_checkpoints_everything_needed_to_resume(bank: Path, tmp_path: Path) -> None:
    train_stage1(tmp_path, _settings(bank), max_steps=3)
    state = load_checkpoint(tmp_path)
    assert state["step"] == 3 and state["data_position"] == 6
    assert {"model", "optimizer", "torch_rng", "settings", "seconds", "model_config"} <= set(state)
    assert state["settings"]["config"] == "tiny" and state["settings"]["data"] == [str(bank)]
    untrained = create_model("tiny", device="cpu").state_dict()
    assert any(not torch.equal(untrained[name], tensor) for name, tensor in state["model"].items()
               if tensor.is_floating_point())


def test_a_sigterm_checkpoints_after_the_step_in_progress_and_resume_goes_on_from_there(
        bank: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_step = _Trainer._step

    def terminated_during_the_second(trainer: _Trainer, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        if trainer.step == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # what `kill` and a farm manager send
        return real_step(trainer, batch)

    monkeypatch.setattr(_Trainer, "_step", terminated_during_the_second)
    stopped = train_stage1(tmp_path, _settings(bank), max_steps=5)
    assert stopped.step == 2 and load_checkpoint(tmp_path)["step"] == 2
    monkeypatch.setattr(_Trainer, "_step", real_step)
    assert train_stage1(tmp_path, None, resume=True, max_steps=4).step == 4


def test_log_has_one_json_line_per_interval_with_step_losses_and_seconds(bank: Path, tmp_path: Path) -> None:
    train_stage1(tmp_path, _settings(bank), max_steps=3)
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    steps = [record for record in records if "losses" in record]
    assert [record["step"] for record in steps] == [1, 2, 3]
    assert set(steps[0]["losses"]) == {"alpha", "alpha_gradient", "composition", "foreground", "alpha_band", "total"}
    assert all(record["seconds"] >= 0 for record in records)
    assert "validation" in records[-1] and records[-1]["step"] == 3


def test_a_new_run_refuses_a_folder_that_holds_a_checkpoint(bank: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    train_stage1(tmp_path, _settings(bank), max_steps=1)
    code = main(["train", "--data", str(bank), "--out", str(tmp_path), "--config", "tiny", "--steps", "2"])
    assert code == 2
    assert "already holds a checkpoint" in capsys.readouterr().err


def test_train_command_trains_resumes_and_exports_weights_end_to_end(bank: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    common = ["--out", str(run), "--crop", "32", "--batch", "2", "--workers", "0", "--log-every", "1"]
    assert main(["train", "--data", str(bank), "--config", "tiny", "--steps", "2", *common]) == 0
    assert main(["train", "--resume", "--steps", "3", "--out", str(run)]) == 0
    assert load_checkpoint(run)["step"] == 3
    weights = tmp_path / "weights.pt"
    assert main(["train", "--out", str(run), "--export", str(weights)]) == 0
    config, _, provenance = load_weights(weights)
    assert config.base_width == 4
    assert provenance["training"]["steps"] == 3 and provenance["command"].startswith("bgmatte train")
    assert provenance["data"][0]["recipe"]["seed"] == 2 and provenance["licence"]
    model = create_model(str(weights), device="cpu")
    alpha, fg = model(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32), torch.zeros(1, 1, 32, 32),
                      torch.zeros(1, 4, 32, 32))
    assert alpha.shape == (1, 1, 32, 32) and fg.shape == (1, 3, 32, 32)


def test_the_band_loss_weight_is_a_setting_a_resume_may_change_and_the_log_records(bank: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    common = ["--out", str(run), "--crop", "32", "--batch", "2", "--workers", "0", "--log-every", "1"]
    assert main(["train", "--data", str(bank), "--config", "tiny", "--steps", "1", *common]) == 0
    assert load_checkpoint(run)["settings"]["loss_weights"]["band_alpha"] == 0.0
    assert main(["train", "--resume", "--steps", "2", "--band-loss", "0.5", "--out", str(run)]) == 0
    weights = load_checkpoint(run)["settings"]["loss_weights"]
    assert weights["band_alpha"] == 0.5 and weights["alpha_gradient"] == 2.0  # the other weights stay
    lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    change = next(line for line in lines if "settings_changed" in line)
    assert change["step"] == 1 and change["settings_changed"]["loss_weights"][1]["band_alpha"] == 0.5
    assert all("alpha_band" in line["losses"] for line in lines if "losses" in line)


def test_a_run_grown_from_weights_starts_from_them_with_the_new_inputs_at_zero(bank: Path, tmp_path: Path) -> None:
    source = Generator(CONFIGS["small"])
    weights = save_weights(tmp_path / "small.pt", source, {"note": "test"})
    settings = Stage1Settings(data=[str(bank)], config="detail", seed=3, batch=1, crop=32, lr=1e-9, workers=0,
                              log_every=1, validation_samples=1, init_from=str(weights))
    train_stage1(tmp_path / "run", settings, max_steps=1)
    state = load_checkpoint(tmp_path / "run")
    assert state["settings"]["init_from"] == str(weights)
    old = source.state_dict()
    grown = state["model"]["alpha_head.upsample.0.conv.0.weight"]
    before = old["alpha_head.upsample.0.conv.0.weight"]
    torch.testing.assert_close(grown[:, :before.shape[1]], before, rtol=0, atol=1e-6)
    assert grown[:, before.shape[1]:].abs().max() < 1e-6
    torch.testing.assert_close(state["model"]["image_encoder.stem.0.weight"], old["image_encoder.stem.0.weight"],
                               rtol=0, atol=1e-6)


def test_init_from_weights_that_do_not_fit_is_a_one_line_error(bank: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    weights = save_weights(tmp_path / "tiny.pt", Generator(CONFIGS["tiny"]), {"note": "test"})
    code = main(["train", "--data", str(bank), "--out", str(tmp_path / "run"), "--config", "detail",
                 "--init-from", str(weights), "--crop", "32", "--steps", "1"])
    assert code == 2
    assert "bgmatte: error: --init-from:" in capsys.readouterr().err


def test_unknown_config_is_a_one_line_error(bank: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--data", str(bank), "--out", str(tmp_path / "run"), "--config", "huge"]) == 2
    assert "bgmatte: error: --config: unknown config 'huge'" in capsys.readouterr().err


def test_inference_statistics_are_a_long_running_average_not_the_last_few_batches() -> None:
    # One batch of extreme plates must not be able to reset what inference normalises with.
    norms = [m for m in _new_model("tiny", torch.device("cpu")).modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(m.momentum == RUNNING_STATS_MOMENTUM <= 0.01 for m in norms)
