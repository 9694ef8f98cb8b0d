"""CatFileCreator settings for a `bgmatte export` file: as knob values, as .nk text, or as a node in NukeX.

The exported graph takes the Source RGB then the CleanPlate RGB as one 6-channel tensor and returns
premultiplied RGBA at the input's size. CatFileCreator only takes Nuke's predefined channels, so
the plate travels in forward.u, forward.v, backward.u, as the bgmatte_Inference gizmo's Copy puts
it there (the layout Foundry's .cat File Creation guide shows in "Models with Multiple Inputs").

Knob names as in that guide's CatFileCreator (Torchscript File, Cat File, Channels In, Channels Out,
Model Id) and as NukeX saves them in .nk files: torchScriptFile, catFile, channelsIn, channelsOut,
modelId. Output Scale stays at its default 1 (the output is the input's size), so it is not written.

Outside Nuke (no `nuke` module needed)::

    python nuke_gizmo/bgmatte_nuke/cattery.py bgmatte.pt [bgmatte.cat]

writes ``bgmatte_CatFileCreator.nk`` beside the .pt: in NukeX, File > Import Script (or paste its
text into the Node Graph), then press "Create .cat file and Inference" on the node. In NukeX's Script Editor: ``create_cat_file_creator(pt, cat)``.
"""
from __future__ import annotations

import sys
from pathlib import Path

CHANNELS_IN = ("rgba.red", "rgba.green", "rgba.blue", "forward.u", "forward.v", "backward.u")
"""The graph's 6 input channels in order: Source RGB, then CleanPlate RGB in the motion-vector channels."""
CHANNELS_OUT = ("rgba.red", "rgba.green", "rgba.blue", "rgba.alpha")
"""The graph's 4 output channels: premultiplied RGB and alpha."""
MODEL_ID = "bgmatte"
NODE_NAME = "BGM_CatFileCreator"
_TCL_SPECIAL = '\\"[]$'


def cat_file_creator_knobs(torchscript_file: str | Path, cat_file: str | Path, model_id: str = MODEL_ID) -> dict[str, str]:
    """The CatFileCreator knob values (name -> value) that make a .cat of the exported .pt."""
    return {"torchScriptFile": Path(torchscript_file).as_posix(), "catFile": Path(cat_file).as_posix(),
            "channelsIn": ",".join(CHANNELS_IN), "channelsOut": ",".join(CHANNELS_OUT), "modelId": model_id}


def _tcl_quoted(value: str) -> str:
    """A knob value as a double-quoted .nk word: backslash before what TCL would substitute or end on."""
    return '"' + "".join("\\" + c if c in _TCL_SPECIAL else c for c in value) + '"'


def cat_file_creator_script(torchscript_file: str | Path, cat_file: str | Path, model_id: str = MODEL_ID) -> str:
    """.nk text of one CatFileCreator node with those knobs, to open or paste in NukeX."""
    knobs = cat_file_creator_knobs(torchscript_file, cat_file, model_id)
    lines = [f" {name} {_tcl_quoted(value)}" for name, value in knobs.items()]
    return "CatFileCreator {\n" + "\n".join(lines) + f"\n name {NODE_NAME}\n}}\n"


def create_cat_file_creator(torchscript_file: str | Path, cat_file: str | Path, model_id: str = MODEL_ID):
    """In NukeX: a CatFileCreator node with those knobs set; press its Create .cat file button."""
    import nuke

    node = nuke.createNode("CatFileCreator", inpanel=False)
    for name, value in cat_file_creator_knobs(torchscript_file, cat_file, model_id).items():
        node[name].setValue(value)
    return node


def write_cat_file_creator_script(torchscript_file: Path, cat_file: Path | None = None) -> Path:
    """Write ``<pt stem>_CatFileCreator.nk`` beside the .pt, with absolute paths; the .cat defaults to beside it."""
    torchscript_file = torchscript_file.resolve()
    cat_file = (cat_file or torchscript_file.with_suffix(".cat")).resolve()
    script = torchscript_file.with_name(f"{torchscript_file.stem}_CatFileCreator.nk")
    script.write_text(cat_file_creator_script(torchscript_file, cat_file))
    return script


def main(argv: list[str] | None = None) -> int:
    """``cattery.py PT [CAT]``: write the CatFileCreator .nk for an exported file; returns the exit code."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2) or not Path(args[0]).is_file():
        print("usage: cattery.py EXPORTED.pt [OUTPUT.cat]  (the .pt must exist)", file=sys.stderr)
        return 2
    script = write_cat_file_creator_script(Path(args[0]), Path(args[1]) if len(args) == 2 else None)
    print(f"wrote {script}: import it in NukeX and press 'Create .cat file and Inference' on {NODE_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
