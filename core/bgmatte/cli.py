"""Command line: parses arguments and calls the core; turns BgmatteError into one line and an exit code.

A reader of stdout or stderr that goes away (``bgmatte matte ... --progress json | head -1``, a
closed log pipe, ``2>&-``) never stops a run: printing to that stream stops, the work goes on, and
the exit code is the run's. An OSError that no check turned into a BgmatteError is still one
``bgmatte: error: <file>: <problem>`` line, exit 1.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Iterator

from bgmatte.errors import BgmatteError, InputErrors
from bgmatte.protocol import ERROR_PREFIX, EXIT_CANCELLED, EXIT_ERROR, error_line

# Each subcommand module defines add_arguments(parser) and run(args) -> int; its docstring is the help.
SUBCOMMANDS = {
    "matte": "bgmatte.matte_command",
    "eval": "bgmatte.eval.command",
    "benchmark": "bgmatte.eval.benchmark_command",
    "bench": "bgmatte.bench.command",
    "data": "bgmatte.data.command",
    "train": "bgmatte.train.command",
    "train-refiner": "bgmatte.train.refiner_command",
    "finetune": "bgmatte.train.finetune_command",
    "export": "bgmatte.export.command",
    "submit": "bgmatte.farm.command",
}


def report_error(error: BgmatteError) -> None:
    """Print one `bgmatte: error: <file>: <problem>` line per problem on stderr."""
    errors = error.errors if isinstance(error, InputErrors) else [error]
    for item in errors:
        print(error_line(item.subject, item.problem), file=sys.stderr)


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


class SafeStream:
    """A text stream whose reader may go away: a failed write stops output to it, never the caller.

    After the first failure (EPIPE, a closed file, no space), writes are dropped and the stream's
    file descriptor is pointed at the null device, so the interpreter's last flush and C libraries
    that write to it do not fail either.
    """

    def __init__(self, stream) -> None:
        self._stream = stream if stream is not None else open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
        self.broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                return self._stream.write(text)
            except (OSError, ValueError):
                self._give_up()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._give_up()

    def isatty(self) -> bool:
        try:
            return not self.broken and self._stream.isatty()
        except (OSError, ValueError):
            return False

    def _give_up(self) -> None:
        self.broken = True
        try:
            descriptor = self._stream.fileno()
            null = os.open(os.devnull, os.O_WRONLY)
        except (OSError, ValueError, AttributeError):
            return
        try:
            os.dup2(null, descriptor)
        except OSError:
            pass
        finally:
            os.close(null)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _open_missing_std_descriptors() -> None:
    """Open the null device on a closed fd 0, 1 or 2 (``2>&-``), so no file bgmatte opens becomes stderr."""
    for descriptor in (0, 1, 2):
        try:
            os.fstat(descriptor)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != descriptor:
                os.dup2(null, descriptor)
                os.close(null)


@contextlib.contextmanager
def guarded_streams() -> Iterator[None]:
    """sys.stdout and sys.stderr as SafeStreams for the duration (restored afterwards)."""
    _open_missing_std_descriptors()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = SafeStream(sys.stdout), SafeStream(sys.stderr)
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        sys.stdout, sys.stderr = saved


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `bgmatte` console script."""
    with guarded_streams():
        args = build_parser().parse_args(argv)  # --help, --version, usage errors: SystemExit as argparse does
        try:
            return int(args.run(args) or 0)
        except BgmatteError as error:
            report_error(error)
            return error.exit_code
        except KeyboardInterrupt:
            print(f"{ERROR_PREFIX}interrupted", file=sys.stderr)
            return EXIT_CANCELLED
        except OSError as error:
            subject = error.filename if error.filename is not None else "bgmatte"
            print(error_line(subject, (error.strerror or str(error)).lower()), file=sys.stderr)
            return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
