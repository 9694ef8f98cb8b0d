"""Export the matting graph as TorchScript for Nuke's Inference node (make the .cat with CatFileCreator).

Example:
  bgmatte export --format torchscript -o bgmatte_matte.pt
  bgmatte export --format torchscript -o bgmatte_rec709.pt --colorspace "Linear Rec.709 (sRGB)"
  bgmatte export --format weights --model ./my_weights.pt --working-size 640 -o my_weights_640.pt
  bgmatte export --format torchscript -o bgmatte.pt --nuke-version 16

The file takes one packed tensor [1,6,H,W]: the source RGB then the clean plate RGB, scene-linear
in the Nuke script's working space (--colorspace, default ACEScg; its 3x3 matrix to ACEScg is baked
in), and returns [1,4,H,W] premultiplied RGBA in the same space. Its alpha is the one
`bgmatte matte --seg auto --motion none` gives for the same frame: gain match, soft segmentation,
generator, refinement and foreground all run inside the graph, for any frame size.
--format weights writes bgmatte's own weights file (for --model), with --working-size changing the
resolution the network runs at (longest side; larger is slower and keeps more detail). Only
TorchScript is offered for Nuke: ONNX cannot express the graph's run-time loops simply, and it is not
installed here. With --nuke-version the file is written only if that Nuke's libtorch is known to
read its TorchScript format version and to have every op it calls (else one line names them).
Loading the file in Nuke itself has not been verified on these machines.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from bgmatte.errors import InputError

FORMATS = ("torchscript", "weights")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The export options."""
    parser.add_argument("--format", default="torchscript", choices=FORMATS,
                        help="torchscript (Nuke's Inference node) or weights (bgmatte's own format, for --model)")
    parser.add_argument("-o", "--output", required=True, help="the .pt file to write")
    parser.add_argument("--model", default="default", help="registry name or weights file (default: shipped model)")
    parser.add_argument("--colorspace", default="ACEScg",
                        help="the Nuke script's scene-linear working space, baked in as a 3x3 matrix (default: ACEScg)")
    parser.add_argument("--ocio", help="OCIO config path or ocio:// name (default: $OCIO, else the bundled config)")
    parser.add_argument("--nuke-version", metavar="RELEASE",
                        help="write the file only if this Nuke's libtorch is known to run it: "
                             "14, 15.0 (torch 1.12.1), 15.1 or 16 (torch 2.1.1); default: no check")
    parser.add_argument("--working-size", type=int, metavar="PIXELS",
                        help="with --format weights: the model's working size (longest side) in the file written")


def run(args: argparse.Namespace) -> int:
    """Check the output path, build the graph, write it; returns the exit code."""
    from bgmatte.export.torchscript import export_torchscript
    from bgmatte.io import check_writable

    output = Path(args.output)
    if output.is_dir():
        raise InputError(output, "is a folder; name the .pt file to write")
    if args.working_size is not None and args.format != "weights":
        raise InputError("--working-size", "only applies with --format weights")
    check_writable(output.parent)
    if args.format == "weights":
        path = export_weights_file(output, args.model, args.working_size)
        print(f"bgmatte: wrote {args.model} to {path} as a weights file")
        return 0
    path = export_torchscript(output, model=args.model, colorspace=args.colorspace, ocio=args.ocio,
                              nuke_version=args.nuke_version)
    checked = f", checked for Nuke {args.nuke_version}" if args.nuke_version else ""
    print(f"bgmatte: exported {args.model} to {path} "
          f"(input [1,6,H,W] source+plate {args.colorspace}, output [1,4,H,W] premultiplied RGBA{checked})")
    return 0


def export_weights_file(output: Path, model: str, working_size: int | None) -> Path:
    """The model as a weights file, its working size optionally changed (provenance says from what, by what).

    Raises:
        InputError: the output is the weights file being read, or the working size is not positive.
    """
    from bgmatte.model import GeneratorConfig, Generator, create_model, save_weights

    source = create_model(model, device="cpu", precision="fp32")
    if source.weights_file is not None and output.resolve() == Path(source.weights_file).resolve():
        raise InputError(output, "is the weights file being read; write a new file")
    provenance = dict(source.provenance)
    config = source.config
    if working_size is not None:
        if working_size < 1:
            raise InputError("--working-size", f"must be a positive number of pixels, got {working_size}")
        provenance["working_size_changed"] = {"from": config.working_size, "to": working_size,
                                              "command": f"bgmatte export --format weights --working-size {working_size}"}
        config = GeneratorConfig.from_dict({**config.to_dict(), "working_size": working_size})
    rebuilt = Generator(config)
    rebuilt.load_state_dict(source.state_dict())
    return save_weights(output, rebuilt.eval(), provenance)
