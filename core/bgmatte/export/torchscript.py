"""Write the matting graph as a TorchScript file for Nuke's CatFileCreator and Inference node.

Nuke loads the file with the libtorch it ships, older than the torch that writes it here. The
archive's code is compiled again by that libtorch when the .cat is made, with every op of every
function, dead branches included (torch's own ``F.interpolate`` carries all its modes), so
``--nuke-version`` checks the written archive against what the target's libtorch is known to
accept: its TorchScript file format version and the ops it has. ``NUKE_TARGETS`` says which torch
each Nuke release ships and how that is known; the README's Nuke section has the sources.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from bgmatte import __version__
from bgmatte.errors import InputError
from bgmatte.export.colour import working_matrices
from bgmatte.export.graph import INPUT_CHANNELS, OUTPUT_CHANNELS, MatteGraph

log = logging.getLogger(__name__)

METADATA_FILE = "bgmatte.json"
"""Name of the JSON record stored inside the TorchScript archive (read it with ``_extra_files``)."""

STRUCTURAL_NODES = frozenset({
    "prim::CallFunction", "prim::CallMethod", "prim::Constant", "prim::GetAttr", "prim::If",
    "prim::ListConstruct", "prim::Loop", "prim::TupleConstruct"})
"""IR nodes without an operator schema (calls, constants, control flow, containers): every TorchScript has them."""

GRAPH_OPS_IN_TORCH_1_12_1_AND_2_1_1 = frozenset({
    "aten::Float.Scalar", "aten::Float.Tensor", "aten::Int.Tensor", "aten::__and__.Tensor",
    "aten::__and__.bool", "aten::__contains__.str_list", "aten::__derive_index", "aten::__getitem__.t",
    "aten::__is__", "aten::__isnot__", "aten::__not__", "aten::__or__.Tensor", "aten::__or__.int",
    "aten::__range_length", "aten::_set_item.t", "aten::_upsample_bicubic2d_aa.vec",
    "aten::_upsample_bilinear2d_aa.vec", "aten::_upsample_nearest_exact1d.vec",
    "aten::_upsample_nearest_exact2d.vec", "aten::_upsample_nearest_exact3d.vec", "aten::abs",
    "aten::adaptive_avg_pool1d", "aten::adaptive_avg_pool2d", "aten::adaptive_avg_pool3d", "aten::add.Scalar",
    "aten::add.Tensor", "aten::add.float", "aten::add.int", "aten::add_.Scalar", "aten::all.dim", "aten::amax",
    "aten::append.t", "aten::arange", "aten::arange.start", "aten::argmax", "aten::avg_pool2d",
    "aten::batch_norm", "aten::bincount", "aten::bitwise_and.Tensor", "aten::bitwise_not",
    "aten::bucketize.Tensor", "aten::cat", "aten::ceil.float", "aten::clamp", "aten::clamp.Tensor",
    "aten::clone", "aten::constant_pad_nd", "aten::conv1d", "aten::conv2d", "aten::copy_", "aten::cpu",
    "aten::cummax", "aten::cumsum", "aten::dim", "aten::div", "aten::div.Scalar", "aten::div.Tensor",
    "aten::div.float", "aten::div.int", "aten::eq.float", "aten::eq.int", "aten::eq.str", "aten::equal",
    "aten::exp", "aten::eye", "aten::flatten.using_ints", "aten::flip", "aten::floor.float",
    "aten::floordiv.int", "aten::format", "aten::full_like", "aten::ge.Scalar", "aten::ge.Tensor",
    "aten::ge.float", "aten::ge.int", "aten::gt.Scalar", "aten::gt.Tensor", "aten::gt.float", "aten::gt.int",
    "aten::index.Tensor", "aten::index_put_", "aten::index_select", "aten::isfinite", "aten::kthvalue",
    "aten::le.Scalar", "aten::le.Tensor", "aten::le.float", "aten::le.int", "aten::len.t", "aten::linspace",
    "aten::list.t", "aten::log", "aten::log.float", "aten::log1p", "aten::log2", "aten::lt.Scalar",
    "aten::lt.float", "aten::lt.int", "aten::matmul", "aten::max", "aten::max.other", "aten::max_pool2d",
    "aten::mean", "aten::median.dim", "aten::min.other", "aten::minimum", "aten::mul.Scalar",
    "aten::mul.Tensor", "aten::mul.float", "aten::mul.float_int", "aten::mul.int", "aten::mul.int_float",
    "aten::mul.left_t", "aten::ne.int", "aten::neg", "aten::neg.float", "aten::neg.int", "aten::numel",
    "aten::ones", "aten::ones_like", "aten::pad", "aten::permute", "aten::pow.Scalar",
    "aten::pow.Tensor_Scalar", "aten::pow.float_int", "aten::quantile", "aten::quantile.scalar",
    "aten::reciprocal", "aten::relu", "aten::relu_", "aten::remainder.Scalar", "aten::remainder.int",
    "aten::repeat", "aten::repeat_interleave.self_int", "aten::reshape", "aten::round", "aten::select.int",
    "aten::sign", "aten::size", "aten::size.int", "aten::slice.Tensor", "aten::slice.t", "aten::sqrt",
    "aten::sqrt.float", "aten::stack", "aten::sub.Scalar", "aten::sub.Tensor", "aten::sub.float",
    "aten::sub.int", "aten::sum", "aten::sum.dim_IntList", "aten::t", "aten::tanh", "aten::tensor",
    "aten::tensor.bool", "aten::tensor.float", "aten::to.dtype", "aten::to.prim_Device", "aten::unflatten.int",
    "aten::unsqueeze", "aten::upsample_bicubic2d.vec", "aten::upsample_bilinear2d",
    "aten::upsample_bilinear2d.vec", "aten::upsample_linear1d.vec", "aten::upsample_nearest1d.vec",
    "aten::upsample_nearest2d.vec", "aten::upsample_nearest3d.vec", "aten::upsample_trilinear3d.vec",
    "aten::view", "aten::where.self", "aten::zeros", "aten::zeros_like", "prim::NumToTensor.Scalar",
    "prim::RaiseException", "prim::TupleUnpack", "prim::Uninitialized", "prim::device", "prim::dtype",
    "prim::max.float", "prim::max.int", "prim::min.self_int", "prim::unchecked_cast"})
"""The ops of this graph (every function of the archive, all models, with and without the learned
refiner) that the operator registries of the torch 1.12.1 and 2.1.1 wheels hold
(``torch._C._jit_get_all_schemas()``), as ``name.overload``. Left out on purpose:
``aten::_upsample_lanczos2d_aa.vec`` (in neither: newer than both; a scripted ``F.interpolate``
calls it, so the graph calls the bilinear op itself, ``bgmatte.filters.upsample_bilinear``) and
``aten::isinf.float`` (in both, but it returns an int there, so ``math.isinf`` on a float fails at
run time with "isBool() INTERNAL ASSERT FAILED"; the graph compares ``level == float("inf")``)."""


@dataclass(frozen=True)
class NukeTarget:
    """The libtorch a Nuke release loads .cat files with, and what its loader is known to accept.

    Attributes:
        releases: the Nuke releases that ship it, as said to the user.
        torch: its torch version.
        max_file_format: the highest TorchScript file format version it reads
            (``kMaxSupportedFileFormatVersion`` in its ``caffe2/serialize/versions.h``).
        ops: the ops (``name.overload``) known to work in it; any other op is refused.
    """

    releases: str
    torch: str
    max_file_format: int
    ops: frozenset[str]


NUKE_TARGETS = {
    # Foundry's .cat File Creation guide (Nuke 14.0 and 15.0 editions): Nuke 14 uses torch 1.12.1.
    "14": NukeTarget("Nuke 14.x", "1.12.1", 10, GRAPH_OPS_IN_TORCH_1_12_1_AND_2_1_1),
    "15.0": NukeTarget("Nuke 15.0", "1.12.1", 10, GRAPH_OPS_IN_TORCH_1_12_1_AND_2_1_1),
    # Not from Foundry: reported by Nuke tool authors (torch 2.1.1 to trace for Nuke 15.1 and later).
    "15.1": NukeTarget("Nuke 15.1", "2.1.1", 10, GRAPH_OPS_IN_TORCH_1_12_1_AND_2_1_1),
    "16": NukeTarget("Nuke 16.x", "2.1.1", 10, GRAPH_OPS_IN_TORCH_1_12_1_AND_2_1_1),
}
"""``--nuke-version`` values; 15.0 and 15.1 ship different torch, so "15" alone is refused."""


def build_graph(model: str = "default", colorspace: str = "ACEScg", ocio: str | None = None) -> torch.jit.ScriptModule:
    """Build and script the graph for one model and one working space, on the CPU in float32.

    Args:
        model: registry name or weights file, as ``bgmatte matte --model``.
        colorspace: the Nuke script's scene-linear working space (its matrix to ACEScg is baked in).
        ocio: OCIO config path or ``ocio://`` name; None = ``$OCIO``, else the bundled config.

    Returns:
        The scripted MatteGraph in eval mode: (1, 6, H, W) -> (1, 4, H, W).

    Raises:
        InputError: unknown model or colourspace, or a colourspace that is not scene-linear.
    """
    from bgmatte.model import create_model

    to_working, from_working = working_matrices(colorspace, ocio)
    generator = create_model(model, device="cpu", precision="fp32").to(memory_format=torch.contiguous_format)
    graph = MatteGraph(generator, to_working, from_working).eval()
    return torch.jit.script(graph)


def nuke_target(version: str) -> NukeTarget:
    """The target of ``--nuke-version``, refused before anything is built when it is not one we know."""
    if version not in NUKE_TARGETS:
        raise InputError("--nuke-version", f"{version!r} is not one of {', '.join(NUKE_TARGETS)} "
                                           "(15.0 and 15.1 ship different torch versions)")
    return NUKE_TARGETS[version]


def archive_format_version(path: str | Path) -> int:
    """The TorchScript file format version an archive records, in ``<name>/.data/version`` (before
    format 6: ``<name>/version``); the only version an archive carries (there is no producer record)."""
    with zipfile.ZipFile(path) as archive:
        records = {name.split("/", 1)[-1]: name for name in archive.namelist()}
        record = records.get(".data/version") or records["version"]
        return int(archive.read(record).decode().strip())


def _nodes(nodes) -> Iterator[torch._C.Node]:
    """Every node of a graph's node list, and of the blocks nested in them (both branches of an if)."""
    for node in nodes:
        yield node
        for block in node.blocks():
            yield from _nodes(block.nodes())


