"""The contract between ``bgmatte matte`` and what runs it: exit codes, error lines, progress lines, argv.

Hosts (Blender, Nuke) and the farm start ``bgmatte matte`` as a subprocess and read it back:

* exit codes: EXIT_OK every frame written or kept, EXIT_ERROR an unexpected failure, EXIT_INPUT a
  check before writing failed, EXIT_FRAMES some frames failed, EXIT_CANCELLED interrupted;
* stderr: one ``bgmatte: error: <subject>: <problem>`` line per problem (``error_line``,
  ``parse_error_line``);
* stdout with ``--progress json`` or ``farm``: one JSON object per finished frame
  (``progress_json``, ``parse_progress``), plus a ``Progress: N%`` line in ``farm`` mode;
* argv: ``matte_command_line`` spells a run's settings as ``bgmatte matte`` options.

Standard library only, so it imports where bgmatte does not (Blender's and Nuke's Python). This
file is the one implementation: blender_addon/bgmatte_protocol.py and
nuke_gizmo/bgmatte_nuke/bgmatte_protocol.py are verbatim copies (tests/test_protocol.py checks
they are byte-identical). Edit only core/bgmatte/protocol.py, then refresh the copies with
``make protocol-copies``.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

EXIT_OK, EXIT_ERROR, EXIT_INPUT, EXIT_FRAMES, EXIT_CANCELLED = 0, 1, 2, 3, 130
ERROR_PREFIX = "bgmatte: error: "
PROGRESS_MODES = ("auto", "bar", "json", "farm", "lines", "none")
JSON_PROGRESS, FARM_PROGRESS = "json", "farm"

# MatteSettings fields and the bgmatte matte option of each, in command-line order.
SETTING_OPTIONS = (
    ("colorspace", "--colorspace"),
    ("output_colorspace", "--output-colorspace"),
    ("ocio", "--ocio"),
    ("seg", "--seg"),
    ("motion", "--motion"),
    ("motion_gap", "--motion-gap"),
    ("garbage", "--garbage"),
    ("core", "--core"),
    ("align", "--align"),
    ("gain_match", "--gain-match"),
    ("layers", "--layers"),
    ("flatten", "--flatten"),
    ("repair_nonfinite", "--repair-nonfinite"),
)


def error_line(subject: object, problem: str) -> str:
    """The stderr line of one problem: ``bgmatte: error: <subject>: <problem>``."""
    return f"{ERROR_PREFIX}{subject}: {problem}"


def parse_error_line(line: str) -> str | None:
    """The ``<subject>: <problem>`` text of an error line, or None for any other line."""
    if not line.startswith(ERROR_PREFIX):
        return None
    return line[len(ERROR_PREFIX):].rstrip()


def error_messages(lines: Iterable[str]) -> list[str]:
    """The ``<subject>: <problem>`` texts of the error lines among ``lines`` (stderr), in order."""
    return [message for message in map(parse_error_line, lines) if message is not None]


@dataclass(frozen=True)
class ProgressEvent:
    """One finished frame, as ``--progress json`` prints it; ``reason`` is set for a failed frame."""

    frame: int
    done: int
    total: int
    status: str
    seconds: float
    output: str
    reason: str = ""


def progress_json(event: ProgressEvent) -> str:
    """The JSON line of one finished frame (``reason`` only when there is one)."""
    record = {"frame": event.frame, "done": event.done, "total": event.total, "status": event.status,
              "seconds": round(event.seconds, 4), "output": event.output}
    if event.reason:
        record["reason"] = event.reason
    return json.dumps(record)


def parse_progress(line: str) -> ProgressEvent | None:
    """The frame a ``--progress json`` stdout line reports, or None for any other line."""
    try:
        record = json.loads(line)
        return ProgressEvent(int(record["frame"]), int(record["done"]), int(record["total"]),
                             str(record["status"]), float(record["seconds"]), str(record["output"]),
                             str(record.get("reason", "")))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def farm_progress_line(done: int, total: int) -> str:
    """The ``Progress: N%`` line Deadline's CommandLine plugin reads as task progress."""
    return f"Progress: {100 * done // max(total, 1)}%"


def progress_text(event: ProgressEvent) -> str:
    """The fixed-format line of one finished frame for consoles and logs (``--progress lines``)."""
    return f"bgmatte: frame {event.frame} {event.status} {event.done}/{event.total} {event.seconds:.3f}s {event.output}"


def _option(flag: str, value: object) -> list[str]:
    """One option as argv words: nothing for None, "", False or (); a bare flag for True; a list joined by commas."""
    if value is None or value is False or value == "" or value == ():
        return []
    if value is True:
        return [flag]
    if isinstance(value, (tuple, list)):
        return [flag, ",".join(str(item) for item in value)]
    return [flag, str(value)]


def settings_arguments(settings: object) -> list[str]:
    """The options of a MatteSettings, or of a mapping of some of its fields (only those given)."""
    values = settings if isinstance(settings, Mapping) else vars(settings)
    return [word for name, flag in SETTING_OPTIONS if name in values for word in _option(flag, values[name])]


def matte_command_line(settings: object, input: str, plate: str, output: str, *, frames: str | None = None,
                       within: str | None = None, threads: int | None = None, skip_existing: bool = False,
                       progress: str | None = None, model: str | None = None, device: str | None = None,
                       executable: Sequence[str] = ("bgmatte",), extra: Sequence[str] = ()) -> list[str]:
    """The argv of one ``bgmatte matte`` run: ``executable`` words, ``matte``, the run's options, then ``extra``."""
    return [*executable, "matte", input, "--plate", plate, "-o", output,
            *_option("--frames", frames), *_option("--within", within), *_option("--threads", threads),
            *_option("--skip-existing", skip_existing), *_option("--progress", progress),
            *settings_arguments(settings), *_option("--model", model), *_option("--device", device), *extra]
