"""Specification of `bgmatte export --nuke-version`: the archive checked against the libtorch Nuke ships.

Nuke cannot run here. What is checked: the TorchScript file format version the archive records,
and every op its code calls (dead branches too, as a loader compiles them) against the ops known
to work in the target's torch (``NUKE_TARGETS``). With BGMATTE_TARGET_TORCH_PYTHON set to a Python
that has a target's torch (1.12.1 or 2.1.1, from PyPI), the last test also loads and runs the file
there, which is what CatFileCreator and Inference do with it; without it that test is skipped.
"""
from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from bgmatte.cli import main
from bgmatte.export import torchscript
from bgmatte.export.torchscript import (NUKE_TARGETS, STRUCTURAL_NODES, archive_format_version, archive_ops,
                                        nuke_problems)
from bgmatte.model import create_model, save_weights
from bgmatte.model.config import GeneratorConfig
from bgmatte.model.generator import Generator
from conftest import TEST_MODEL

TARGET_PYTHON = os.environ.get("BGMATTE_TARGET_TORCH_PYTHON")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def export(path: Path, *args: str) -> Path:
    assert main(["export", "--format", "torchscript", "-o", str(path), *args]) == 0
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return export(tmp_path_factory.mktemp("cattery") / "tiny.pt", "--model", TEST_MODEL)


@pytest.fixture(scope="module")
def refined(tmp_path_factory) -> Path:
    """The test model with a learned refiner: the graph then calls the refiner's ops too."""
    folder = tmp_path_factory.mktemp("refined")
    base = create_model(TEST_MODEL, device="cpu")
    model = Generator(GeneratorConfig.from_dict({**base.config.to_dict(), "refiner_width": 6})).eval()
    model.load_state_dict(base.state_dict(), strict=False)
    return export(folder / "refined.pt", "--model", str(save_weights(folder / "weights.pt", model, {"note": "test"})))


def version_record(path: Path) -> str:
    """The archive's version record as stored, read straight from the zip."""
    with zipfile.ZipFile(path) as archive:
        return archive.read(next(n for n in archive.namelist() if n.endswith("/.data/version"))).decode()


def with_version_record(path: Path, out: Path, version: str) -> Path:
    """A copy of the archive whose version record says ``version``."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w") as copy:
        for item in source.infolist():
            data = source.read(item)
            copy.writestr(item, f"{version}\n".encode() if item.filename.endswith("/.data/version") else data)
    return out


class Resize(nn.Module):
    """torch's own F.interpolate, called with one mode: the archive still holds all its branches."""

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def test_the_archive_records_a_format_version_that_every_listed_nuke_reads(tiny):
    recorded = int(version_record(tiny))
    assert archive_format_version(tiny) == recorded
    assert 6 <= recorded <= min(target.max_file_format for target in NUKE_TARGETS.values())  # .data/version: >= 6


def test_a_format_version_newer_than_the_target_reads_is_a_problem(tiny, tmp_path):
    newer = with_version_record(tiny, tmp_path / "tiny.pt", "11")
    assert nuke_problems(newer, NUKE_TARGETS["16"]) == ["TorchScript file format version 11 (it reads up to 10)"]


def test_archive_ops_include_the_branches_a_call_does_not_take(tmp_path):
    path = tmp_path / "resize.pt"
    torch.jit.save(torch.jit.script(Resize()), str(path))
    ops = archive_ops(path)
    assert {"aten::upsample_bilinear2d.vec", "aten::upsample_nearest2d.vec", "aten::upsample_bicubic2d.vec"} <= ops
    assert "prim::If" in ops


@pytest.mark.parametrize("version", sorted(NUKE_TARGETS))
@pytest.mark.parametrize("archive", ["tiny", "refined"])
def test_the_graph_calls_no_op_unknown_to_a_listed_nuke(version, archive, request):
    unknown = archive_ops(request.getfixturevalue(archive)) - NUKE_TARGETS[version].ops - STRUCTURAL_NODES
    assert unknown == set()