def _op_key(node: torch._C.Node) -> str:
    """``name.overload`` of the operator a node calls, or its kind when it has no schema."""
    schema = node.schema()
    if schema == "(no schema)":
        return node.kind()
    parsed = torch._C.parse_schema(schema)
    return f"{parsed.name}.{parsed.overload_name}" if parsed.overload_name else parsed.name


def archive_ops(path: str | Path) -> set[str]:
    """Every op the archive's code calls, dead branches included: what a loader has to resolve.

    The archive is compiled into a fresh compilation unit, as ``torch.jit.load`` does, and each
    function's graph is read before any optimisation (an inlined graph drops untaken branches).
    """
    unit = torch._C.CompilationUnit()
    torch._C.import_ir_module(unit, str(path), None, {}, False)
    return {_op_key(node) for function in unit.get_functions() for node in _nodes(function.graph.nodes())}


def nuke_problems(path: str | Path, target: NukeTarget) -> list[str]:
    """What keeps the target's libtorch from loading or running the archive, one phrase each (none: fine).

    A format version it cannot read is the only problem told: its loader stops there, before any op.
    """
    version = archive_format_version(path)
    if version > target.max_file_format:
        return [f"TorchScript file format version {version} (it reads up to {target.max_file_format})"]
    unknown = sorted(archive_ops(path) - target.ops - STRUCTURAL_NODES)
    return [f"{', '.join(unknown)} (not among the ops known to work there)"] if unknown else []


