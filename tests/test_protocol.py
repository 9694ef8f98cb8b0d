"""The matte protocol: one standard-library module in the core, copied verbatim into the hosts."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bgmatte.cli import build_parser
from bgmatte.matte_command import settings_from_args
from bgmatte.protocol import (ProgressEvent, error_line, error_messages, matte_command_line,
                              parse_error_line, parse_progress, progress_json)
from bgmatte.settings import MatteSettings

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core" / "bgmatte" / "protocol.py"
COPIES = (ROOT / "blender_addon" / "bgmatte_protocol.py", ROOT / "nuke_gizmo" / "bgmatte_nuke" / "bgmatte_protocol.py")


@pytest.mark.parametrize("copy", COPIES, ids=lambda path: path.parent.name)
def test_each_host_copy_is_byte_identical_to_the_core_module(copy):
    assert copy.read_bytes() == CORE.read_bytes(), f"{copy} is stale: run `make protocol-copies`"


def test_the_module_imports_without_numpy_torch_or_the_rest_of_bgmatte():
    code = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('protocol', sys.argv[1]); "
            "module = sys.modules['protocol'] = importlib.util.module_from_spec(spec); "
            "spec.loader.exec_module(module); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'torch', 'bgmatte')))")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(CORE)],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_an_error_line_parses_back_to_its_subject_and_problem():
    line = error_line("shot/frame.1001.exr", "missing frame 1001")
    assert line == "bgmatte: error: shot/frame.1001.exr: missing frame 1001"
    assert parse_error_line(line + "\n") == "shot/frame.1001.exr: missing frame 1001"
    assert error_messages(["bgmatte: warning: x", line]) == ["shot/frame.1001.exr: missing frame 1001"]


def test_a_progress_line_parses_back_to_the_same_event_and_other_lines_to_none():
    event = ProgressEvent(1001, 1, 2, "failed", 0.25, "/out/matte.1001.exr", "bad pixels")
    assert parse_progress(progress_json(event)) == event
    assert [parse_progress(line) for line in ("Progress: 50%", "[1]", "{}", "not json")] == [None] * 4


def test_a_command_line_reads_back_as_the_same_settings():
    settings = MatteSettings(colorspace="ACEScg", output_colorspace="Linear Rec.709", ocio="/c/config.ocio",
                             seg="/r/roto.####.exr", motion="none", motion_gap=2, garbage="/g.####.exr",
                             core="/c.####.exr", align="homography", layers=("fg", "shadow"), flatten=True,
                             repair_nonfinite=True, gain_match="1.02,1,0.98")
    argv = matte_command_line(settings, "/s/frame.####.exr", "/s/clean.exr", "/o/matte.####.exr",
                              frames="1001-1010", threads=4, skip_existing=True, progress="json",
                              model="default", device="cpu", executable=())
    args = build_parser().parse_args(argv)
    assert settings_from_args(args) == settings
    assert (args.frames, args.threads, args.skip_existing, args.progress, args.device) == (
        "1001-1010", 4, True, "json", "cpu")


def test_unset_settings_values_add_no_options():
    argv = matte_command_line({"ocio": None, "garbage": "", "layers": ()}, "i", "p", "o", executable=("bgmatte",))
    assert argv == ["bgmatte", "matte", "i", "--plate", "p", "-o", "o"]
