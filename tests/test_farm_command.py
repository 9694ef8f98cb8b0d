"""bgmatte submit on the command line: user mistakes are one line each, exit 2, nothing written."""
from __future__ import annotations

import sys

import pytest

from bgmatte.cli import main

MATTE_ARGS = ["shot/frame.####.exr", "--plate", "shot/plate.####.exr", "-o", "out/m.####.exr", "--frames", "1-10"]


def error_lines(capsys) -> list[str]:
    return capsys.readouterr().err.splitlines()


@pytest.mark.parametrize("farm", ["opencue", "deadline"])
def test_a_missing_plate_is_one_error_line_and_exit_2(tmp_path, monkeypatch, capsys, farm):
    monkeypatch.chdir(tmp_path)
    args = [arg for arg in MATTE_ARGS if arg not in ("--plate", "shot/plate.####.exr")]

    code = main(["submit", farm, "--dry-run", "jobs", *args])

    assert code == 2
    assert error_lines(capsys) == ["bgmatte: error: --plate: missing; a farm job needs --plate PLATE"]
    assert list(tmp_path.iterdir()) == []


def test_every_missing_option_gets_its_own_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)

    code = main(["submit", "opencue", "--dry-run", "jobs", "shot/frame.####.exr"])

    assert code == 2
    assert [line.split(":")[2].strip() for line in error_lines(capsys)] == ["--plate", "-o", "--frames"]


def test_a_submit_option_after_input_is_refused_rather_than_sent_to_the_farm(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)

    code = main(["submit", "deadline", "--dry-run", "jobs", *MATTE_ARGS, "--chunk", "5"])

    assert code == 2
    assert error_lines(capsys) == ["bgmatte: error: --chunk: is a submit option; put it before INPUT"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("farm", "option", "value", "message"), [
    ("opencue", "--chunk", "0", "--chunk: must be 1 or more, got 0"),
    ("deadline", "--cores", "100000", "--cores: must be at most 1024"),  # each chunk's --threads
])
def test_a_submit_number_out_of_range_is_refused_by_the_parser(tmp_path, monkeypatch, capsys, farm, option, value,
                                                               message):
    monkeypatch.chdir(tmp_path)

    with pytest.raises(SystemExit) as caught:
        main(["submit", farm, option, value, "--dry-run", "jobs", *MATTE_ARGS])

    assert caught.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_dry_run_path_that_is_a_file_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "jobs").write_text("not a folder")

    code = main(["submit", "deadline", "--dry-run", "jobs", *MATTE_ARGS])

    assert code == 2
    assert error_lines(capsys) == ["bgmatte: error: jobs: exists and is not a folder; --dry-run needs a folder"]


def test_a_relative_executable_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)

    code = main(["submit", "opencue", "--executable", "bin/bgmatte", "--dry-run", "jobs", *MATTE_ARGS])

    assert code == 2
    assert error_lines(capsys)[0].startswith("bgmatte: error: --executable: 'bin/bgmatte' is not absolute")


def test_an_executable_for_windows_workers_is_written_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    code = main(["submit", "deadline", "--executable", r"C:\Program Files\bgmatte\bgmatte.exe",
                 "--dry-run", "jobs", *MATTE_ARGS])

    assert code == 0
    plugin_info = (tmp_path / "jobs/bgmatte_m.plugin_info.job").read_text().splitlines()
    assert r"Executable=C:\Program Files\bgmatte\bgmatte.exe" in plugin_info


def test_opencue_without_pyoutline_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "outline", None)

    code = main(["submit", "opencue", "--dry-run", "jobs", *MATTE_ARGS])

    lines = error_lines(capsys)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("bgmatte: error: opencue: pyoutline is not installed")
    assert "pip install 'bgmatte[farm]'" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_help_explains_the_chunk_command(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["submit", "opencue", "--help"])

    text = capsys.readouterr().out
    assert caught.value.code == 0
    assert "--within START-END" in text and "#FRAME_START#-#FRAME_END#" in text and "--dry-run DIR" in text
