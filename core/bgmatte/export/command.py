"""Export the matting graph as TorchScript for Nuke's Inference node (make the .cat with CatFileCreator).

Example:
  bgmatte export --format torchscript -o bgmatte_matte.pt
  bgmatte export --format torchscript -o bgmatte_rec709.pt --colorspace "Linear Rec.709 (sRGB)"
  bgmatte export --format torchscript -o bgmatte.pt --nuke-version 16

The file takes one packed tensor [1,6,H,W]: the source RGB then the clean plate RGB, scene-linear
in the Nuke script's working space (--colorspace, default ACEScg; its 3x3 matrix to ACEScg is baked
in), and returns [1,4,H,W] premultiplied RGBA in the same space. Its alpha is the one
`bgmatte matte --seg auto --motion none` gives for the same frame: gain match, soft segmentation,
generator, refinement and foreground all run inside the graph, for any frame size.
Only TorchScript is offered: ONNX cannot express the graph's run-time loops simply, and it is not
installed here. With --nuke-version the file is written only if that Nuke's libtorch is known to
read its TorchScript format version and to have every op it calls (else one line names them).
Loading the file in Nuke itself has not been verified on these machines.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from bgmatte.errors import InputError

FORMATS = ("torchscript",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The export options."""
    parser.add_argument("--format", default="torchscript", choices=FORMATS, help="file format (torchscript)")
    parser.add_argument("-o", "--output", required=True, help="the .pt file to write")
    parser.add_argument("--model", default="default", help="registry name or weights file (default: shipped model)")
    parser.add_argument("--colorspace", default="ACEScg",
                        help="the Nuke script's scene-linear working space, baked in as a 3x3 matrix (default: ACEScg)")
    parser.add_argument("--ocio", help="OCIO config path or ocio:// name (default: $OCIO, else the bundled config)")
    parser.add_argument("--nuke-version", metavar="RELEASE",
                        help="write the file only if this Nuke's libtorch is known to run it: "
                             "14, 15.0 (torch 1.12.1), 15.1 or 16 (torch 2.1.1); default: no check")


def run(args: argparse.Namespace) -> int:
    """Check the output path, build the graph, write it; returns the exit code."""
    from bgmatte.export.torchscript import export_torchscript
    from bgmatte.io import check_writable

    output = Path(args.output)
    if output.is_dir():
        raise InputError(output, "is a folder; name the .pt file to write")
    check_writable(output.parent)
    path = export_torchscript(output, model=args.model, colorspace=args.colorspace, ocio=args.ocio,
                              nuke_version=args.nuke_version)
    checked = f", checked for Nuke {args.nuke_version}" if args.nuke_version else ""
    print(f"bgmatte: exported {args.model} to {path} "
          f"(input [1,6,H,W] source+plate {args.colorspace}, output [1,4,H,W] premultiplied RGBA{checked})")
    return 0
