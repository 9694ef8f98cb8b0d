"""Specification of the weights file: one format, round trip, and errors that name the file."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bgmatte.errors import InputError
from bgmatte.model import CONFIGS, create_model, load_weights, save_weights
from bgmatte.model.weights import FORMAT, FORMAT_VERSION

PROVENANCE = {"data": "synthetic v1, seed 3", "command": "bgmatte train --config tiny", "commit": "abc123",
              "licence": "Apache-2.0", "epochs": 2, "losses": [0.5, 0.25]}


def forward(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(5)
    data = [torch.rand(1, c, 30, 44, generator=generator) for c in (3, 3, 1, 4)]
    with torch.no_grad():
        return model(*data)


@pytest.fixture
def trained_like(tmp_path: Path) -> Path:
    """A tiny model with non-default weights and batch-norm statistics, saved to disk."""
    model = create_model("tiny", device="cpu")
    with torch.no_grad():
        for index, tensor in enumerate(model.state_dict().values()):
            if tensor.is_floating_point():
                tensor.add_(0.01 * torch.randn(tensor.shape, generator=torch.Generator().manual_seed(index)))
    return save_weights(tmp_path / "tiny_trained.pt", model, PROVENANCE)


def test_saved_file_loads_with_weights_only_and_has_the_documented_keys(trained_like):
    payload = torch.load(trained_like, weights_only=True)
    assert payload["format"] == FORMAT and payload["format_version"] == FORMAT_VERSION
    assert payload["config"] == CONFIGS["tiny"].to_dict()
    assert {"data", "command", "commit", "licence", "created", "bgmatte_version"} <= set(payload["provenance"])
    assert all(t.device.type == "cpu" for t in payload["state_dict"].values())


def test_round_trip_gives_identical_outputs_config_and_provenance(tmp_path, trained_like):
    original = create_model(str(trained_like), device="cpu")
    copy_path = save_weights(tmp_path / "copy.pt", original, original.provenance)
    copy = create_model(str(copy_path), device="cpu")
    assert copy.config == original.config == CONFIGS["tiny"]
    assert copy.provenance == original.provenance
    assert copy.provenance["licence"] == "Apache-2.0" and copy.provenance["losses"] == [0.5, 0.25]
    for a, b in zip(forward(copy), forward(original)):
        assert torch.equal(a, b)
    assert not list(tmp_path.glob(".*.tmp")), "temporary files must not be left behind"


def test_half_precision_model_is_saved_as_float32(tmp_path):
    model = create_model("tiny", device="cpu").half()
    path = save_weights(tmp_path / "half.pt", model, PROVENANCE)
    _, state_dict, _ = load_weights(path)
    assert {t.dtype for t in state_dict.values()} == {torch.float32, torch.int64}


def test_provenance_must_be_plain_types(tmp_path):
    with pytest.raises(TypeError, match="provenance.path must hold plain types"):
        save_weights(tmp_path / "m.pt", create_model("tiny", device="cpu"), {"path": Path("/x")})
    assert not list(tmp_path.iterdir())


def assert_input_error(path: Path, problem: str) -> None:
    with pytest.raises(InputError) as caught:
        load_weights(path)
    assert caught.value.subject == str(path)
    assert problem in caught.value.problem


def test_missing_file_is_named(tmp_path):
    assert_input_error(tmp_path / "nope.pt", "no such weights file")


def test_garbage_file_is_not_a_torch_file(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"this is not a checkpoint\n" * 10)
    assert_input_error(path, "not a torch weights file")


def test_truncated_file_is_not_a_torch_file(tmp_path, trained_like):
    path = tmp_path / "truncated.pt"
    path.write_bytes(trained_like.read_bytes()[:2000])
    assert_input_error(path, "not a torch weights file")


def test_torch_file_of_another_format_is_rejected(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"model": {"weight": torch.zeros(3)}}, path)
    assert_input_error(path, "not a bgmatte weights file")
    torch.save(torch.zeros(3), path)
    assert_input_error(path, "not a bgmatte weights file")


def test_newer_format_version_is_rejected(tmp_path, trained_like):
    payload = torch.load(trained_like, weights_only=True)
    payload["format_version"] = FORMAT_VERSION + 1
    path = tmp_path / "future.pt"
    torch.save(payload, path)
    assert_input_error(path, f"weights format version {FORMAT_VERSION + 1} is not supported")


def test_format_version_1_from_before_the_alpha_head_change_is_rejected_with_the_remedy(tmp_path, trained_like):
    payload = torch.load(trained_like, weights_only=True)
    payload["format_version"] = 1
    path = tmp_path / "old.pt"
    torch.save(payload, path)
    assert_input_error(path, "weights format version 1 was made by an older bgmatte whose alpha head differs; "
                             "make it again (bgmatte finetune, or bgmatte train --export)")


def test_state_dict_that_does_not_fit_its_config_is_rejected(tmp_path, trained_like):
    payload = torch.load(trained_like, weights_only=True)
    payload["config"]["base_width"] = 6
    path = tmp_path / "mismatch.pt"
    torch.save(payload, path)
    assert_input_error(path, "state dict does not fit its config: wrong shape image_encoder.stem.0.weight")
    payload = torch.load(trained_like, weights_only=True)
    del payload["state_dict"]["alpha_head.output.bias"]
    torch.save(payload, path)
    assert_input_error(path, "missing alpha_head.output.bias")


def test_unknown_config_key_in_a_file_is_rejected(tmp_path, trained_like):
    payload = torch.load(trained_like, weights_only=True)
    payload["config"]["depth"] = 3
    path = tmp_path / "badconfig.pt"
    torch.save(payload, path)
    assert_input_error(path, "bad generator config: unknown generator config keys: depth")
