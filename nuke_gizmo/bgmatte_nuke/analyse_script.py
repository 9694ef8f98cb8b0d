"""Analyse every Background Matte node of a script without the GUI, e.g. as a farm pre-step.

    nuke -t <NUKE_PATH>/bgmatte_nuke/analyse_script.py shot.nk [NODE ...]

Renders each node's inputs, computes its matte into its cache folder, and exits non-zero when a
node could not be analysed or some frames failed. Then `nuke -x shot.nk` renders from the cache.
"""
from __future__ import annotations

import logging
import sys

import nuke

from bgmatte_nuke.bgmatte_protocol import EXIT_OK
from bgmatte_nuke.node import analyse
from bgmatte_nuke.render_check import is_matte_node


def main(argv: list[str]) -> int:
    """Open the script, analyse the named nodes (all Background Matte nodes by default); exit code."""
    if not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    nuke.scriptOpen(argv[0])
    nodes = [n for n in nuke.allNodes(recurseGroups=True) if is_matte_node(n)]
    if len(argv) > 1:
        nodes = [n for n in nodes if n.fullName() in argv[1:]]
    failed = 0
    for node in nodes:
        result = analyse(node)
        if result is None or result.exit_code != EXIT_OK:
            failed += 1
    print(f"bgmatte: analysed {len(nodes) - failed} of {len(nodes)} Background Matte nodes", file=sys.stderr)
    return 1 if failed or not nodes else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
