"""For TDs: process every Faceplate node of a script and render its Writes.

From Python inside Nuke::

    import faceplate_nuke.td
    faceplate_nuke.td.render_script("/shots/sh010/comp.nk", 1001, 1100)

From a shell (``nuke -t`` eats a trailing frame range, so frames are a named option)::

    nuke -t $FACEPLATE_NUKE/faceplate_nuke/td.py --script comp.nk --frames 1001-1100
"""

from __future__ import annotations

import argparse
import sys

import nuke
from faceplate_client.frames import parse_frame_range

from faceplate_nuke.actions import show
from faceplate_nuke.callbacks import faceplate_above
from faceplate_nuke.errors import NodeError
from faceplate_nuke.registry import NODE_CLASSES
from faceplate_nuke.stages import Run


def faceplate_nodes() -> list[nuke.Node]:
    """Every Faceplate node of the open script, upstream before downstream."""
    ordered: list[nuke.Node] = []
    for write in nuke.allNodes("Write"):
        for node in faceplate_above(write):
            if node not in ordered:
                ordered.append(node)
    for node in nuke.allNodes():
        if node.Class() in NODE_CLASSES and node not in ordered:
            ordered.append(node)
    return ordered


def process_all(first: int, last: int) -> list[str]:
    """Bring every Faceplate node's cache up to date for ``first``–``last``."""
    done = []
    for node in faceplate_nodes():
        run = Run(node, interactive=False)
        frames = [f for f in range(first, last + 1) if f in run.bounds]
        show(node, run, run.process(frames))
        done.append(node.name())
    return done


def render_script(script: str, first: int, last: int, process: bool = True) -> list[str]:
    """Open ``script``, process its Faceplate nodes and render every enabled Write."""
    nuke.scriptOpen(script)
    if process:
        process_all(first, last)
    rendered = []
    for write in nuke.allNodes("Write"):
        if not write["disable"].value():
            nuke.execute(write, first, last, 1)
            rendered.append(write.name())
    return rendered


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="td.py", description=__doc__.splitlines()[0])
    parser.add_argument("--script", required=True, help="the .nk to render")
    parser.add_argument("--frames", required=True, help="FIRST-LAST, e.g. 1001-1100")
    parser.add_argument("--no-process", action="store_true",
                        help="render only (the render callbacks still fill missing frames)")
    args = parser.parse_args(argv)
    try:
        wanted = parse_frame_range(args.frames)
    except ValueError as exc:
        parser.error(f"--frames: {exc}")
    frames = (wanted[0], wanted[-1])
    try:
        written = render_script(args.script, frames[0], frames[1], not args.no_process)
    except (NodeError, RuntimeError) as exc:
        print(f"faceplate: {exc}", file=sys.stderr)
        return 2
    print(f"faceplate: rendered {', '.join(written) or 'no Write nodes'} "
          f"for {frames[0]}-{frames[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
