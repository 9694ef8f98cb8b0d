"""bgmatte submit deadline: job info and plugin info files for the CommandLine plugin, and submission."""
from __future__ import annotations

import json
import os
import shlex
import stat
from pathlib import Path

from bgmatte.cli import main

MATTE_ARGS = ["shot/frame.####.exr", "--plate", "shot/plate.####.exr", "-o", "out/m.####.exr"]


def read_info(path: Path) -> dict[str, str]:
    entries = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        entries[key] = value
    return entries


def dry_run(tmp_path: Path, monkeypatch, *submit_args: str, frames: str = "1001-1100",
            matte_args: tuple[str, ...] = tuple(MATTE_ARGS)) -> tuple[dict[str, str], dict[str, str]]:
    monkeypatch.chdir(tmp_path)
    code = main(["submit", "deadline", "--dry-run", "jobs", *submit_args, *matte_args, "--frames", frames])
    assert code == 0
    (job_info,) = (tmp_path / "jobs").glob("*.job_info.job")
    (plugin_info,) = (tmp_path / "jobs").glob("*.plugin_info.job")
    return read_info(job_info), read_info(plugin_info)


def fake_deadlinecommand(folder: Path, exit_code: int, output: str) -> Path:
    """A real executable named deadlinecommand that keeps copies of the files it is given."""
    folder.mkdir()
    script = folder / "deadlinecommand"
    script.write_text(f"#!/bin/sh\ncat \"$1\" > \"{folder}/job_info\"\ncat \"$2\" > \"{folder}/plugin_info\"\n"
                      f"printf '{output}'\nexit {exit_code}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


def test_dry_run_writes_a_commandline_job_with_frames_and_chunk_size(tmp_path, monkeypatch, capsys):
    job_info, _ = dry_run(tmp_path, monkeypatch, "--chunk", "10")

    assert job_info["Plugin"] == "CommandLine"
    assert job_info["Frames"] == "1001-1100"
    assert job_info["ChunkSize"] == "10"
    assert job_info["Name"] == "bgmatte_m"
    assert job_info["OutputDirectory0"] == str(tmp_path / "out")
    assert "bgmatte: wrote jobs/bgmatte_m.job_info.job" in capsys.readouterr().out


def test_stepped_and_listed_frames_keep_their_step_and_list(tmp_path, monkeypatch):
    job_info, plugin_info = dry_run(tmp_path, monkeypatch, frames="1001-1100x2,1200")

    assert job_info["Frames"] == "1001-1099x2,1200"
    assert "--frames 1001-1099x2,1200 " in plugin_info["Arguments"]


def test_the_plugin_runs_the_absolute_bgmatte_with_deadlines_frame_tokens(tmp_path, monkeypatch):
    _, plugin_info = dry_run(tmp_path, monkeypatch, "--cores", "6")

    argv = shlex.split(plugin_info["Arguments"])
    executable = Path(plugin_info["Executable"])
    assert executable.is_absolute() and executable.name == "bgmatte" and executable.is_file()
    assert argv[:2] == ["matte", str(tmp_path / "shot/frame.####.exr")]
    assert argv[argv.index("--within") + 1] == "<STARTFRAME>-<ENDFRAME>"
    assert argv[argv.index("--threads") + 1] == "6"
    assert "--skip-existing" in argv and argv[argv.index("--progress") + 1] == "farm"
    assert plugin_info["ShellExecute"] == "False"


def test_paths_with_spaces_are_quoted_as_one_argument(tmp_path, monkeypatch):
    _, plugin_info = dry_run(tmp_path, monkeypatch,
                             matte_args=("hero shot/f.####.exr", "--plate", "p.exr", "-o", "o.####.exr"))

    argv = shlex.split(plugin_info["Arguments"])

    assert argv[1] == str(tmp_path / "hero shot/f.####.exr")


def test_cores_and_memory_are_recorded_and_one_chunk_runs_per_worker(tmp_path, monkeypatch):
    job_info, _ = dry_run(tmp_path, monkeypatch, "--cores", "8", "--memory", "48", "--pool", "comp",
                          "--group", "ram64")

    assert job_info["ConcurrentTasks"] == "1"
    assert job_info["ExtraInfoKeyValue0"] == "bgmatte_cores=8"
    assert job_info["ExtraInfoKeyValue1"] == "bgmatte_memory_gb=48"
    assert (job_info["Pool"], job_info["Group"]) == ("comp", "ram64")


def test_submitting_without_deadlinecommand_is_one_error_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.chdir(tmp_path)

    code = main(["submit", "deadline", *MATTE_ARGS, "--frames", "1-10"])

    lines = capsys.readouterr().err.splitlines()
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("bgmatte: error: deadlinecommand: not found on PATH")
    assert list(tmp_path.iterdir()) == []


def test_submission_hands_both_files_to_deadlinecommand(tmp_path, monkeypatch, capsys):
    bin_folder = fake_deadlinecommand(tmp_path / "bin", 0, "Result=Success\\nJobID=65f0c0ffee\\n")
    monkeypatch.setenv("PATH", f"{bin_folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)

    code = main(["submit", "deadline", "--chunk", "5", *MATTE_ARGS, "--frames", "1-10"])

    assert code == 0
    assert "JobID=65f0c0ffee" in capsys.readouterr().out
    assert read_info(bin_folder / "job_info")["ChunkSize"] == "5"
    assert "<STARTFRAME>-<ENDFRAME>" in read_info(bin_folder / "plugin_info")["Arguments"]


def test_a_refused_submission_reports_deadlines_last_line(tmp_path, monkeypatch, capsys):
    bin_folder = fake_deadlinecommand(tmp_path / "bin", 1, "Result=Failure\\nError: no such pool\\n")
    monkeypatch.setenv("PATH", f"{bin_folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)

    code = main(["submit", "deadline", *MATTE_ARGS, "--frames", "1-10"])

    assert code == 1
    assert capsys.readouterr().err.splitlines() == [
        "bgmatte: error: deadlinecommand: submission failed (exit 1): Error: no such pool"]


def test_the_job_environment_pins_the_ocio_config_of_the_submitting_shell(tmp_path, monkeypatch):
    monkeypatch.setenv("OCIO", "studio/config.ocio")

    job_info, plugin_info = dry_run(tmp_path, monkeypatch)

    pinned = str(tmp_path / "studio/config.ocio")
    assert job_info["EnvironmentKeyValue0"] == f"OCIO={pinned}"
    argv = shlex.split(plugin_info["Arguments"])
    assert argv[argv.index("--ocio") + 1] == pinned


def test_an_explicit_ocio_wins_over_the_shells_and_is_pinned_in_both_places(tmp_path, monkeypatch):
    monkeypatch.setenv("OCIO", "/somewhere/else.ocio")

    job_info, plugin_info = dry_run(tmp_path, monkeypatch,
                                    matte_args=(*MATTE_ARGS, "--ocio", "ocio://studio-config-latest"))

    assert job_info["EnvironmentKeyValue0"] == "OCIO=ocio://studio-config-latest"
    argv = shlex.split(plugin_info["Arguments"])
    assert argv.count("--ocio") == 1 and argv[argv.index("--ocio") + 1] == "ocio://studio-config-latest"


def test_without_ocio_the_bundled_config_is_pinned_so_no_worker_uses_its_own(tmp_path, monkeypatch):
    from bgmatte.color import bundled_config_path

    monkeypatch.delenv("OCIO", raising=False)

    job_info, _ = dry_run(tmp_path, monkeypatch)

    assert job_info["EnvironmentKeyValue0"] == f"OCIO={os.path.abspath(bundled_config_path())}"


def test_a_report_gives_one_file_per_chunk_named_by_the_chunks_range(tmp_path, monkeypatch):
    _, plugin_info = dry_run(tmp_path, monkeypatch, matte_args=(*MATTE_ARGS, "--report", "logs/run.json"))

    argv = shlex.split(plugin_info["Arguments"])
    assert argv.count("--report") == 1
    assert argv[argv.index("--report") + 1] == str(tmp_path / "logs/run.<STARTFRAME>-<ENDFRAME>.json")


def test_cuda_chunks_record_their_gpu_for_routing(tmp_path, monkeypatch):
    job_info, _ = dry_run(tmp_path, monkeypatch, matte_args=(*MATTE_ARGS, "--device", "cuda"))

    assert job_info["ExtraInfoKeyValue2"] == "bgmatte_gpus=1"
    (tmp_path / "cpu").mkdir()
    assert "ExtraInfoKeyValue2" not in dry_run(tmp_path / "cpu", monkeypatch)[0]


def test_chunks_run_with_deadlines_tokens_print_progress_lines_and_keep_their_own_reports(
        shot_dir, tmp_path, monkeypatch, capsys):
    """The plugin's arguments, with the tokens Deadline puts in, run for real: two chunks of 1001-1003."""
    matte = (str(shot_dir / "frame.####.exr"), "--plate", str(shot_dir / "clean.exr"), "-o", "out/m.####.exr",
             "--model", "tiny", "--motion", "none", "--report", "logs/run.json")
    _, plugin_info = dry_run(tmp_path, monkeypatch, "--chunk", "2", "--cores", "1", matte_args=matte,
                             frames="1001-1003")
    capsys.readouterr()
    stdout = {}
    for start, end in (("1001", "1002"), ("1003", "1004")):
        arguments = plugin_info["Arguments"].replace("<STARTFRAME>", start).replace("<ENDFRAME>", end)
        assert main(shlex.split(arguments)) == 0
        stdout[start] = capsys.readouterr().out.splitlines()

    assert [line for line in stdout["1001"] if not line.startswith("{")] == ["Progress: 50%", "Progress: 100%"]
    assert [json.loads(line)["frame"] for line in stdout["1001"] if line.startswith("{")] == [1001, 1002]
    assert stdout["1003"][1:] == ["Progress: 100%"]
    reports = {path.name: json.loads(path.read_text()) for path in (tmp_path / "logs").iterdir()}
    assert {name: report["done"] for name, report in reports.items()} == {
        "run.1001-1002.json": [1001, 1002], "run.1003-1004.json": [1003]}
