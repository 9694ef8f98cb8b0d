"""Writing the matte EXR: channels, half float, windows and metadata kept, atomic replacement."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from bgmatte.errors import FrameError, InputError
from bgmatte.io import (
    ImageHeader,
    Window,
    atomic_output,
    check_writable,
    read_complete,
    read_header,
    read_rgb,
    remove_stale_temps,
    write_matte,
)
from bgmatte.io.atomic import temp_path_for

DISPLAY = Window(0, 0, 24, 16)
DATA = Window(3, 2, 16, 10)
RATIONAL = oiio.TypeDesc(oiio.BASETYPE.INT, oiio.AGGREGATE.VEC2, oiio.VECSEMANTICS.RATIONAL)


def write_source(path: Path, data: Window = DATA, display: Window = DISPLAY) -> ImageHeader:
    """A piz-compressed float plate with production metadata; returns its header."""
    spec = oiio.ImageSpec(data.width, data.height, 3, "float")
    spec.x, spec.y = data.x, data.y
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = display.x, display.y, display.width, display.height
    spec.channelnames = ("R", "G", "B")
    spec.attribute("compression", "piz")
    spec.attribute("smpte:TimeCode", oiio.TypeDesc("timecode"), (0x01000000, 0))
    spec.attribute("FramesPerSecond", RATIONAL, (24, 1))
    spec.attribute("worldToCamera", oiio.TypeDesc("matrix"), tuple(float(i) for i in range(16)))
    spec.attribute("pipeline:shot", "sq010_sh0040")
    spec.attribute("nuke/node_hash", "b4a1")
    spec.attribute("bgmatte:model", "stale-model")
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec)
    assert out.write_image(np.full((data.height, data.width, 3), 0.25, np.float32))
    out.close()
    return read_header(path)


def matte_on(canvas: Window) -> np.ndarray:
    """Distinct half-exact RGBA per pixel of ``canvas``: alpha 0.5, R = column / 64, G = row / 64, B = 1."""
    rows, cols = np.mgrid[0:canvas.height, 0:canvas.width].astype(np.float32)
    return np.stack([cols / 64, rows / 64, np.ones_like(rows), np.full_like(rows, 0.5)], axis=-1)


def open_spec(path: Path) -> oiio.ImageSpec:
    image = oiio.ImageInput.open(str(path))
    spec = image.spec()
    image.close()
    return spec


def read_all(path: Path) -> np.ndarray:
    image = oiio.ImageInput.open(str(path))
    pixels = image.read_image("float")
    image.close()
    return pixels


def test_matte_is_half_rgba_with_layers_named_for_comp(tmp_path):
    source = write_source(tmp_path / "plate.exr")
    canvas = DISPLAY.union(DATA)
    rgba = matte_on(canvas)
    fg = np.full((*canvas.shape, 3), 0.75, np.float32)
    shadow = np.full(canvas.shape, 0.125, np.float32)
    out = tmp_path / "out" / "matte.1001.exr"

    write_matte(out, rgba, canvas, source, layers={"fg": fg, "shadow": shadow})

    spec = open_spec(out)
    assert spec.channelnames[:4] == ("R", "G", "B", "A")
    assert set(spec.channelnames) == {"R", "G", "B", "A", "fg.R", "fg.G", "fg.B", "shadow.Y"}
    assert spec.alpha_channel == 3
    assert all(str(f) == "half" for f in spec.channelformats or [spec.format])
    assert str(spec.format) == "half"
    assert spec.get_string_attribute("compression") == "zip"
    pixels = read_all(out)
    names = list(spec.channelnames)
    np.testing.assert_array_equal(pixels[..., names.index("fg.G")], 0.75)
    np.testing.assert_array_equal(pixels[..., names.index("shadow.Y")], 0.125)
    np.testing.assert_array_equal(read_rgb(out, canvas)[DATA.slices_in(canvas)], rgba[DATA.slices_in(canvas)][..., :3])


def test_matte_keeps_the_source_data_and_display_windows(tmp_path):
    source = write_source(tmp_path / "plate.exr")
    canvas = DISPLAY
    rgba = matte_on(canvas)
    out = tmp_path / "matte.exr"
    write_matte(out, rgba, canvas, source)

    header = read_header(out)
    assert header.data_window == DATA
    assert header.display_window == DISPLAY
    np.testing.assert_array_equal(read_all(out), rgba[DATA.slices_in(canvas)])


def test_overscan_data_window_is_kept(tmp_path):
    data = Window(-4, -2, 32, 20)
    source = write_source(tmp_path / "plate.exr", data=data)
    canvas = DISPLAY.union(data)
    rgba = matte_on(canvas)
    out = tmp_path / "matte.exr"
    write_matte(out, rgba, canvas, source)

    assert read_header(out).data_window == data
    np.testing.assert_array_equal(read_all(out), rgba)


def test_flatten_writes_the_display_window_for_blender_empty_outside_the_input_data_window(tmp_path):
    source = write_source(tmp_path / "plate.exr")
    canvas = DISPLAY
    rgba = matte_on(canvas)
    out = tmp_path / "matte.exr"
    write_matte(out, rgba, canvas, source, flatten=True)

    header = read_header(out)
    assert header.data_window == header.display_window == DISPLAY
    expected = np.zeros_like(rgba)
    rows, cols = DATA.slices_in(canvas)
    expected[rows, cols] = rgba[rows, cols]
    np.testing.assert_array_equal(read_all(out), expected)


def test_source_metadata_survives_with_its_types_and_bgmatte_attributes_are_added(tmp_path):
    source = write_source(tmp_path / "plate.exr")
    out = tmp_path / "matte.exr"
    write_matte(out, matte_on(DISPLAY), DISPLAY, source,
                attributes={"bgmatte:version": "0.1.0", "bgmatte:model": "default"})

    kept = {a.name: a for a in read_header(out).attributes}
    original = {a.name: a for a in source.attributes}
    for name in ("smpte:TimeCode", "FramesPerSecond", "worldToCamera", "pipeline:shot", "nuke/node_hash"):
        assert str(kept[name].type_desc) == str(original[name].type_desc), name
        assert kept[name].value == original[name].value, name
    assert kept["bgmatte:version"].value == "0.1.0"
    assert kept["bgmatte:model"].value == "default"
    assert kept["compression"].value == "zip"


def test_layers_must_match_the_canvas(tmp_path):
    source = write_source(tmp_path / "plate.exr")
    with pytest.raises(ValueError, match="canvas"):
        write_matte(tmp_path / "m.exr", matte_on(DISPLAY), DISPLAY, source,
                    layers={"shadow": np.zeros((4, 4), np.float32)})
    assert not (tmp_path / "m.exr").exists()


def test_read_complete_returns_the_attributes_of_a_good_output_as_strings(tmp_path):
    source = write_source(tmp_path / "plate.exr")
    out = tmp_path / "matte.exr"
    write_matte(out, matte_on(DISPLAY), DISPLAY, source, attributes={"bgmatte:settings": '{"k": 2}'})

    attributes = read_complete(out)
    assert attributes["bgmatte:settings"] == '{"k": 2}'
    assert attributes["pipeline:shot"] == "sq010_sh0040"
    assert "bgmatte:model" not in attributes  # the plate's stale bgmatte settings are not carried over
    assert all(isinstance(v, str) for v in attributes.values())


def test_read_complete_is_none_for_a_truncated_missing_or_foreign_file(tmp_path):
    source = write_source(tmp_path / "plate.exr")
    out = tmp_path / "matte.exr"
    big = Window(0, 0, 96, 64)
    noise = np.random.default_rng(3).random((*big.shape, 4), np.float32)
    write_matte(out, noise, big, ImageHeader(out, big, big, source.channels, (), "half"))
    data = out.read_bytes()
    out.write_bytes(data[: len(data) // 3])
    (tmp_path / "text.exr").write_text("nope")

    assert read_complete(out) is None
    assert read_complete(tmp_path / "missing.exr") is None
    assert read_complete(tmp_path / "text.exr") is None


def test_exception_inside_atomic_output_leaves_no_file(tmp_path):
    target = tmp_path / "matte.1001.exr"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as temp:
            temp.write_bytes(b"half a frame")
            raise RuntimeError("render node lost")
    assert list(tmp_path.iterdir()) == []


def test_interrupt_inside_atomic_output_leaves_no_file(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(tmp_path / "matte.exr") as temp:
            temp.write_bytes(b"partial")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_existing_good_output(tmp_path):
    source = write_source(tmp_path / "plate.exr")
    out = tmp_path / "matte.exr"
    write_matte(out, matte_on(DISPLAY), DISPLAY, source, attributes={"bgmatte:run": "first"})
    temp_path_for(out).mkdir()  # OpenImageIO cannot create its temp file: the write fails

    with pytest.raises(FrameError) as caught:
        write_matte(out, matte_on(DISPLAY) * 2, DISPLAY, source, attributes={"bgmatte:run": "second"})

    assert caught.value.subject == str(out)
    assert caught.value.problem.startswith("cannot write")
    assert read_complete(out)["bgmatte:run"] == "first"


def test_temp_file_is_hidden_beside_the_target_and_keeps_its_extension(tmp_path):
    with atomic_output(tmp_path / "shot" / "matte.1001.exr") as temp:
        assert temp.parent == tmp_path / "shot"
        assert temp.parent.is_dir()
        assert temp.name.startswith(".matte.1001.exr.")
        assert temp.name.endswith(f"-{os.getpid()}.tmp.exr")
        temp.write_bytes(b"done")
    assert (tmp_path / "shot" / "matte.1001.exr").read_bytes() == b"done"
    assert [p.name for p in (tmp_path / "shot").iterdir()] == ["matte.1001.exr"]


def test_output_folder_that_cannot_be_created_is_an_input_error_naming_it(tmp_path):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    folder = tmp_path / "blocker" / "out"
    with pytest.raises(InputError) as caught:
        with atomic_output(folder / "matte.exr"):
            pass
    assert caught.value.subject == str(folder)
    with pytest.raises(InputError) as caught:
        check_writable(folder)
    assert caught.value.subject == str(folder)


def test_check_writable_leaves_nothing_behind(tmp_path):
    check_writable(tmp_path)
    check_writable(tmp_path / "not" / "yet")
    assert list(tmp_path.iterdir()) == []


def test_stale_temps_of_dead_processes_on_this_host_are_removed(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    dead_pid = int(finished.stdout)
    mine = temp_path_for(tmp_path / "matte.1002.exr")
    host = mine.name.split(".tmp")[0].rsplit(".", 1)[1].rsplit("-", 1)[0]
    dead = tmp_path / f".matte.1001.exr.{host}-{dead_pid}.tmp.exr"
    elsewhere = tmp_path / f".matte.1003.exr.othernode-{dead_pid}.tmp.exr"
    keep = tmp_path / "matte.1000.exr"
    for path in (dead, mine, elsewhere, keep):
        path.write_bytes(b"")

    assert remove_stale_temps(tmp_path) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (mine, elsewhere, keep))
