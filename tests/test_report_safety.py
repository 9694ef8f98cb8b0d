"""`--report FILE` never destroys data: it is checked like an output before anything is written,
written atomically, and a report that cannot be written at the end is one error line, not a traceback."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import bgmatte.matte_command
from bgmatte.api import Matter
from bgmatte.cli import main
from bgmatte.errors import InputError
from conftest import TEST_MODEL


def run(capsys, shot: Path, out: Path, *extra: str) -> tuple[int, list[str]]:
    code = main(["matte", str(shot / "frame.####.exr"), "--plate", str(shot / "clean.exr"), "-o",
                 str(out / "m.####.exr"), "--frames", "1001-1002", "--motion", "none", "--model", TEST_MODEL,
                 "--progress", "none", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert not any("Traceback" in line for line in err)
    return code, err


@pytest.fixture
def shot(shot_copy) -> Path:
    """A private copy of the shot that a test may damage."""
    return shot_copy


def nothing_written(out: Path) -> bool:
    return not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize(("victim", "role"), [("frame.1001.exr", "frame"), ("frame.1004.exr", "frame"),
                                              ("clean.exr", "plate")])
def test_a_report_path_that_is_an_input_is_refused_before_anything_is_written(shot, tmp_path, capsys, victim, role):
    before = (shot / victim).read_bytes()

    code, err = run(capsys, shot, tmp_path / "out", "--report", str(shot / victim))

    assert code == 2
    assert err == [f"bgmatte: error: {shot / victim}: --report would overwrite an input of this run ({role}); "
                   "choose another report path"]
    assert (shot / victim).read_bytes() == before
    assert nothing_written(tmp_path / "out")


def test_a_report_path_reached_through_a_link_to_an_input_is_refused(shot, tmp_path, capsys):
    link = tmp_path / "report.json"
    link.symlink_to(shot / "clean.exr")
    before = (shot / "clean.exr").read_bytes()

    code, err = run(capsys, shot, tmp_path / "out", "--report", str(link))

    assert code == 2 and len(err) == 1 and "input of this run (plate)" in err[0]
    assert (shot / "clean.exr").read_bytes() == before and link.is_symlink()


def test_a_report_path_that_is_an_output_of_this_run_is_refused_even_before_it_exists(shot, tmp_path, capsys):
    out = tmp_path / "out"

    code, err = run(capsys, shot, out, "--report", str(out / "m.1002.exr"))

    assert code == 2
    assert err == [f"bgmatte: error: {out / 'm.1002.exr'}: --report would overwrite an output of this run; "
                   "choose another report path"]
    assert nothing_written(out)


def test_a_finished_output_of_an_earlier_run_is_not_overwritten(shot, tmp_path, capsys):
    assert run(capsys, shot, tmp_path / "first")[0] == 0
    finished = tmp_path / "first" / "m.1001.exr"
    before = finished.read_bytes()

    code, err = run(capsys, shot, tmp_path / "second", "--report", str(finished))

    assert code == 2
    assert err == [f"bgmatte: error: {finished}: --report would overwrite a file that is not a bgmatte report; "
                   "choose another report path or remove the file"]
    assert finished.read_bytes() == before
    assert nothing_written(tmp_path / "second")


def test_a_finished_output_of_this_run_is_not_overwritten_on_a_rerun(shot, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(capsys, shot, out)[0] == 0
    before = (out / "m.1001.exr").read_bytes()

    code, err = run(capsys, shot, out, "--skip-existing", "--report", str(out / "m.1001.exr"))

    assert code == 2 and len(err) == 1 and "output of this run" in err[0]
    assert (out / "m.1001.exr").read_bytes() == before


def test_a_report_path_that_is_a_folder_is_refused(shot, tmp_path, capsys):
    (tmp_path / "reports").mkdir()

    code, err = run(capsys, shot, tmp_path / "out", "--report", str(tmp_path / "reports"))

    assert code == 2
    assert err == [f"bgmatte: error: {tmp_path / 'reports'}: --report is a folder; give a file path"]
    assert nothing_written(tmp_path / "out")


def test_a_report_folder_that_is_a_file_is_refused(shot, tmp_path, capsys):
    (tmp_path / "notes").write_text("keep me\n")

    code, err = run(capsys, shot, tmp_path / "out", "--report", str(tmp_path / "notes" / "r.json"))

    assert code == 2 and len(err) == 1 and err[0].startswith(f"bgmatte: error: {tmp_path / 'notes' / 'r.json'}: ")
    assert (tmp_path / "notes").read_text() == "keep me\n"
    assert nothing_written(tmp_path / "out")


def test_a_report_path_that_is_a_symlink_loop_is_refused(shot, tmp_path, capsys):
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop)

    code, err = run(capsys, shot, tmp_path / "out", "--report", str(loop))

    assert code == 2 and len(err) == 1 and "symlink loop" in err[0]
    assert loop.is_symlink()


def test_a_report_name_longer_than_the_file_system_allows_is_refused_before_writing(shot, tmp_path, capsys):
    report = tmp_path / ("r" * 300 + ".json")

    code, err = run(capsys, shot, tmp_path / "out", "--report", str(report))

    assert code == 2 and len(err) == 1
    assert "--report file name is 305 bytes; the file system allows at most" in err[0]
    assert nothing_written(tmp_path / "out")


def test_a_legal_long_report_name_is_written_although_its_temp_name_would_be_longer(shot, tmp_path, capsys):
    report = tmp_path / ("r" * 250 + ".json")  # 255 bytes: the longest legal name

    code, err = run(capsys, shot, tmp_path / "out", "--report", str(report))

    assert (code, err) == (0, [])
    assert json.loads(report.read_text())["done"] == [1001, 1002]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", "shot", report.name])


def test_an_earlier_report_is_replaced_atomically_and_no_temp_is_left(shot, tmp_path, capsys):
    report = tmp_path / "reports" / "run.json"
    assert run(capsys, shot, tmp_path / "out", "--report", str(report))[0] == 0
    first = json.loads(report.read_text())

    code, err = run(capsys, shot, tmp_path / "out", "--skip-existing", "--report", str(report))

    assert (code, err) == (0, [])
    second = json.loads(report.read_text())
    assert first["done"] == [1001, 1002] and second["skipped"] == [1001, 1002]
    assert os.listdir(report.parent) == ["run.json"]


def test_an_empty_file_made_for_the_report_is_used(shot, tmp_path, capsys):
    report = tmp_path / "run.json"
    report.touch()  # e.g. from mktemp

    assert run(capsys, shot, tmp_path / "out", "--report", str(report))[0] == 0
    assert json.loads(report.read_text())["exit_code"] == 0


def test_a_report_that_cannot_be_written_at_the_end_is_one_line_and_exit_3_with_the_frames_kept(
        shot, tmp_path, capsys, monkeypatch):
    report = tmp_path / "run.json"
    printer_call = bgmatte.matte_command.ProgressPrinter.__call__

    def take_the_path_away(self, outcome, done, total):
        printer_call(self, outcome, done, total)
        if done == total:
            report.mkdir()  # after the checks passed, something else takes the path

    monkeypatch.setattr(bgmatte.matte_command.ProgressPrinter, "__call__", take_the_path_away)
    code, err = run(capsys, shot, tmp_path / "out", "--report", str(report))

    assert code == 3
    assert len(err) == 1 and err[0].startswith(f"bgmatte: error: {report}: ") and "the frames are written" in err[0]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["m.1001.exr", "m.1002.exr"]
    assert report.is_dir() and list(report.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_the_api_checks_and_writes_the_report_too(shot, tmp_path):
    matter = Matter(model=TEST_MODEL)
    kwargs = dict(frames="1001", settings=None)

    with pytest.raises(InputError) as caught:
        matter.matte_sequence(str(shot / "frame.####.exr"), str(shot / "clean.exr"), str(tmp_path / "m.####.exr"),
                              report_path=shot / "frame.1001.exr", **kwargs)
    assert "input of this run" in caught.value.problem

    report = matter.matte_sequence(str(shot / "frame.####.exr"), str(shot / "clean.exr"),
                                   str(tmp_path / "m.####.exr"), report_path=tmp_path / "r.json", **kwargs)
    assert report.exit_code == 0 and json.loads((tmp_path / "r.json").read_text())["done"] == [1001]