def test_an_unknown_release_is_refused_before_anything_is_built(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torchscript, "build_graph", lambda *a: pytest.fail("built the graph"))
    assert main(["export", "-o", str(tmp_path / "m.pt"), "--model", TEST_MODEL, "--nuke-version", "15"]) == 2
    assert capsys.readouterr().err == ("bgmatte: error: --nuke-version: '15' is not one of 14, 15.0, 15.1, 16 "
                                       "(15.0 and 15.1 ship different torch versions)\n")
    assert list(tmp_path.iterdir()) == []


def test_an_op_the_target_lacks_refuses_the_export_in_one_line_naming_it(tmp_path, capsys, monkeypatch):
    lacking = torchscript.NukeTarget("Nuke 16.x", "2.1.1", 10, NUKE_TARGETS["16"].ops - {"aten::conv2d"})
    monkeypatch.setitem(NUKE_TARGETS, "16", lacking)
    assert main(["export", "-o", str(tmp_path / "m.pt"), "--model", TEST_MODEL, "--nuke-version", "16"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"bgmatte: error: --nuke-version 16: torch {torch.__version__} wrote a file that "
                          "libtorch 2.1.1 (Nuke 16.x) cannot run: ")
    assert "aten::conv2d" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # neither the file nor its staging folder


def test_an_export_whose_ops_are_all_known_is_written_and_records_its_target(tiny, tmp_path, capsys, monkeypatch):
    knowing = torchscript.NukeTarget("Nuke 16.x", "2.1.1", 10, frozenset(archive_ops(tiny)))
    monkeypatch.setitem(NUKE_TARGETS, "16", knowing)
    path = export(tmp_path / "m.pt", "--model", TEST_MODEL, "--nuke-version", "16")
    assert capsys.readouterr().out.rstrip().endswith("premultiplied RGBA, checked for Nuke 16)")
    extra = {"bgmatte.json": ""}
    torch.jit.load(str(path), _extra_files=extra)
    record = json.loads(extra["bgmatte.json"])
    assert (record["nuke_version"], record["torch"]) == ("16", torch.__version__)


def run_in_target_torch(archive: Path, frame: torch.Tensor, out: Path) -> subprocess.CompletedProcess:
    """Load and run the archive in the target Python; the output tensor's raw float32 bytes go to ``out``."""
    raw = out.with_suffix(".in")
    raw.write_bytes(frame.numpy().tobytes())
    script = ("import array, sys, torch\n"  # no numpy needed there
              "x = torch.frombuffer(bytearray(open(sys.argv[2], 'rb').read()), dtype=torch.float32)\n"
              f"x = x.reshape({list(frame.shape)})\n"
              "with torch.no_grad():\n"
              "    y = torch.jit.load(sys.argv[1])(x)\n"
              "open(sys.argv[3], 'wb').write(array.array('f', y.flatten().tolist()).tobytes())\n")
    return subprocess.run([TARGET_PYTHON, "-W", "ignore", "-c", script, str(archive), str(raw), str(out)],
                          capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(not TARGET_PYTHON, reason="BGMATTE_TARGET_TORCH_PYTHON names no Python with a target's torch")
def test_the_check_passes_exactly_the_files_the_target_torch_loads_and_runs(tiny, tmp_path):
    version = subprocess.run([TARGET_PYTHON, "-c", "import torch; print(torch.__version__.split('+')[0])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    targets = [target for target in NUKE_TARGETS.values() if target.torch == version]
    assert targets, f"{TARGET_PYTHON} has torch {version}, which no listed Nuke ships"
    frame = torch.rand(1, 6, 61, 95, generator=torch.Generator().manual_seed(3))
    ran = run_in_target_torch(tiny, frame, tmp_path / "out.bin")
    for target in targets:
        assert (nuke_problems(tiny, target) == []) == (ran.returncode == 0), ran.stderr[-2000:]
    if ran.returncode == 0:
        with torch.no_grad():
            expected = torch.jit.load(str(tiny))(frame)
        got = torch.frombuffer(bytearray((tmp_path / "out.bin").read_bytes()), dtype=torch.float32).reshape(expected.shape)
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)
