"""Specification of the Inference route's Nuke side: the bgmatte_Inference gizmo and the CatFileCreator helper.

Nuke cannot run here: the gizmo is read as text and its node stack followed (``set`` / ``push``,
the top of the stack is input 0), and the helper runs against a recording ``nuke`` module. Node
classes and knob names are those of Foundry's Inference reference and .cat File Creation guide and
of CatFileCreator / Inference nodes as NukeX saves them; that Nuke loads this gizmo is unverified.
"""
from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from nuke_standin import gizmo_wiring, parse_script

NUKE_FOLDER = Path(__file__).resolve().parents[1] / "nuke_gizmo"
GIZMO = NUKE_FOLDER / "gizmos" / "bgmatte_Inference.gizmo"
AWKWARD = Path("/show/sh 010/[v2] $SHOT/\"bgmatte\".pt")


@pytest.fixture(scope="module")
def gizmo():
    nodes = parse_script(GIZMO.read_text())
    assert [node.cls for node in nodes] == ["Gizmo"]
    return nodes[0]


@pytest.fixture(scope="module")
def nodes():
    return gizmo_wiring(GIZMO.read_text())


@pytest.fixture
def cattery(monkeypatch):
    """bgmatte_nuke.cattery imported from the Nuke folder, with no `nuke` module about."""
    monkeypatch.syspath_prepend(str(NUKE_FOLDER))
    monkeypatch.setitem(sys.modules, "nuke", None)
    for name in [m for m in sys.modules if m == "bgmatte_nuke" or m.startswith("bgmatte_nuke.")]:
        monkeypatch.delitem(sys.modules, name)
    import bgmatte_nuke.cattery

    return bgmatte_nuke.cattery


def test_the_gizmo_takes_source_then_cleanplate_and_is_named_after_its_file(gizmo, nodes):
    inputs = {int(node.knobs.get("number", "0")): name for name, (node, _) in nodes.items() if node.cls == "Input"}
    assert inputs == {0: "Source", 1: "CleanPlate"} and gizmo.knobs["inputs"] == "2"
    assert GIZMO.stem == "bgmatte_Inference"


def test_the_plate_rgb_goes_into_forward_u_forward_v_backward_u_of_the_source_stream(nodes, cattery):
    copy, (b, a) = nodes["BGM_PlateIntoMotion"]
    assert copy.cls == "Copy" and (b, a) == ("Source", "CleanPlate")  # Copy: input 0 is B (kept), input 1 is A
    pairs = [(copy.knobs[f"from{i}"], copy.knobs[f"to{i}"]) for i in range(3)]
    assert pairs == list(zip(("rgba.red", "rgba.green", "rgba.blue"), cattery.CHANNELS_IN[3:]))
    assert cattery.CHANNELS_IN[:3] == ("rgba.red", "rgba.green", "rgba.blue")  # the Source's own RGB
    assert copy.knobs["bbox"] == "B" and "from3" not in copy.knobs


def test_inference_reads_the_cat_file_knob_and_the_gpu_knobs_of_the_gizmo(gizmo, nodes):
    inference, inputs = nodes["BGM_Inference"]
    assert inference.cls == "Inference" and inputs == ["BGM_PlateIntoMotion"]
    assert inference.knobs["modelFile"] == "[value parent.cat_file]"
    assert inference.knobs["useGPUIfAvailable"] == "{{parent.use_gpu}}"
    assert inference.knobs["halfPrecision"] == "{{parent.half_precision}}"
    types_ = {knob.name: knob.type_id for knob in gizmo.user_knobs}
    assert (types_["cat_file"], types_["use_gpu"], types_["half_precision"]) == (2, 6, 6)  # file, bool, bool
    assert gizmo.knobs["use_gpu"] == "true" and "half_precision" not in gizmo.knobs  # off by default


