"""Specification of the generator: shapes and ranges, wired priors, precision, export by trace/script."""
from __future__ import annotations

import pytest
import torch

from bgmatte.model import CONFIGS, Generator, GeneratorConfig, create_model
from bgmatte.model.grow import grow_from


def inputs(height: int, width: int, batch: int = 1, seed: int = 0) -> list[torch.Tensor]:
    """Random encoded image and plate (0..1.5), soft segmentation (0..1) and motion cues (0..1.5)."""
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(batch, 3, height, width, generator=generator) * 1.5
    plate = torch.rand(batch, 3, height, width, generator=generator) * 1.5
    seg = torch.rand(batch, 1, height, width, generator=generator)
    motion = torch.rand(batch, 4, height, width, generator=generator) * 1.5
    return [image, plate, seg, motion]


@pytest.fixture(scope="module")
def tiny() -> Generator:
    return create_model("tiny", device="cpu")


@pytest.mark.parametrize("size", [(37, 51), (5, 9), (64, 64), (1, 1), (33, 128)])
def test_outputs_have_the_input_size_alpha_in_unit_range_and_three_channel_fg(tiny, size):
    with torch.no_grad():
        alpha, fg = tiny(*inputs(*size, batch=2))
    assert alpha.shape == (2, 1, *size)
    assert fg.shape == (2, 3, *size)
    assert alpha.dtype == fg.dtype == torch.float32
    assert 0.0 <= alpha.min() and alpha.max() <= 1.0
    assert torch.isfinite(fg).all()


def test_alpha_is_not_capped_by_the_output_bias_when_every_output_weight_is_negative():
    # With rectified (>= 0) features and all-negative output weights alpha could never exceed the
    # bias (0.5 here); the head's last stage is unrectified, so negative features lift it above.
    model = create_model("tiny", device="cpu")
    last_norm = model.alpha_head.upsample[-1].conv[1]
    output = model.alpha_head.output
    with torch.no_grad():
        last_norm.bias.fill_(-1.0)
        output.weight.copy_(-output.weight.abs())
        output.bias.fill_(0.0)
        alpha, _ = model(*inputs(48, 48, batch=2))
    assert alpha.min() > 0.5


def test_padding_inside_does_not_leak_between_images_of_a_batch(tiny):
    batch = inputs(29, 45, batch=2)
    with torch.no_grad():
        alpha_pair, fg_pair = tiny(*batch)
        alpha_one, fg_one = tiny(*[x[1:] for x in batch])
    torch.testing.assert_close(alpha_pair[1:], alpha_one, rtol=0, atol=1e-6)
    torch.testing.assert_close(fg_pair[1:], fg_one, rtol=0, atol=1e-6)


@pytest.mark.parametrize("prior", [1, 2, 3], ids=["plate", "seg", "motion"])
def test_each_prior_changes_alpha_and_foreground_through_the_context_switching_block(tiny, prior):
    base = inputs(32, 48)
    changed = list(base)
    changed[prior] = inputs(32, 48, seed=1)[prior]
    with torch.no_grad():
        alpha_a, fg_a = tiny(*base)
        alpha_again, fg_again = tiny(*base)
        alpha_b, fg_b = tiny(*changed)
    assert torch.equal(alpha_a, alpha_again) and torch.equal(fg_a, fg_again)
    # An untrained model's outputs vary little; 1e-6 is still 10x the float32 rounding at 0.5.
    assert (alpha_a - alpha_b).abs().max() > 1e-6
    assert (fg_a - fg_b).abs().max() > 1e-6


def test_foreground_is_a_residual_on_the_encoded_image(tiny):
    image, plate, seg, motion = inputs(32, 48)
    with torch.no_grad():
        _, fg = tiny(image, plate, seg, motion)
        _, fg_brighter = tiny(image + 0.25, plate, seg, motion)
    # The image enters twice (encoder and the residual): the residual alone moves fg by the shift.
    assert (fg_brighter - fg).mean().item() == pytest.approx(0.25, abs=0.1)


def test_half_precision_runs_on_the_same_code_path_and_agrees_with_fp32():
    model32 = create_model("tiny", device="cpu")
    model16 = create_model("tiny", device="cpu").half()
    data = inputs(40, 56)
    with torch.no_grad():
        alpha32, fg32 = model32(*data)
        alpha16, fg16 = model16(*[x.half() for x in data])
    assert alpha16.dtype == torch.float16
    torch.testing.assert_close(alpha16.float(), alpha32, rtol=0, atol=2e-3)
    torch.testing.assert_close(fg16.float(), fg32, rtol=0, atol=5e-3)


