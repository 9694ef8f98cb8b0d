"""Specification of stage 2 / `bgmatte finetune`: self-supervised adaptation to one unlabeled shot."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bgmatte.cli import main
from bgmatte.data.synthetic_shot import ShotRecipe, make_shot
from bgmatte.model import create_model, load_weights
from bgmatte.plan import plan_run
from bgmatte.settings import MatteSettings
from bgmatte.train.discriminator import MultiscaleDiscriminator
from bgmatte.train.finetune import FinetuneSettings, Stage2Weights, finetune, load_shot, stage2_losses


@pytest.fixture(scope="module")
def shot(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return make_shot(tmp_path_factory.mktemp("shot"), ShotRecipe(width=96, height=64, count=3, seed=5, strands=10))


def _shot_tensors(shot: dict[str, str], tmp_path: Path):
    settings = MatteSettings()
    plan = plan_run(shot["frame"], shot["clean"], str(tmp_path / "probe.####.exr"), settings)
    return load_shot(plan, settings, create_model("tiny", device="cpu").config.working_size)


def test_finetune_writes_stage2_weights_that_matte_loads(shot: dict[str, str], tmp_path: Path) -> None:
    weights = tmp_path / "models" / "shot.pt"
    code = main(["finetune", shot["frame"], "--plate", shot["clean"], "-o", str(weights), "--model", "tiny",
                 "--steps", "3", "--crop", "48", "--seed", "1", "--device", "cpu"])
    assert code == 0 and weights.is_file()
    _, _, provenance = load_weights(weights)
    assert provenance["stage"].startswith("stage 2")
    assert provenance["shot"]["input"] == shot["frame"] and provenance["shot"]["frames"] == [1001, 1002, 1003]
    assert provenance["command"].startswith("bgmatte finetune ") and "--steps 3" in provenance["command"]
    assert provenance["training"]["steps"] == 3
    assert sorted(p.name for p in weights.parent.iterdir()) == ["shot.pt"]
    out = tmp_path / "matte" / "matte.####.exr"
    assert main(["matte", shot["frame"], "--plate", shot["clean"], "-o", str(out), "--model", str(weights),
                 "--device", "cpu", "--progress", "none"]) == 0
    assert len(list(out.parent.glob("matte.*.exr"))) == 3


def test_recomposition_error_falls_after_a_few_steps_with_a_fixed_seed(shot: dict[str, str], tmp_path: Path) -> None:
    model = create_model("tiny", device="cpu")
    teacher_state = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    student, result = finetune(model, _shot_tensors(shot, tmp_path), FinetuneSettings(steps=12, seed=2, crop=48))
    assert result.steps == 12
    assert result.composition_after < 0.95 * result.composition_before
    assert not student.training
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, teacher_state[name]), f"the teacher changed: {name}"


def test_the_same_seed_gives_the_same_weights(shot: dict[str, str], tmp_path: Path) -> None:
    tensors = _shot_tensors(shot, tmp_path)
    settings = FinetuneSettings(steps=2, seed=7, crop=48)
    first, _ = finetune(create_model("tiny", device="cpu"), tensors, settings)
    second, _ = finetune(create_model("tiny", device="cpu"), tensors, settings)
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, second.state_dict()[name]), name


def test_missing_plate_is_one_error_line_exit_2_and_nothing_written(
        shot: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = tmp_path / "shot.pt"
    code = main(["finetune", shot["frame"], "--plate", str(tmp_path / "nowhere.exr"), "-o", str(weights),
                 "--model", "tiny", "--steps", "2"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert lines == [f"bgmatte: error: {tmp_path / 'nowhere.exr'}: missing plate file"]
    assert list(tmp_path.iterdir()) == []


def test_a_weights_path_without_pt_is_refused_before_training(
        shot: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["finetune", shot["frame"], "--plate", shot["clean"], "-o", str(tmp_path / "shot_model"),
                 "--model", "tiny", "--steps", "0"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert lines[0] == "bgmatte: error: --steps: must be at least 1, got 0"
    assert lines[1].startswith(f"bgmatte: error: {tmp_path / 'shot_model'}: the weights file must end in .pt")
    assert list(tmp_path.iterdir()) == []


def test_discriminator_gives_one_patch_map_per_scale() -> None:
    maps = MultiscaleDiscriminator(scales=2)(torch.rand(2, 3, 64, 48))
    assert [tuple(m.shape) for m in maps] == [(2, 1, 8, 6), (2, 1, 4, 3)]


def test_stage2_losses_are_named_terms_and_pseudo_terms_vanish_when_student_equals_teacher() -> None:
    alpha = torch.rand(1, 1, 16, 16)
    fg = torch.rand(1, 3, 16, 16)
    image = torch.rand(1, 3, 16, 16)
    terms = stage2_losses(alpha, fg, alpha, fg, image, image, [torch.ones(1, 1, 2, 2)], Stage2Weights())
    assert set(terms) == {"pseudo_alpha", "pseudo_fg", "composition", "adversarial", "total"}
    assert float(terms["pseudo_alpha"]) == 0.0 and float(terms["pseudo_fg"]) == 0.0
    assert float(terms["adversarial"]) == 0.0
    assert float(terms["total"]) == pytest.approx(float(terms["composition"]))
