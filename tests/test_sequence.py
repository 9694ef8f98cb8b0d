"""Frame patterns, frame specs, --within and motion-cue neighbours."""
from __future__ import annotations

from pathlib import Path

import pytest

from bgmatte.errors import InputError
from bgmatte.sequence import FramePattern, neighbour_frames, parse_frame_spec, within


@pytest.mark.parametrize("token", ["####", "@@@@", "%04d", "$F4"])
def test_every_four_digit_token_style_pads_to_four_digits(token):
    pattern = FramePattern(f"/shots/plate.{token}.exr")
    assert pattern.is_sequence
    assert pattern.path(42) == Path("/shots/plate.0042.exr")
    assert pattern.path(1001) == Path("/shots/plate.1001.exr")


@pytest.mark.parametrize("token", ["#", "@", "%d", "$F"])
def test_unpadded_token_styles_write_the_bare_number(token):
    pattern = FramePattern(f"plate_{token}.exr")
    assert pattern.path(7) == Path("plate_7.exr")
    assert pattern.path(1001) == Path("plate_1001.exr")


def test_hash_count_sets_the_padding_as_in_nuke_and_blender():
    assert FramePattern("a.##.exr").path(3) == Path("a.03.exr")
    assert FramePattern("a.######.exr").path(3) == Path("a.000003.exr")


def test_frames_wider_than_the_padding_are_written_wider():
    assert FramePattern("plate.####.exr").path(12345) == Path("plate.12345.exr")


def test_negative_frames_get_a_minus_and_the_padded_magnitude():
    assert FramePattern("plate.####.exr").path(-5) == Path("plate.-0005.exr")


def test_a_pattern_without_token_is_one_file_for_every_frame():
    pattern = FramePattern("/plates/clean.exr")
    assert not pattern.is_sequence
    assert pattern.path(1) == pattern.path(1001) == Path("/plates/clean.exr")


def test_text_and_str_give_the_pattern_back():
    pattern = FramePattern("shot/plate.####.exr")
    assert pattern.text == "shot/plate.####.exr"
    assert str(pattern) == "shot/plate.####.exr"


def test_two_frame_tokens_in_the_name_are_refused():
    with pytest.raises(InputError, match="more than one frame token"):
        FramePattern("plate.####.%04d.exr")


def _touch(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).write_bytes(b"")


def test_frames_on_disk_lists_the_files_own_numbers_sorted(tmp_path):
    _touch(tmp_path, "plate.1003.exr", "plate.1001.exr", "plate.1002.exr", "other.1004.exr",
           "plate.1005.exr.bak", "plate.abcd.exr")
    assert FramePattern(tmp_path / "plate.####.exr").frames_on_disk() == [1001, 1002, 1003]


def test_frames_on_disk_accepts_wider_numbers_only_without_a_leading_zero(tmp_path):
    _touch(tmp_path, "plate.9999.exr", "plate.10000.exr", "plate.01000.exr", "plate.123.exr")
    assert FramePattern(tmp_path / "plate.####.exr").frames_on_disk() == [9999, 10000]


def test_frames_on_disk_reads_negative_frames(tmp_path):
    _touch(tmp_path, "plate.-0002.exr", "plate.-0001.exr", "plate.0000.exr", "plate.0001.exr")
    assert FramePattern(tmp_path / "plate.####.exr").frames_on_disk() == [-2, -1, 0, 1]


@pytest.mark.parametrize("token", ["@@@@", "%04d", "$F4"])
def test_frames_on_disk_works_for_every_token_style(tmp_path, token):
    _touch(tmp_path, "bg_0998.exr", "bg_0999.exr", "bg_1000.exr")
    assert FramePattern(tmp_path / f"bg_{token}.exr").frames_on_disk() == [998, 999, 1000]


def test_unpadded_pattern_finds_numbers_without_leading_zeros(tmp_path):
    _touch(tmp_path, "f.7.exr", "f.12.exr", "f.007.exr")
    assert FramePattern(tmp_path / "f.%d.exr").frames_on_disk() == [7, 12]


def test_frames_on_disk_of_a_missing_folder_or_a_single_file_is_empty(tmp_path):
    _touch(tmp_path, "still.exr")
    assert FramePattern(tmp_path / "nowhere" / "plate.####.exr").frames_on_disk() == []
    assert FramePattern(tmp_path / "still.exr").frames_on_disk() == []


