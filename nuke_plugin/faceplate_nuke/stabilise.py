"""Export Stabilised: the face held still for paint, and the graph that puts the paint back.

The engine's ``stabilise_shot`` writes the track's aligned face (``face.####.exr``, the plate's
working-space values) and the ST maps beside it; here the artist gets::

    Read (still face) → RotoPaint (paint here) → Premult ─┐ src
    Read (plate_to_face map) ─────────────────── stmap ─→ STMap → Merge (over) ← plate (B)

Only what is painted (its alpha) lands on the plate, following the face as it moves. Both Reads
are raw: the face already holds the plate's values and a map must never be colour-converted.
"""

from __future__ import annotations

import os
from typing import Callable

import nuke

from . import engine, graph
from .errors import NodeError
from .roto import create_beside
from .stages import Run
from .training import forward_progress

Progress = Callable[[str, int, int], None]
FACE_FILE = "face.####.exr"  # the ST maps are face_to_plate.####.exr and plate_to_face.####.exr
ROW = 60  # node-graph spacing


def export_stabilised(node: nuke.Node, alignments_path: str, progress: Progress
                      ) -> dict[str, nuke.Node]:
    """Write the still face of the node's track and build the paint-back graph."""
    folder = str(graph.value(node, "stabilise_folder"))
    if not folder:
        raise NodeError(f"{node.name()}: set the stabilised folder knob")
    track = int(graph.value(node, "track")) if graph.value(node, "select_mode") == "track" \
        else -1
    run = Run(node)
    out = os.path.join(os.path.abspath(folder), FACE_FILE)
    summary = engine.call(run.address, "stabilise_shot", {
        "shot_dir": os.path.dirname(alignments_path), "out": out,
        "size": int(graph.value(node, "stabilise_size")), "track": track},
        on_progress=forward_progress(progress)).params
    first, last = int(summary["first"]), int(summary["last"])
    plate = run.nodes["FaceDetect"].input(0)
    if plate is None:
        raise NodeError(f"{run.nodes['FaceDetect'].name()}: connect the plate")

    def add(cls: str, label: str, dx: int, dy: int, *inputs: nuke.Node) -> nuke.Node:
        new = create_beside(node, cls, label, dx, wired=False)
        new.setXYpos(node.xpos() + dx, node.ypos() + dy * ROW)
        for i, source in enumerate(inputs):
            new.setInput(i, source)
        return new

    face = add("Read", f"still face, track {summary['track']}", 600, 1)
    paint = add("RotoPaint", "paint fixes here (still face)", 600, 2, face)
    premult = add("Premult", "only the paint goes back", 600, 3, paint)
    stmap_read = add("Read", "plate_to_face ST map", 750, 3)
    stmap = add("STMap", "onto the moving plate", 600, 4, premult, stmap_read)
    merge = add("Merge2", "paint over the plate", 600, 5, plate, stmap)
    for read, path in ((face, summary["out"]), (stmap_read, summary["plate_to_face"])):
        read["file"].setValue(path)
        read["first"].setValue(first)
        read["last"].setValue(last)
        read["raw"].setValue(True)
    stmap["uv"].setValue("rgb")
    stmap["channels"].setValue("rgba")
    merge["operation"].setValue("over")
    return {"face": face, "paint": paint, "premult": premult, "stmap_read": stmap_read,
            "stmap": stmap, "merge": merge}