def test_the_output_is_the_inference_result_kept_to_premultiplied_rgba(nodes):
    keep, inputs = nodes["BGM_KeepRGBA"]
    assert keep.cls == "Remove" and inputs == ["BGM_Inference"]
    assert (keep.knobs["operation"], keep.knobs["channels"]) == ("keep", "rgba")  # the plate leaves the stream
    assert nodes["Output1"][1] == ["BGM_KeepRGBA"]


def test_no_python_runs_in_the_gizmo(gizmo, nodes):
    assert not any(knob.type_id == 22 for knob in gizmo.user_knobs)  # no Python buttons
    scripted = {"onCreate", "knobChanged", "onDestroy", "beforeRender", "afterRender"}
    assert not scripted & (set(gizmo.knobs) | {k for node, _ in nodes.values() for k in node.knobs})


def test_the_cat_file_creator_knobs_name_the_pt_the_cat_and_the_channels_in_order(cattery):
    knobs = cattery.cat_file_creator_knobs(Path("/show/bgmatte.pt"), Path("/show/bgmatte.cat"))
    assert knobs == {"torchScriptFile": "/show/bgmatte.pt", "catFile": "/show/bgmatte.cat",
                     "channelsIn": "rgba.red,rgba.green,rgba.blue,forward.u,forward.v,backward.u",
                     "channelsOut": "rgba.red,rgba.green,rgba.blue,rgba.alpha", "modelId": "bgmatte"}


def test_the_nk_text_reads_back_as_one_cat_file_creator_with_those_knobs_even_for_awkward_paths(cattery):
    text = cattery.cat_file_creator_script(AWKWARD, AWKWARD.with_suffix(".cat"))
    nodes = parse_script(text)
    assert [node.cls for node in nodes] == ["CatFileCreator"]
    expected = cattery.cat_file_creator_knobs(AWKWARD, AWKWARD.with_suffix(".cat"))
    assert {name: nodes[0].knobs[name] for name in expected} == expected
    assert "[v2]" not in text and "\\[v2\\]" in text and "\\$SHOT" in text  # TCL would substitute them


def test_in_nukex_the_helper_makes_one_cat_file_creator_and_sets_its_knobs(cattery, monkeypatch):
    calls = []

    class Knob:
        def __init__(self, name):
            self.name = name

        def setValue(self, value):
            calls.append(("set", self.name, value))

    def create_node(cls, inpanel=True):
        calls.append(("create", cls, inpanel))
        return {name: Knob(name) for name in knobs}

    knobs = cattery.cat_file_creator_knobs("/a/b.pt", "/a/b.cat")
    monkeypatch.setitem(sys.modules, "nuke", types.SimpleNamespace(createNode=create_node))
    cattery.create_cat_file_creator("/a/b.pt", "/a/b.cat")
    assert calls[0] == ("create", "CatFileCreator", False)
    assert calls[1:] == [("set", name, value) for name, value in knobs.items()]


def test_the_command_line_writes_the_nk_beside_the_pt_with_absolute_paths(cattery, tmp_path, monkeypatch, capsys):
    (tmp_path / "bgmatte.pt").write_bytes(b"stand-in")
    monkeypatch.chdir(tmp_path)
    assert cattery.main(["bgmatte.pt"]) == 0
    written = tmp_path / "bgmatte_CatFileCreator.nk"
    knobs = parse_script(written.read_text())[0].knobs
    assert (knobs["torchScriptFile"], knobs["catFile"]) == ((tmp_path / "bgmatte.pt").as_posix(),
                                                          (tmp_path / "bgmatte.cat").as_posix())
    assert capsys.readouterr().out.startswith(f"wrote {written}: import it in NukeX")


def test_the_command_line_refuses_a_missing_pt(cattery, tmp_path, capsys):
    assert cattery.main([str(tmp_path / "missing.pt")]) == 2
    assert capsys.readouterr().err.startswith("usage: cattery.py EXPORTED.pt [OUTPUT.cat]")
    assert list(tmp_path.iterdir()) == []