def test_paths_and_disk_frames_agree_on_real_files(tmp_path):
    pattern = FramePattern(tmp_path / "matte.$F4.exr")
    for frame in (-3, 7, 1001, 20000):
        pattern.path(frame).write_bytes(b"")
    assert pattern.frames_on_disk() == [-3, 7, 1001, 20000]


@pytest.mark.parametrize("spec, frames", [
    ("1001", [1001]),
    ("1001-1005", [1001, 1002, 1003, 1004, 1005]),
    ("1001-1010x3", [1001, 1004, 1007, 1010]),
    ("1001,1005,1010-1012", [1001, 1005, 1010, 1011, 1012]),
    ("1010-1012,1001,1011", [1001, 1010, 1011, 1012]),
    ("-5--3", [-5, -4, -3]),
    ("-2-1", [-2, -1, 0, 1]),
    (" 1001 - 1003 , 1007 ", [1001, 1002, 1003, 1007]),
    ("1001-1006 x2", [1001, 1003, 1005]),
])
def test_frame_spec_gives_sorted_unique_frames(spec, frames):
    assert parse_frame_spec(spec) == frames


@pytest.mark.parametrize("spec, problem", [
    ("", "cannot read ''"),
    ("abc", "cannot read 'abc'"),
    ("1001-", "cannot read '1001-'"),
    ("1001,,1002", "cannot read ''"),
    ("1001:1100", "cannot read '1001:1100'"),
    ("1100-1001", "starts after it ends"),
    ("1001-1100x0", "step 0"),
    ("1-2000000000", "more than 1000000 frames"),
])
def test_bad_frame_spec_says_what_is_wrong_and_shows_an_example(spec, problem):
    with pytest.raises(InputError) as caught:
        parse_frame_spec(spec)
    assert caught.value.subject == "--frames"
    assert problem in caught.value.problem
    assert "1001-1100" in caught.value.problem


def test_within_keeps_the_frames_inside_the_range():
    assert within(range(1001, 1101), "1011-1015") == [1011, 1012, 1013, 1014, 1015]


def test_within_a_single_number_keeps_that_frame():
    assert within([1001, 1002, 1003], "1002") == [1002]


def test_within_filters_stepped_and_listed_specs_without_adding_frames():
    assert within(parse_frame_spec("1001-1020x5"), "1004-1012") == [1006, 1011]
    assert within(parse_frame_spec("1001,1005,1010-1020"), "1003-1011") == [1005, 1010, 1011]


def test_within_an_end_beyond_the_last_frame_does_no_harm():
    assert within(range(1001, 1011), "1008-1020") == [1008, 1009, 1010]
    assert within(range(1001, 1011), "2000-2010") == []


def test_within_tolerates_spaces_and_negative_frames():
    assert within(range(-10, 10), " -3 - -1 ") == [-3, -2, -1]


def test_within_start_after_end_is_an_input_error():
    with pytest.raises(InputError) as caught:
        within(range(1001, 1011), "1010-1001")
    assert caught.value.subject == "--within"
    assert "starts after it ends" in caught.value.problem


def test_within_a_spec_that_is_not_a_range_is_an_input_error():
    with pytest.raises(InputError) as caught:
        within(range(1001, 1011), "1001-1010x2")
    assert caught.value.subject == "--within"
    assert "START-END" in caught.value.problem


def test_neighbours_are_two_gaps_either_side():
    assert neighbour_frames(1050, 2, 1001, 1100) == (1046, 1048, 1052, 1054)


def test_neighbours_clamp_at_the_first_and_last_frame_on_disk():
    assert neighbour_frames(1001, 3, 1001, 1100) == (1001, 1001, 1004, 1007)
    assert neighbour_frames(1099, 1, 1001, 1100) == (1097, 1098, 1100, 1100)


def test_neighbours_of_a_chunk_match_a_whole_run_because_they_clamp_at_the_disk_range():
    chunk = within(range(1001, 1101), "1001-1010")
    whole_run = {t: neighbour_frames(t, 2, 1001, 1100) for t in range(1001, 1101)}
    assert all(neighbour_frames(t, 2, 1001, 1100) == whole_run[t] for t in chunk)
    assert neighbour_frames(1010, 2, 1001, 1100)[3] == 1014
