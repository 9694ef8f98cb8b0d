"""Reading EXR headers and pixels: windows, channels by name, and loud errors for bad files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from bgmatte.errors import FrameError, InputError
from bgmatte.io import (
    Window,
    check_finite,
    read_header,
    read_mask,
    read_rgb,
    repair_nonfinite,
)


def write_exr(path: Path, pixels: np.ndarray, channels: tuple[str, ...], data: Window | None = None,
              display: Window | None = None, pixel_type: str = "half", alpha: int = -1) -> Path:
    """Write a real EXR with OpenImageIO: pixels (H, W, C) on ``data``, frame ``display``."""
    height, width, depth = pixels.shape
    data = data or Window(0, 0, width, height)
    display = display or data
    spec = oiio.ImageSpec(width, height, depth, pixel_type)
    spec.x, spec.y = data.x, data.y
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = display.x, display.y, display.width, display.height
    spec.channelnames = channels
    spec.alpha_channel = alpha
    spec.attribute("compression", "zip")
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), out.geterror()
    assert out.write_image(np.ascontiguousarray(pixels, np.float32)), out.geterror()
    assert out.close()
    return path


def ramp(height: int, width: int, depth: int) -> np.ndarray:
    """Distinct values exact in half (up to 256 pixels): channel c of pixel (y, x) = c / 4 + (y * width + x) / 1024."""
    index = np.arange(height * width, dtype=np.float32).reshape(height, width, 1) / 1024
    return index + np.arange(depth, dtype=np.float32) / 4


def test_header_reports_windows_channels_format_and_typed_attributes(tmp_path):
    path = tmp_path / "plate.1001.exr"
    spec = oiio.ImageSpec(16, 8, 4, "half")
    spec.x, spec.y = 4, 2
    spec.full_width, spec.full_height = 24, 12
    spec.channelnames = ("R", "G", "B", "A")
    spec.attribute("smpte:TimeCode", oiio.TypeDesc("timecode"), (0x01000000, 0))
    spec.attribute("worldToCamera", oiio.TypeDesc("matrix"), tuple(float(i) for i in range(16)))
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec)
    assert out.write_image(np.zeros((8, 16, 4), np.float32))
    out.close()

    header = read_header(path)

    assert header.path == path
    assert header.data_window == Window(4, 2, 16, 8)
    assert header.display_window == Window(0, 0, 24, 12)
    assert header.channels == ("R", "G", "B", "A")
    assert header.format == "half"
    attributes = {a.name: a for a in header.attributes}
    assert str(attributes["smpte:TimeCode"].type_desc) == "timecode"
    assert attributes["smpte:TimeCode"].value == (0x01000000, 0)
    assert str(attributes["worldToCamera"].type_desc) == "matrix"
    assert attributes["worldToCamera"].value[15] == 15.0


def test_missing_file_is_an_input_error_naming_it(tmp_path):
    with pytest.raises(InputError) as caught:
        read_header(tmp_path / "gone.exr")
    assert caught.value.subject == str(tmp_path / "gone.exr")
    assert caught.value.problem == "no such file"


def test_text_file_named_exr_is_not_an_openexr_file(tmp_path):
    path = tmp_path / "notes.exr"
    path.write_text("this is not an image\n")
    with pytest.raises(InputError, match="not an OpenEXR file"):
        read_header(path)
    with pytest.raises(InputError, match="not an OpenEXR file"):
        read_rgb(path, Window(0, 0, 4, 4))


def test_png_named_exr_is_not_an_openexr_file(tmp_path):
    path = tmp_path / "plate.exr"
    out = oiio.ImageOutput.create("png")
    assert out.open(str(path), oiio.ImageSpec(4, 4, 3, "uint8"))
    assert out.write_image(np.zeros((4, 4, 3), np.uint8))
    out.close()
    with pytest.raises(InputError) as caught:
        read_header(path)
    assert caught.value.problem == "not an OpenEXR file"


def test_exr_cut_inside_its_header_has_an_unreadable_header(tmp_path):
    path = write_exr(tmp_path / "cut.exr", ramp(8, 8, 3), ("R", "G", "B"))
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(InputError, match="unreadable header"):
        read_header(path)


def test_deep_exr_is_refused_with_a_clear_error(tmp_path):
    path = tmp_path / "deep.exr"
    spec = oiio.ImageSpec(4, 4, 2, "float")
    spec.channelnames = ("A", "Z")
    spec.deep = True
    deep = oiio.DeepData()
    deep.init(spec)
    for pixel in range(16):
        deep.set_samples(pixel, 1)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec)
    assert out.write_deep_image(deep)
    out.close()
    with pytest.raises(InputError, match="deep EXR"):
        read_header(path)


def test_rgb_of_a_full_frame_comes_back_exactly_as_float32(tmp_path):
    pixels = ramp(6, 10, 4)
    path = write_exr(tmp_path / "f.exr", pixels, ("R", "G", "B", "A"), alpha=3)
    rgb = read_rgb(path, Window(0, 0, 10, 6))
    assert rgb.dtype == np.float32
    assert rgb.shape == (6, 10, 3)
    np.testing.assert_array_equal(rgb, pixels[..., :3])


def test_rgb_only_file_reads(tmp_path):
    pixels = ramp(4, 5, 3)
    path = write_exr(tmp_path / "rgb.exr", pixels, ("R", "G", "B"))
    np.testing.assert_array_equal(read_rgb(path, Window(0, 0, 5, 4)), pixels)


def test_offset_data_window_lands_in_place_with_zeros_around_it(tmp_path):
    pixels = ramp(3, 4, 3) + 1
    path = write_exr(tmp_path / "crop.exr", pixels, ("R", "G", "B"),
                     data=Window(5, 2, 4, 3), display=Window(0, 0, 12, 8))
    rgb = read_rgb(path, Window(0, 0, 12, 8))
    np.testing.assert_array_equal(rgb[2:5, 5:9], pixels)
    outside = np.ones((8, 12), bool)
    outside[2:5, 5:9] = False
    assert not rgb[outside].any()


def test_overscan_data_window_is_kept_on_a_canvas_that_holds_it(tmp_path):
    display = Window(0, 0, 8, 6)
    data = Window(-2, -1, 12, 8)
    pixels = ramp(8, 12, 3)
    path = write_exr(tmp_path / "overscan.exr", pixels, ("R", "G", "B"), data=data, display=display)
    np.testing.assert_array_equal(read_rgb(path, display.union(data)), pixels)


def test_overscan_read_onto_the_display_window_is_cropped_to_it(tmp_path):
    display = Window(0, 0, 8, 6)
    pixels = ramp(8, 12, 3)
    path = write_exr(tmp_path / "overscan.exr", pixels, ("R", "G", "B"), data=Window(-2, -1, 12, 8), display=display)
    np.testing.assert_array_equal(read_rgb(path, display), pixels[1:7, 2:10])


def test_channels_are_chosen_by_name_whatever_the_order_in_the_file(tmp_path):
    height, width = 4, 4
    planes = {"Z": 9.0, "rgba.B": 3.0, "diffuse.R": 7.0, "rgba.R": 1.0, "rgba.G": 2.0, "rgba.A": 0.5}
    pixels = np.stack([np.full((height, width), v, np.float32) for v in planes.values()], axis=-1)
    path = write_exr(tmp_path / "layered.exr", pixels, tuple(planes))
    rgb = read_rgb(path, Window(0, 0, width, height))
    np.testing.assert_array_equal(rgb[0, 0], [1.0, 2.0, 3.0])


def test_lower_case_channel_names_are_accepted(tmp_path):
    pixels = ramp(2, 3, 3)
    path = write_exr(tmp_path / "lower.exr", pixels[..., ::-1], ("b", "g", "r"))
    np.testing.assert_array_equal(read_rgb(path, Window(0, 0, 3, 2)), pixels)


def test_plain_rgb_wins_over_other_rgb_layers(tmp_path):
    values = {"R": 1.0, "G": 2.0, "B": 3.0, "spec.R": 5.0, "spec.G": 6.0, "spec.B": 7.0}
    pixels = np.stack([np.full((2, 2), v, np.float32) for v in values.values()], axis=-1)
    path = write_exr(tmp_path / "aovs.exr", pixels, tuple(values))
    np.testing.assert_array_equal(read_rgb(path, Window(0, 0, 2, 2))[1, 1], [1.0, 2.0, 3.0])


def test_several_rgb_layers_without_a_beauty_are_refused(tmp_path):
    names = ("diffuse.R", "diffuse.G", "diffuse.B", "spec.R", "spec.G", "spec.B")
    path = write_exr(tmp_path / "aovs.exr", np.zeros((2, 2, 6), np.float32), names)
    with pytest.raises(InputError, match="several RGB layers"):
        read_rgb(path, Window(0, 0, 2, 2))


def test_luminance_only_file_is_refused_naming_its_channels(tmp_path):
    path = write_exr(tmp_path / "grey.exr", np.zeros((4, 4, 1), np.float32), ("Y",))
    with pytest.raises(InputError) as caught:
        read_rgb(path, Window(0, 0, 4, 4))
    assert caught.value.subject == str(path)
    assert caught.value.problem == "has channels (Y); bgmatte needs R, G and B"


def test_truncated_pixel_data_opens_but_fails_the_frame(tmp_path):
    rng = np.random.default_rng(1)
    path = write_exr(tmp_path / "cut.exr", rng.random((64, 64, 4), np.float32), ("R", "G", "B", "A"))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])

    header = read_header(path)
    assert header.data_window == Window(0, 0, 64, 64)
    with pytest.raises(FrameError) as caught:
        read_rgb(path, header.display_window)
    assert caught.value.subject == str(path)
    assert caught.value.problem.startswith("truncated or corrupt pixel data: ")
    assert "\n" not in caught.value.problem
    assert len(caught.value.problem) > len("truncated or corrupt pixel data: ")


def test_mask_is_the_only_channel_of_a_single_channel_file(tmp_path):
    pixels = ramp(3, 3, 1)
    path = write_exr(tmp_path / "roto.exr", pixels, ("Y",))
    mask = read_mask(path, Window(0, 0, 3, 3))
    assert mask.shape == (3, 3)
    np.testing.assert_array_equal(mask, pixels[..., 0])


def test_mask_is_the_alpha_of_an_rgba_file(tmp_path):
    pixels = ramp(3, 3, 4)
    path = write_exr(tmp_path / "roto.exr", pixels, ("R", "G", "B", "A"), alpha=3)
    np.testing.assert_array_equal(read_mask(path, Window(0, 0, 3, 3)), pixels[..., 3])


def test_mask_falls_back_to_the_first_channel(tmp_path):
    pixels = ramp(3, 3, 3)
    path = write_exr(tmp_path / "roto.exr", pixels, ("R", "G", "B"))
    np.testing.assert_array_equal(read_mask(path, Window(0, 0, 3, 3)), pixels[..., 0])


def test_mask_on_a_larger_canvas_is_zero_outside_its_data(tmp_path):
    path = write_exr(tmp_path / "roto.exr", np.ones((2, 2, 1), np.float32), ("A",),
                     data=Window(1, 1, 2, 2), display=Window(0, 0, 4, 4))
    mask = read_mask(path, Window(0, 0, 4, 4))
    assert mask.sum() == 4.0 and mask[1:3, 1:3].all()


def test_negative_and_bright_values_are_valid_data():
    check_finite(np.array([[[-4.0, 0.0, 65504.0]]], np.float32), "plate.exr")


def test_nan_in_a_file_is_found_with_its_count_and_first_position(tmp_path):
    pixels = np.zeros((6, 8, 3), np.float32)
    pixels[4, 5, 1] = np.nan
    pixels[5, 1, 0] = np.inf
    pixels[5, 1, 2] = -np.inf
    path = write_exr(tmp_path / "dead.exr", pixels, ("R", "G", "B"), data=Window(10, 20, 8, 6),
                     display=Window(0, 0, 40, 40))
    canvas = Window(10, 20, 8, 6)
    rgb = read_rgb(path, canvas)
    with pytest.raises(FrameError) as caught:
        check_finite(rgb, path, canvas)
    assert caught.value.subject == str(path)
    assert caught.value.problem == ("2 NaN/Inf pixels (first at x=15, y=24); "
                                    "fix the file or pass --repair-nonfinite")


def test_repair_sets_nonfinite_samples_to_zero_and_counts_pixels():
    pixels = np.ones((3, 3, 3), np.float32)
    pixels[0, 0] = [np.nan, np.inf, 2.0]
    pixels[2, 1, 2] = -np.inf
    repaired, count = repair_nonfinite(pixels)
    assert count == 2
    np.testing.assert_array_equal(repaired[0, 0], [0.0, 0.0, 2.0])
    assert repaired[2, 1, 2] == 0.0
    assert np.isfinite(repaired).all()
    check_finite(repaired, "repaired.exr")


def test_repair_of_finite_pixels_changes_nothing():
    pixels = np.full((2, 2), -1.5, np.float32)
    repaired, count = repair_nonfinite(pixels)
    assert count == 0
    np.testing.assert_array_equal(repaired, -1.5)


def test_multi_part_exr_is_read_from_part_zero(tmp_path):
    path = tmp_path / "parts.exr"
    beauty, other = oiio.ImageSpec(4, 4, 3, "half"), oiio.ImageSpec(4, 4, 3, "half")
    beauty.attribute("oiio:subimagename", "beauty")
    other.attribute("oiio:subimagename", "utility")
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), (beauty, other))
    assert out.write_image(np.full((4, 4, 3), 0.5, np.float32))
    assert out.open(str(path), other, "AppendSubimage")
    assert out.write_image(np.full((4, 4, 3), 2.0, np.float32))
    out.close()
    np.testing.assert_array_equal(read_rgb(path, Window(0, 0, 4, 4)), 0.5)


def test_window_union_holds_display_and_overscan():
    assert Window(0, 0, 8, 6).union(Window(-2, -1, 4, 4)) == Window(-2, -1, 10, 7)


def test_window_intersection_is_none_when_windows_do_not_touch():
    assert Window(0, 0, 4, 4).intersection(Window(2, 2, 4, 4)) == Window(2, 2, 2, 2)
    assert Window(0, 0, 4, 4).intersection(Window(4, 0, 2, 2)) is None


def test_window_slices_locate_it_inside_a_canvas_and_refuse_one_that_sticks_out():
    assert Window(3, 2, 4, 5).slices_in(Window(1, 1, 10, 10)) == (slice(1, 6), slice(2, 6))
    with pytest.raises(ValueError, match="not inside"):
        Window(-1, 0, 4, 4).slices_in(Window(0, 0, 10, 10))
