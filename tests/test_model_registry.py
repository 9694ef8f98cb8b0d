"""Specification of create_model: names, paths, ambiguity, devices and precision."""
from __future__ import annotations

import pytest
import torch

from bgmatte.errors import InputError
from bgmatte.model import CONFIGS, create_model, list_models, resolve_device, resolve_precision, save_weights
from bgmatte.model import registry


def test_registered_name_gives_an_untrained_seeded_model_in_eval_mode():
    first, second = create_model("tiny", device="cpu"), create_model("tiny", device="cpu")
    assert not first.training
    assert first.config == CONFIGS["tiny"]
    assert first.provenance["trained"] is False and "untrained" in first.provenance["note"]
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)


def test_seeding_does_not_touch_the_callers_random_state():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    create_model("tiny", device="cpu")
    assert torch.equal(torch.rand(3), expected)


def test_list_models_starts_with_default_and_has_the_registered_configs():
    assert list_models() == ["default", "paper", "small", "detail", "tiny"]


def test_model_comes_in_channels_last_on_the_requested_device_and_dtype():
    model = create_model("tiny", device="cpu", precision="fp32")
    weight = model.image_encoder.stem[0].weight
    assert weight.device.type == "cpu" and weight.dtype == torch.float32
    assert weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("spelling", ["absolute", "./relative.pt", "sub/dir/model.pt"])
def test_paths_load_weights_files(tmp_path, monkeypatch, spelling):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "absolute.pt" if spelling == "absolute" else tmp_path / spelling
    target.parent.mkdir(parents=True, exist_ok=True)
    save_weights(target, create_model("tiny", device="cpu"), {"licence": "Apache-2.0"})
    model = create_model(str(target) if spelling == "absolute" else spelling, device="cpu")
    assert model.config == CONFIGS["tiny"] and model.provenance["licence"] == "Apache-2.0"


def test_unknown_name_lists_the_names_and_how_to_write_a_path():
    with pytest.raises(InputError) as caught:
        create_model("smal", device="cpu")
    assert caught.value.subject == "--model"
    assert "unknown model 'smal'" in caught.value.problem
    assert "default, paper, small, detail, tiny" in caught.value.problem
    assert "./smal.pt" in caught.value.problem


def test_bare_file_name_without_pt_suffix_is_not_guessed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mymodel").write_bytes(b"")
    with pytest.raises(InputError, match="a file of that name exists: write it as a path"):
        create_model("mymodel", device="cpu")


def test_name_that_is_also_a_file_here_is_ambiguous(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny").write_bytes(b"")
    with pytest.raises(InputError) as caught:
        create_model("tiny", device="cpu")
    assert caught.value.subject == "--model"
    assert "'tiny' is both a model name and a file here" in caught.value.problem
    assert "./tiny" in caught.value.problem


def test_missing_weights_path_names_the_file(tmp_path):
    path = tmp_path / "missing.pt"
    with pytest.raises(InputError) as caught:
        create_model(str(path), device="cpu")
    assert caught.value.subject == str(path) and caught.value.problem == "no such weights file"


def test_default_without_shipped_weights_says_so(monkeypatch):
    monkeypatch.setattr(registry, "DEFAULT_WEIGHTS", "not-shipped.pt")
    with pytest.raises(InputError) as caught:
        create_model("default", device="cpu")
    assert caught.value.subject == "default"
    assert caught.value.problem.startswith("no shipped weights: ")


def test_auto_device_is_cuda_only_when_available():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


def test_cuda_without_a_cuda_device_is_an_input_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(InputError) as caught:
        resolve_device("cuda")
    assert caught.value.subject == "--device" and "no CUDA device is available" in caught.value.problem


def test_unknown_device_is_an_input_error():
    with pytest.raises(InputError, match="unknown device 'gpu'; use auto, cpu or cuda"):
        resolve_device("gpu")


def test_precision_auto_is_fp32_on_cpu_and_fp16_on_cuda():
    assert resolve_precision("auto", torch.device("cpu")) == torch.float32
    assert resolve_precision("auto", torch.device("cuda")) == torch.float16
    assert resolve_precision("fp32", torch.device("cuda")) == torch.float32


def test_fp16_on_the_cpu_runs_where_torch_supports_it_and_is_refused_where_not(monkeypatch):
    from bgmatte.model import registry

    if registry.cpu_half_supported():
        model = create_model("tiny", device="cpu", precision="fp16")
        assert next(model.parameters()).dtype == torch.float16
    monkeypatch.setattr(registry, "cpu_half_supported", lambda: False)
    with pytest.raises(InputError) as caught:
        create_model("tiny", device="cpu", precision="fp16")
    assert caught.value.subject == "--precision" and "fp16 needs a CUDA device" in caught.value.problem


def test_unknown_precision_is_rejected():
    with pytest.raises(InputError, match="unknown precision 'fp8'"):
        create_model("tiny", device="cpu", precision="fp8")
