"""Specification of the Background Matte gizmo file, read as text (Nuke itself cannot run here)."""
from __future__ import annotations

from pathlib import Path

import pytest

from nuke_standin import parse_script

GIZMO = Path(__file__).resolve().parents[1] / "nuke_gizmo" / "gizmos" / "bgmatte_BackgroundMatte.gizmo"
KNOB_TYPES = {"analyse": 22, "model": 1, "device": 4, "colorspace": 1, "ocio_config": 2, "motion_gap": 3,
              "first_frame": 3, "last_frame": 3, "cache": 2, "plate_still": 6, "run_in": 4, "python": 2,
              "status": 26, "bgmatte_node": 6, "view": 4, "stale": 26, "check_stale": 22, "analysed_status": 1}


@pytest.fixture(scope="module")
def gizmo():
    nodes = parse_script(GIZMO.read_text())
    assert [node.cls for node in nodes] == ["Gizmo"]
    return nodes[0]


def test_the_node_class_is_the_prefixed_file_name():
    assert GIZMO.stem == "bgmatte_BackgroundMatte"


def test_inputs_keep_source_cleanplate_roto_first_then_garbage_and_core(gizmo):
    inputs = {int(node.knobs.get("number", "0")): node.name for node in gizmo.children if node.cls == "Input"}
    assert inputs == {0: "Source", 1: "CleanPlate", 2: "Roto", 3: "Garbage", 4: "Core"}
    assert gizmo.knobs["inputs"] == "5"


def test_the_view_knob_offers_final_matte_status_shadow_and_foreground(gizmo):
    view = next(knob for knob in gizmo.user_knobs if knob.name == "view")
    assert view.menu == ["final", "matte", "status", "shadow", "foreground"]
    assert gizmo.child("BGM_View").cls == "Switch"
    assert gizmo.child("BGM_View").knobs["which"] == "{{parent.view}}"
    assert gizmo.knobs["label"] == "[value status]"  # the stale line is written into status


def test_knobs_cover_model_device_colour_motion_gap_frame_range_and_cache(gizmo):
    types = {knob.name: knob.type_id for knob in gizmo.user_knobs}
    assert {name: types.get(name) for name in KNOB_TYPES} == KNOB_TYPES
    device = next(knob for knob in gizmo.user_knobs if knob.name == "device")
    assert device.menu == ["auto", "cpu", "cuda"]
    assert gizmo.knobs["model"] == "default" and gizmo.knobs["motion_gap"] == "1"


def test_the_output_reads_the_cached_matte_raw_over_the_node_frame_range(gizmo):
    read = gizmo.child("BGM_CacheRead")
    assert read.cls == "Read"
    assert read.knobs["file"] == "[value parent.cache]/matte/matte.####.exr"
    assert read.knobs["raw"] == "true"  # no colour conversion: the cache is in the working space
    assert read.knobs["first"] == "{{parent.first_frame}}" and read.knobs["last"] == "{{parent.last_frame}}"
    assert (read.knobs["before"], read.knobs["after"]) == ("hold", "hold")
    names = [node.name for node in gizmo.children]
    assert names.index("Output1") == names.index("BGM_View") + 1  # Output takes the view Switch off the stack


def test_callbacks_call_the_bgmatte_nuke_module_and_compile(gizmo):
    analyse = next(knob for knob in gizmo.user_knobs if knob.name == "analyse")
    check = next(knob for knob in gizmo.user_knobs if knob.name == "check_stale")
    scripts = {"analyse": analyse.options["T"], "onCreate": gizmo.knobs["onCreate"], "check": check.options["T"]}
    assert scripts["check"].splitlines() == ["import bgmatte_nuke.stale",
                                             "bgmatte_nuke.stale.refresh(nuke.thisNode())"]
    assert scripts["analyse"].splitlines() == ["import bgmatte_nuke.node",
                                               "bgmatte_nuke.node.analyse(nuke.thisNode())"]
    assert scripts["onCreate"].splitlines() == ["import bgmatte_nuke.node", "bgmatte_nuke.node.on_create()"]
    for name, script in scripts.items():
        compile(script, name, "exec")


def test_the_marker_and_the_analyse_status_knobs_are_hidden(gizmo):
    hidden = next(knob for knob in gizmo.user_knobs if knob.name == "analysed_status")
    assert "+INVISIBLE" in hidden.flags
    marker = next(knob for knob in gizmo.user_knobs if knob.name == "bgmatte_node")
    assert "+INVISIBLE" in marker.flags and gizmo.knobs["bgmatte_node"] == "true"
