"""Specification of how the Nuke node runs the core and reads the script's colour settings.

The runner is plain Python: in Nuke's Python it calls the core's front door; otherwise it runs an
external Python as `python -m bgmatte.cli matte ... --progress json` and follows its JSON lines.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import TEST_MODEL, channel, read_exr

NUKE_FOLDER = Path(__file__).resolve().parents[1] / "nuke_gizmo"
SHOT = Path(__file__).resolve().parents[1] / "samples" / "shot"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def nuke_package(monkeypatch):
    monkeypatch.syspath_prepend(str(NUKE_FOLDER))


def job(output: Path, plate: Path = SHOT / "clean.exr", frames: str = "1001-1002"):
    from bgmatte_nuke.runner import MatteJob

    return MatteJob(source=(SHOT / "frame.####.exr").as_posix(), plate=plate.as_posix(),
                    output=(output / "matte.####.exr").as_posix(), frames=frames, colorspace="ACEScg", ocio="",
                    seg="auto", motion_gap=1, model=TEST_MODEL, device="cpu")


def test_the_job_is_valid_bgmatte_matte_arguments_with_json_progress(tmp_path):
    from bgmatte.cli import build_parser

    args = build_parser().parse_args(job(tmp_path).cli_args())
    assert (args.command, args.progress, args.skip_existing, args.layers) == ("matte", "json", True, "fg,shadow")
    assert (args.frames, args.colorspace, args.model, args.motion_gap, args.ocio) == ("1001-1002", "ACEScg",
                                                                                      TEST_MODEL, 1, None)


def test_an_external_python_reports_each_frame_and_writes_the_core_pixels(tmp_path):
    from bgmatte_nuke.runner import run_external, run_in_process

    seen = []
    result = run_external(job(tmp_path / "ext"), sys.executable, lambda *a: seen.append(a), lambda: False)
    assert (result.exit_code, result.done, result.errors) == (0, 2, [])
    assert seen == [(1001, 1, 2, "done"), (1002, 2, 2, "done")]
    inside = run_in_process(job(tmp_path / "in"), lambda *a: None, lambda: False)
    assert inside.exit_code == 0
    a, spec = read_exr(tmp_path / "ext" / "matte.1002.exr")
    b, _ = read_exr(tmp_path / "in" / "matte.1002.exr")
    assert np.array_equal(channel(a, spec, "A"), channel(b, spec, "A"))


def test_an_external_run_that_fails_its_checks_returns_the_error_lines(tmp_path):
    from bgmatte_nuke.runner import run_external

    missing = tmp_path / "no_plate.exr"
    result = run_external(job(tmp_path, plate=missing), sys.executable, lambda *a: None, lambda: False)
    assert result.exit_code == 2
    assert any(line.startswith(f"{missing.as_posix()}: ") for line in result.errors)
    assert not any("Traceback" in line for line in result.errors)


def test_cancelling_an_external_run_interrupts_it_after_the_first_frame(tmp_path):
    from bgmatte_nuke.runner import run_external

    seen = []
    result = run_external(job(tmp_path, frames="1001-1012"), sys.executable, lambda *a: seen.append(a),
                          lambda: bool(seen))
    assert result.cancelled and result.exit_code == 130
    written = sorted(p.name for p in tmp_path.iterdir())
    assert 1 <= len(written) < 12 and all(name.startswith("matte.") for name in written)  # no temp files


def test_an_external_python_that_does_not_exist_is_named(tmp_path):
    from bgmatte_nuke.runner import run_external

    result = run_external(job(tmp_path), str(tmp_path / "python9"), lambda *a: None, lambda: False)
    assert result.exit_code == 2
    assert result.errors[0].startswith(f"{tmp_path / 'python9'}: cannot run the external Python")


def test_without_bgmatte_in_nukes_python_and_no_external_python_the_artist_is_told(monkeypatch, tmp_path):
    from bgmatte_nuke import runner

    monkeypatch.setattr(runner, "core_importable", lambda: False)
    result = runner.run_job(job(tmp_path), "auto", "", lambda *a: None, lambda: False)
    assert result.exit_code == 2 and "set the node's external python" in result.errors[0]


class Knob:
    def __init__(self, value):
        self._value = value

    def value(self):
        return self._value

    evaluate = value


class Root:
    def __init__(self, **knobs):
        self.knobs = {name: Knob(value) for name, value in knobs.items()}

    def knob(self, name):
        return self.knobs.get(name)


@pytest.mark.parametrize(("knobs", "expected"), [
    ({"colorManagement": "Nuke", "workingSpaceLUT": "linear"}, ("", "lin_rec709")),
    ({"colorManagement": "OCIO", "OCIO_config": "custom", "customOCIOConfigPath": "/show/config.ocio",
      "workingSpaceLUT": "ACEScg"}, ("/show/config.ocio", "ACEScg")),
    ({"colorManagement": "OCIO", "OCIO_config": "ocio://cg-config-latest", "workingSpaceLUT": "ACEScg"},
     ("ocio://cg-config-latest", "ACEScg")),
    ({"colorManagement": "OCIO", "OCIO_config": "aces_1.2", "workingSpaceLUT": "ACES - ACEScg"},
     ("", "ACES - ACEScg")),
])
def test_the_script_working_space_becomes_the_input_colourspace(monkeypatch, knobs, expected):
    from bgmatte_nuke.script_colour import script_colour

    monkeypatch.delenv("OCIO", raising=False)
    assert script_colour(Root(**knobs), nuke_executable="/nowhere/Nuke15.0") == expected


def test_an_ocio_environment_variable_wins_over_nukes_bundled_configs(monkeypatch):
    from bgmatte_nuke.script_colour import script_colour

    monkeypatch.setenv("OCIO", "/studio/config.ocio")
    root = Root(colorManagement="OCIO", OCIO_config="aces_1.2", workingSpaceLUT="ACES - ACEScg")
    assert script_colour(root) == ("/studio/config.ocio", "ACES - ACEScg")


def test_the_default_working_spaces_are_known_to_the_core(monkeypatch):
    from bgmatte.color import ColorPipeline, resolve_config

    monkeypatch.delenv("OCIO", raising=False)
    for name in ("lin_rec709", "ACES - ACEScg"):
        ColorPipeline(resolve_config(None), input_colorspace=name)
