"""bgmatte submit opencue: the job spec pyoutline writes, read back with xml.etree and pyoutline."""
from __future__ import annotations

import shlex
import socket
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import FileSequence
import opencue
import pytest

from bgmatte.cli import main
from bgmatte.farm.chunks import chunk_frames, farm_job
from bgmatte.farm.opencue import build_launcher
from bgmatte.sequence import parse_frame_spec

MATTE_ARGS = ["shot/frame.####.exr", "--plate", "shot/plate.####.exr", "-o", "out/m.####.exr"]


def dry_run(tmp_path: Path, monkeypatch, *submit_args: str, frames: str = "1001-1100") -> ElementTree.Element:
    monkeypatch.chdir(tmp_path)
    code = main(["submit", "opencue", "--dry-run", "spec", *submit_args, *MATTE_ARGS, "--frames", frames])
    assert code == 0
    (spec,) = (tmp_path / "spec").glob("*.xml")
    return ElementTree.parse(spec).getroot()


def layer_command(root: ElementTree.Element) -> list[str]:
    return shlex.split(root.find("job/layers/layer/cmd").text)


def test_dry_run_writes_a_spec_with_the_range_and_the_chunk_size(tmp_path, monkeypatch, capsys):
    root = dry_run(tmp_path, monkeypatch, "--chunk", "10")

    assert root.tag == "spec"
    assert root.find(".//range").text == "1001-1100"
    assert root.find(".//chunk").text == "10"
    assert root.find("job").get("name") == "bgmatte_m"
    assert "bgmatte: wrote spec/bgmatte_m.opencue.xml" in capsys.readouterr().out


def test_the_layer_reserves_the_requested_cores_and_memory(tmp_path, monkeypatch):
    root = dry_run(tmp_path, monkeypatch, "--cores", "8", "--memory", "32")

    assert root.find(".//layer/cores").text == "8.0"
    assert root.find(".//layer/memory").text == "32g"
    assert layer_command(root)[layer_command(root).index("--threads") + 1] == "8"


def test_the_layer_runs_the_absolute_bgmatte_with_the_opencue_frame_tokens(tmp_path, monkeypatch):
    argv = layer_command(dry_run(tmp_path, monkeypatch, "--chunk", "5"))

    assert Path(argv[0]).is_absolute() and Path(argv[0]).name == "bgmatte" and Path(argv[0]).is_file()
    assert argv[1:3] == ["matte", str(tmp_path / "shot/frame.####.exr")]
    assert argv[argv.index("-o") + 1] == str(tmp_path / "out/m.####.exr")
    assert argv[argv.index("--within") + 1] == "#FRAME_START#-#FRAME_END#"
    assert "--skip-existing" in argv
    assert argv[argv.index("--progress") + 1] == "farm"


def test_the_command_text_file_holds_the_chunk_command(tmp_path, monkeypatch):
    root = dry_run(tmp_path, monkeypatch)

    text = (tmp_path / "spec/bgmatte_m.command.txt").read_text()

    assert root.find(".//cmd").text in text.splitlines()
    assert "10 chunks" in text


def test_show_shot_and_name_reach_the_spec(tmp_path, monkeypatch):
    root = dry_run(tmp_path, monkeypatch, "--show", "demo", "--shot", "sh010", "--name", "sh010_matte")

    assert (root.find("show").text, root.find("shot").text) == ("demo", "sh010")
    assert root.find("job").get("name") == "sh010_matte"


@pytest.mark.parametrize("spec", ["1001-1100x2", "1001,1005,1010-1020", "-5--1"])
def test_opencue_reads_the_range_as_the_same_frames(tmp_path, monkeypatch, spec):
    root = dry_run(tmp_path, monkeypatch, frames=spec)

    assert list(FileSequence.FrameSet(root.find(".//range").text)) == parse_frame_spec(spec)


@pytest.mark.parametrize("spec", ["1001-1100x2", "1001,1005,1010-1020,1030-1040x5"])
def test_pyoutline_cuts_the_same_chunks_as_the_chunk_functions(tmp_path, spec):
    job = farm_job([*MATTE_ARGS, "--frames", spec], executable="/opt/bgmatte", cwd=tmp_path,
                   chunk=4, cores=1, memory_gb=1)
    (layer,) = build_launcher(job).get_outline().get_layers()

    for chunk in chunk_frames(job.frames, job.chunk):
        assert list(layer.get_local_frame_set(chunk[0])) == chunk


def test_submitting_without_a_reachable_cuebot_is_one_error_line(tmp_path, monkeypatch, capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("CUEBOT_HOSTS", f"127.0.0.1:{closed_port}")
    monkeypatch.setattr(opencue.Cuebot, "RpcChannel", None)
    monkeypatch.setattr(opencue.Cuebot, "Hosts", list(opencue.Cuebot.Hosts))
    monkeypatch.chdir(tmp_path)

    code = main(["submit", "opencue", *MATTE_ARGS, "--frames", "1-10"])

    lines = capsys.readouterr().err.splitlines()
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith("bgmatte: error: cuebot: submission failed")
    assert list(tmp_path.iterdir()) == []


def layer_env(root: ElementTree.Element) -> dict[str, str]:
    return {key.get("name"): key.text for key in root.findall("job/layers/layer/env/key")}


def test_the_layer_environment_and_command_pin_the_ocio_config_of_the_submitting_shell(tmp_path, monkeypatch):
    monkeypatch.setenv("OCIO", "studio/config.ocio")

    root = dry_run(tmp_path, monkeypatch)

    pinned = str(tmp_path / "studio/config.ocio")
    assert layer_env(root) == {"OCIO": pinned}
    argv = layer_command(root)
    assert argv[argv.index("--ocio") + 1] == pinned


def test_an_explicit_ocio_is_pinned_absolute_in_the_layer(tmp_path, monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)
    monkeypatch.chdir(tmp_path)
    code = main(["submit", "opencue", "--dry-run", "spec", *MATTE_ARGS, "--frames", "1-4", "--ocio", "cfg/show.ocio"])
    assert code == 0
    root = ElementTree.parse(next((tmp_path / "spec").glob("*.xml"))).getroot()

    assert layer_env(root) == {"OCIO": str(tmp_path / "cfg/show.ocio")}
    assert layer_command(root).count("--ocio") == 1


def test_device_cuda_reserves_a_gpu_and_its_memory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["submit", "opencue", "--dry-run", "spec", "--gpu-memory", "12", *MATTE_ARGS, "--frames", "1-4",
                 "--device", "cuda"])
    assert code == 0
    root = ElementTree.parse(next((tmp_path / "spec").glob("*.xml"))).getroot()

    assert root.find(".//layer/gpus").text == "1"
    assert root.find(".//layer/gpu_memory").text == "12g"
    assert "1 GPU with 12 GB" in (tmp_path / "spec/bgmatte_m.command.txt").read_text()


def test_cpu_jobs_reserve_no_gpu(tmp_path, monkeypatch):
    root = dry_run(tmp_path, monkeypatch)

    assert root.find(".//layer/gpus") is None and root.find(".//layer/gpu_memory") is None


def test_a_report_gives_one_file_per_chunk_on_opencue(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["submit", "opencue", "--dry-run", "spec", *MATTE_ARGS, "--frames", "1-4", "--report", "run.json"]) == 0
    argv = layer_command(ElementTree.parse(next((tmp_path / "spec").glob("*.xml"))).getroot())

    assert argv[argv.index("--report") + 1] == str(tmp_path / "run.#FRAME_START#-#FRAME_END#.json")