def check_for_nuke(path: str | Path, version: str) -> NukeTarget:
    """Refuse, in one line, an archive that the libtorch of ``--nuke-version`` is not known to run."""
    target = nuke_target(version)
    problems = nuke_problems(path, target)
    if problems:
        raise InputError(f"--nuke-version {version}",
                         f"torch {torch.__version__} wrote a file that libtorch {target.torch} ({target.releases}) "
                         f"cannot run: {'; '.join(problems)}; see the Nuke section of the README")
    return target


def export_torchscript(output: str | Path, model: str = "default", colorspace: str = "ACEScg",
                       ocio: str | None = None, nuke_version: str | None = None) -> Path:
    """Export the graph to ``output`` atomically (its folder is created), with a ``bgmatte.json`` record inside.

    Args:
        output: the ``.pt`` file to write.
        model, colorspace, ocio: see ``build_graph``.
        nuke_version: a key of ``NUKE_TARGETS``: the file is written only if that Nuke's libtorch
            is known to read its format and to have every op it calls. None: no check.

    Returns:
        The path written.

    Raises:
        InputError: as ``build_graph``; or an unknown ``nuke_version``, or a file it cannot run.
    """
    if nuke_version is not None:
        nuke_target(nuke_version)
    scripted = build_graph(model, colorspace, ocio)
    record = {"bgmatte_version": __version__, "torch": torch.__version__, "nuke_version": nuke_version,
              "model": model, "colorspace": colorspace, "ocio": ocio,
              "input": f"[1,{INPUT_CHANNELS},H,W] source RGB then clean plate RGB, scene-linear {colorspace}",
              "output": f"[1,{OUTPUT_CHANNELS},H,W] premultiplied RGB ({colorspace}) and alpha",
              "equivalent": "bgmatte matte --seg auto --motion none"}
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    # Saved under its final name in a hidden folder beside it, then moved: the archive's inner
    # folder takes the file's name, and a reader never sees half a file.
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        staged = staging / output.name
        torch.jit.save(scripted, str(staged), _extra_files={METADATA_FILE: json.dumps(record, indent=1)})
        if nuke_version is not None:
            check_for_nuke(staged, nuke_version)
        os.replace(staged, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("exported %s for %s to %s", model, colorspace, output)
    return output
