"""Command line: parses arguments and calls the core; turns BgmatteError into one line and an exit code."""
from __future__ import annotations

import argparse
import importlib
import sys

from bgmatte.errors import BgmatteError, InputErrors

# Each subcommand module defines add_arguments(parser) and run(args) -> int; its docstring is the help.
SUBCOMMANDS = {
    "matte": "bgmatte.matte_command",
    "eval": "bgmatte.eval.command",
    "benchmark": "bgmatte.eval.benchmark_command",
    "bench": "bgmatte.bench.command",
    "data": "bgmatte.data.command",
    "train": "bgmatte.train.command",
    "finetune": "bgmatte.train.finetune_command",
    "export": "bgmatte.export.command",
    "submit": "bgmatte.farm.command",
}


def report_error(error: BgmatteError) -> None:
    """Print one `bgmatte: error: <file>: <problem>` line per problem on stderr."""
    errors = error.errors if isinstance(error, InputErrors) else [error]
    for item in errors:
        print(f"bgmatte: error: {item.subject}: {item.problem}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per available subcommand."""
    parser = argparse.ArgumentParser(
        prog="bgmatte", description="Background matting for VFX: premultiplied RGBA EXR mattes from a frame "
                                    "sequence and its clean plate. Run `bgmatte COMMAND --help` for each command.")
    from bgmatte import __version__

    parser.add_argument("--version", action="version", version=f"bgmatte {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("bgmatte"):
                continue
            raise
        doc = (module.__doc__ or "").strip()
        summary = doc.splitlines()[0] if doc else name
        p = sub.add_parser(name, help=summary, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `bgmatte` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except BgmatteError as error:
        report_error(error)
        return error.exit_code
    except KeyboardInterrupt:
        print("bgmatte: error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
