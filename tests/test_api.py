"""The Python front door that every host uses: a model loaded once, sequences by path, progress, cancel."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from bgmatte import Matter
from bgmatte.errors import InputErrors
from bgmatte.settings import MatteSettings
from conftest import TEST_MODEL, read_exr


@pytest.fixture(scope="module")
def matter() -> Matter:
    return Matter(model=TEST_MODEL, device="cpu")


def test_matte_sequence_reports_each_frame_through_the_progress_callback(matter, shot_dir, tmp_path):
    seen = []
    report = matter.matte_sequence(str(shot_dir / "frame.####.exr"), str(shot_dir / "clean.exr"),
                                   str(tmp_path / "m.####.exr"), frames="1001-1003",
                                   progress=lambda outcome, done, total: seen.append((outcome.frame, done, total)))
    assert report.exit_code == 0 and report.done == [1001, 1002, 1003]
    assert seen == [(1001, 1, 3), (1002, 2, 3), (1003, 3, 3)]


def test_cancelling_leaves_only_complete_frames(matter, shot_dir, tmp_path):
    cancel = threading.Event()

    def stop_after_two(outcome, done, total):
        if done == 2:
            cancel.set()

    report = matter.matte_sequence(str(shot_dir / "frame.####.exr"), str(shot_dir / "clean.exr"),
                                   str(tmp_path / "m.####.exr"), frames="1001-1006", progress=stop_after_two,
                                   cancel=cancel)
    assert report.cancelled and report.exit_code == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.1001.exr", "m.1002.exr"]
    for name in ("m.1001.exr", "m.1002.exr"):
        assert np.isfinite(read_exr(tmp_path / name)[0]).all()


def test_the_same_frame_gives_the_same_pixels_through_the_api_and_the_array_call(matter, shot_dir, tmp_path):
    settings = MatteSettings(motion="none")
    matter.matte_sequence(str(shot_dir / "frame.1002.exr"), str(shot_dir / "clean.exr"), str(tmp_path / "o.exr"),
                          settings=settings)
    frame = read_exr(shot_dir / "frame.1002.exr")[0]
    plate = read_exr(shot_dir / "clean.exr")[0]
    result = matter.matte_frame(frame, plate)
    written = read_exr(tmp_path / "o.exr")[0]
    assert np.abs(written[..., 3] - result.alpha).max() < 1e-3


def test_bad_input_raises_one_error_per_problem_before_writing(matter, shot_dir, tmp_path):
    with pytest.raises(InputErrors) as caught:
        matter.matte_sequence(str(shot_dir / "frame.####.exr"), str(tmp_path / "no_plate.exr"),
                              str(tmp_path / "m.####.exr"), frames="1001-1002",
                              settings=MatteSettings(colorspace="NoSuchSpace"))
    problems = [e.problem for e in caught.value.errors]
    assert len(problems) == 2
    assert not list(tmp_path.glob("m.*"))


@pytest.mark.parametrize("argument", ["frame", "plate", "garbage"])
def test_an_array_with_nan_is_refused_by_name_instead_of_giving_a_nan_matte(matter, argument):
    from bgmatte.errors import InputError

    arrays = {"frame": np.full((32, 48, 3), 0.2, np.float32), "plate": np.full((32, 48, 3), 0.18, np.float32),
              "garbage": np.zeros((32, 48), np.float32)}
    arrays[argument][3, 4] = np.nan
    with pytest.raises(InputError) as raised:
        matter.matte_frame(arrays["frame"], arrays["plate"], garbage=arrays["garbage"])
    assert raised.value.subject == argument and "1 NaN/Inf pixels" in raised.value.problem
