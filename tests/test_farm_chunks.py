"""The farm job as data: frame ranges, chunks and the per-chunk command, with no scheduler."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from bgmatte.errors import InputErrors
from bgmatte.farm.chunks import (
    DEADLINE_TOKENS,
    OPENCUE_TOKENS,
    FrameTokens,
    chunk_command,
    chunk_frames,
    default_job_name,
    farm_job,
    frame_range_string,
)
from bgmatte.sequence import parse_frame_spec, within

EXECUTABLE = "/opt/bgmatte/bin/bgmatte"
SPECS = ["1001-1100", "1001-1100x2", "1001,1005,1010-1020", "1-9x4,20,22,30-32", "-5--1", "7"]


def make_job(tmp_path: Path, spec: str = "1001-1100", *extra: str, chunk: int = 10, cores: int = 4):
    return farm_job(["shot/frame.####.exr", "--plate", "shot/plate.####.exr", "-o", "out/m.####.exr",
                     "--frames", spec, *extra],
                    executable=EXECUTABLE, cwd=tmp_path, chunk=chunk, cores=cores, memory_gb=16)


def option_value(argv: list[str], option: str) -> str:
    return argv[argv.index(option) + 1]


@pytest.mark.parametrize(("frames", "expected"), [
    (range(1001, 1101), "1001-1100"),
    (range(1001, 1101, 2), "1001-1099x2"),
    ([1001, 1005, *range(1010, 1021)], "1001,1005,1010-1020"),
    ([7], "7"),
    ([3, 1, 2, 2], "1-3"),
    ([1, 5], "1,5"),
    (range(-5, 0), "-5--1"),
])
def test_frame_range_string_writes_runs_steps_and_lists(frames, expected):
    assert frame_range_string(frames) == expected


@pytest.mark.parametrize("spec", SPECS)
def test_frame_range_string_reads_back_to_the_same_frames(spec):
    frames = parse_frame_spec(spec)

    assert parse_frame_spec(frame_range_string(frames)) == frames


def test_chunk_frames_cuts_stepped_frames_by_count_not_by_number():
    chunks = chunk_frames(parse_frame_spec("1001-1100x2"), 10)

    assert len(chunks) == 5
    assert chunks[0] == list(range(1001, 1020, 2))
    assert chunks[-1] == list(range(1081, 1100, 2))


@pytest.mark.parametrize("spec", SPECS)
def test_every_chunk_gets_exactly_its_frames_from_the_whole_spec_and_within(spec):
    frames = parse_frame_spec(spec)
    chunks = chunk_frames(frames, 3)

    rendered = [within(parse_frame_spec(frame_range_string(frames)), f"{chunk[0]}-{chunk[-1]}") for chunk in chunks]

    assert rendered == chunks
    assert sorted(f for chunk in rendered for f in chunk) == frames


def test_an_end_token_past_the_last_frame_on_a_short_last_chunk_does_no_harm():
    frames = parse_frame_spec("1001-1025")
    last = chunk_frames(frames, 10)[-1]

    assert last == list(range(1021, 1026))
    assert within(frames, f"{last[0]}-{last[0] + 9}") == last


def test_chunk_command_runs_the_absolute_executable_with_the_schedulers_tokens(tmp_path):
    job = make_job(tmp_path, "1001-1100x2", cores=6)

    argv = chunk_command(job, OPENCUE_TOKENS)

    assert argv[:3] == [EXECUTABLE, "matte", str(tmp_path / "shot/frame.####.exr")]
    assert option_value(argv, "--within") == "#FRAME_START#-#FRAME_END#"
    assert option_value(argv, "--frames") == "1001-1099x2"
    assert option_value(argv, "--threads") == "6"
    assert option_value(argv, "--progress") == "farm"
    assert "--skip-existing" in argv
    assert option_value(chunk_command(job, DEADLINE_TOKENS), "--within") == "<STARTFRAME>-<ENDFRAME>"


def test_chunk_command_with_the_tokens_replaced_reads_back_as_a_valid_within(tmp_path):
    job = make_job(tmp_path, "1001,1005,1010-1020")
    argv = chunk_command(job, FrameTokens("1005", "1012"))

    frames = within(parse_frame_spec(option_value(argv, "--frames")), option_value(argv, "--within"))

    assert frames == [1005, 1010, 1011, 1012]


def test_relative_paths_become_absolute_against_the_submitters_folder(tmp_path):
    job = make_job(tmp_path, "1-10", "--seg", "roto/r.####.exr", "--ocio", "cfg/config.ocio",
                   "--model=weights/shot.pt", "--report", "run.json")

    assert job.input == str(tmp_path / "shot/frame.####.exr")
    assert job.plate == str(tmp_path / "shot/plate.####.exr")
    assert job.output == str(tmp_path / "out/m.####.exr")
    assert job.matte_options == ("--seg", str(tmp_path / "roto/r.####.exr"),
                                 "--model", str(tmp_path / "weights/shot.pt"))
    assert job.ocio == str(tmp_path / "cfg/config.ocio")
    assert job.report == str(tmp_path / "run.json")


def test_absolute_paths_names_and_modes_pass_through_unchanged(tmp_path):
    job = farm_job([r"S:\show\sh010\frame.####.exr", "--plate", "/mnt/show/plate.exr", "--output", "/mnt/out/m.####.exr",
                    "--frames", "1-3", "--seg", "auto", "--model", "default", "--ocio", "ocio://default",
                    "--colorspace", "ACEScg", "--flatten"],
                   executable=EXECUTABLE, cwd=tmp_path, chunk=1, cores=1, memory_gb=1)

    assert job.input == r"S:\show\sh010\frame.####.exr"
    assert job.plate == "/mnt/show/plate.exr"
    assert job.output == "/mnt/out/m.####.exr"
    assert job.matte_options == ("--seg", "auto", "--model", "default", "--colorspace", "ACEScg", "--flatten")
    assert job.ocio == "ocio://default"


@pytest.mark.parametrize(("drop", "subject"), [("--plate", "--plate"), ("-o", "-o"), ("--frames", "--frames")])
def test_a_missing_required_option_is_named(tmp_path, drop, subject):
    args = ["in.####.exr", "--plate", "p.exr", "-o", "o.####.exr", "--frames", "1-3"]
    at = args.index(drop)
    del args[at:at + 2]

    with pytest.raises(InputErrors) as caught:
        farm_job(args, executable=EXECUTABLE, cwd=tmp_path, chunk=1, cores=1, memory_gb=1)

    assert [(error.subject, error.problem.split(";")[0]) for error in caught.value.errors] == [(subject, "missing")]


def test_a_missing_input_is_named_input(tmp_path):
    with pytest.raises(InputErrors) as caught:
        farm_job(["--plate", "p.exr", "-o", "o.exr", "--frames", "1"],
                 executable=EXECUTABLE, cwd=tmp_path, chunk=1, cores=1, memory_gb=1)

    assert [error.subject for error in caught.value.errors] == ["INPUT"]


def test_options_the_farm_sets_on_every_chunk_are_refused(tmp_path):
    with pytest.raises(InputErrors) as caught:
        make_job(tmp_path, "1-10", "--within", "1-5", "--threads", "2", "--skip-existing", "--progress=bar")

    assert [error.subject for error in caught.value.errors] == ["--within", "--threads", "--skip-existing",
                                                                "--progress"]


def test_an_unreadable_frame_spec_is_reported_on_frames(tmp_path):
    with pytest.raises(InputErrors) as caught:
        make_job(tmp_path, "1001-1100y2")

    assert [error.subject for error in caught.value.errors] == ["--frames"]


def test_a_job_name_with_spaces_is_refused(tmp_path):
    with pytest.raises(InputErrors) as caught:
        farm_job(["in.exr", "--plate", "p.exr", "-o", "o.exr", "--frames", "1"], executable=EXECUTABLE,
                 cwd=tmp_path, chunk=1, cores=1, memory_gb=1, name="hero matte")

    assert [error.subject for error in caught.value.errors] == ["--name"]


@pytest.mark.parametrize(("output", "name"), [
    ("out/m.####.exr", "bgmatte_m"),
    ("/o/shot_010_matte.%04d.exr", "bgmatte_shot_010_matte"),
    (r"C:\o\hero matte.$F4.exr", "bgmatte_hero_matte"),
    ("/o/still.exr", "bgmatte_still"),
])
def test_the_default_job_name_comes_from_the_output_pattern(output, name):
    assert default_job_name(output) == name


@pytest.mark.parametrize(("report", "expected"), [
    ("/show/logs/run.json", "/show/logs/run.S-E.json"),
    ("/show/logs/run", "/show/logs/run.S-E"),
    (r"S:\show\v1.2\run.json", r"S:\show\v1.2\run.S-E.json"),
    ("/show/v1.2/report", "/show/v1.2/report.S-E"),
])
def test_chunk_report_paths_put_the_chunk_range_before_the_extension(report, expected):
    from bgmatte.farm.chunks import chunk_report_path

    assert chunk_report_path(report, FrameTokens("S", "E")) == expected


def test_the_ocio_config_comes_from_the_option_then_the_environment_then_the_bundled_one(tmp_path):
    from bgmatte.color import bundled_config_path

    def pinned(*extra, environ):
        return farm_job(["in.####.exr", "--plate", "p.exr", "-o", "o.####.exr", "--frames", "1-3", *extra],
                        executable=EXECUTABLE, cwd=tmp_path, chunk=1, cores=1, memory_gb=1, environ=environ)

    assert pinned("--ocio=a.ocio", environ={"OCIO": "/b.ocio"}).ocio == str(tmp_path / "a.ocio")
    assert pinned(environ={"OCIO": "rel/b.ocio"}).ocio == str(tmp_path / "rel/b.ocio")
    assert pinned(environ={"OCIO": "ocio://cg-config-latest"}).ocio == "ocio://cg-config-latest"
    job = pinned(environ={})
    assert job.ocio == os.path.abspath(bundled_config_path())
    assert job.environment == (("OCIO", job.ocio),)
    argv = chunk_command(job, OPENCUE_TOKENS)
    assert argv[argv.index("--ocio") + 1] == job.ocio


def test_device_cuda_asks_for_one_gpu(tmp_path):
    assert make_job(tmp_path, "1-3", "--device=cuda").gpus == 1
    assert make_job(tmp_path, "1-3", "--device", "cpu").gpus == 0
    assert make_job(tmp_path, "1-3").gpus == 0