def test_channels_last_and_contiguous_layouts_give_the_same_result(tiny):
    contiguous = create_model("tiny", device="cpu").to(memory_format=torch.contiguous_format)
    data = inputs(36, 52)
    with torch.no_grad():
        expected = contiguous(*data)
        got = tiny(*[x.contiguous(memory_format=torch.channels_last) for x in data])
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_trace_of_the_tiny_model_reproduces_eager_output(tiny):
    data = inputs(48, 80)
    with torch.no_grad():
        traced = torch.jit.trace(tiny, tuple(data), check_trace=False)
        eager = tiny(*data)
        got = traced(*data)
    for a, b in zip(got, eager):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_scripted_model_accepts_any_size(tiny):
    scripted = torch.jit.script(tiny)
    for size in ((48, 80), (37, 51)):
        data = inputs(*size)
        with torch.no_grad():
            for a, b in zip(scripted(*data), tiny(*data)):
                torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def _tiny_with_skips() -> Generator:
    return Generator(GeneratorConfig.from_dict({**CONFIGS["tiny"].to_dict(), "alpha_skips": True})).eval()


def test_a_generator_grown_to_alpha_skips_computes_what_its_source_did(tiny):
    grown = _tiny_with_skips()
    names = grow_from(grown, tiny.state_dict())
    assert names and all(name.startswith("alpha_head.upsample.") for name in names)
    data = inputs(40, 72)
    with torch.no_grad():
        for a, b in zip(grown(*data), tiny(*data)):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_alpha_skips_carry_a_single_plate_pixel_straight_to_the_alpha_around_it(tiny):
    def response(skip_weights: bool) -> torch.Tensor:
        grown = _tiny_with_skips()
        grow_from(grown, tiny.state_dict())
        if skip_weights:
            with torch.no_grad():
                grown.alpha_head.upsample[-1].conv[0].weight.normal_(generator=torch.Generator().manual_seed(1))
        data = inputs(40, 72)
        with torch.no_grad():
            alpha, _ = grown(*data)
            data[1][..., 20, 36] += 1.0  # one plate pixel
            changed, _ = grown(*data)
        return (changed - alpha).abs()[0, 0, 16:25, 32:41].max()

    assert response(True) > 100 * response(False)


def test_scripted_model_with_alpha_skips_matches_eager():
    model = _tiny_with_skips()
    scripted = torch.jit.script(model)
    data = inputs(37, 51)
    with torch.no_grad():
        for a, b in zip(scripted(*data), model(*data)):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_growing_refuses_other_widths_or_other_layers_naming_the_tensors(tiny):
    wider = Generator(GeneratorConfig.from_dict({**CONFIGS["tiny"].to_dict(), "base_width": 6}))
    with pytest.raises(ValueError, match="image_encoder.stem.0.weight: cannot grow"):
        grow_from(wider, tiny.state_dict())
    with pytest.raises(ValueError, match="do not fit this network: missing"):
        grow_from(Generator(CONFIGS["small"]), tiny.state_dict())


def test_paper_config_has_the_paper_widths_and_blocks():
    paper = CONFIGS["paper"]
    assert paper.level_widths == (64, 128, 256)
    assert (paper.selector_width, paper.combinator_width) == (64, 256)
    assert (paper.shared_blocks, paper.head_blocks) == (7, 3)
    with torch.device("meta"):
        model = Generator(paper)
    assert len(model.shared_decoder.blocks) == 7
    assert len(model.alpha_head.decoder.blocks) == len(model.foreground_head.decoder.blocks) == 3


def test_config_dict_round_trips_for_every_registered_config():
    for config in CONFIGS.values():
        assert GeneratorConfig.from_dict(config.to_dict()) == config
        assert all(type(v) in (int, str, bool) for v in config.to_dict().values())


def test_config_rejects_unknown_keys_naming_them():
    data = {**CONFIGS["tiny"].to_dict(), "widht": 3}
    with pytest.raises(ValueError, match="unknown generator config keys: widht"):
        GeneratorConfig.from_dict(data)


@pytest.mark.parametrize("key, value, message", [
    ("base_width", "8", "base_width must be int"),
    ("downsamples", 0, "downsamples must be >= 1"),
    ("norm", "layer", "norm must be one of batch, none"),
    ("encoding", "srgb", "encoding must be one of acescct"),
])
def test_config_rejects_bad_values_with_the_field_name(key, value, message):
    with pytest.raises(ValueError, match=message):
        GeneratorConfig.from_dict({key: value})


def test_norm_none_builds_a_model_without_batch_norm():
    model = Generator(GeneratorConfig.from_dict({**CONFIGS["tiny"].to_dict(), "norm": "none"})).eval()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    with torch.no_grad():
        alpha, _ = model(*inputs(20, 30))
    assert alpha.shape == (1, 1, 20, 30)
