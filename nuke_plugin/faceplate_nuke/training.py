"""Face sets and training from a FaceAlign node, run on the engine with progress.

The face set is written by the engine's ``extract_shot`` from the node's cached plate with the
node's settings; training runs the engine's ``train`` op and shows the latest preview in a
Read node next to the FaceAlign.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import nuke
from faceplate_client.layout import FACESET_INDEX, MODEL_PREVIEW

from . import engine, graph
from .errors import NodeError
from .stages import Run, selection

Progress = Callable[[str, int, int], None]


def forward_progress(progress: Progress) -> Callable[[dict[str, Any]], None]:
    def on_progress(event: dict[str, Any]) -> None:
        progress(str(event.get("stage", "")), int(event.get("done", 0)),
                 int(event.get("total", 0)))
    return on_progress


def export_faceset(node: nuke.Node, alignments_path: str, progress: Progress) -> str:
    """Write the node's faces over its range as a face set (faceset.json + aligned PNGs)."""
    folder = str(graph.value(node, "faceset_folder"))
    if not folder:
        raise NodeError(f"{node.name()}: set the face set folder knob")
    run = Run(node)
    frames = graph.frame_range(node)
    detect = run.nodes["FaceDetect"]
    engine.call(run.address, "extract_shot", {
        "plate": run.cache("plate").pattern(),
        "shot_dir": os.path.join(os.path.dirname(alignments_path), "faceset_shot"),
        "frames": f"{frames[0]}-{frames[-1]}",
        "backend": str(graph.value(detect, "detector")),
        "colourspace": run.colourspace(),
        "face_type": str(graph.value(node, "face_type")),
        "smoothing": float(graph.value(node, "smoothing")),
        "select": selection(node),
        "faceset_dir": os.path.abspath(folder)}, on_progress=forward_progress(progress))
    show_coverage(node, run.address, os.path.abspath(folder),
                  str(graph.value(node, "coverage_shot")) or os.path.dirname(alignments_path))
    return os.path.abspath(folder)


def show_coverage(node: nuke.Node, address: str, faceset: str, shot_dir: str) -> dict[str, Any]:
    """The engine's coverage report of ``faceset`` against ``shot_dir``: the summary on the
    node's status, the picture in a Read beside it."""
    identity = str(graph.value(node, "train_identity")) or "faceset"
    reply = engine.call(address, "coverage_shot", {
        "shot_dir": os.path.abspath(shot_dir), "facesets": {identity: faceset},
        "output": os.path.join(faceset, "coverage_report.json")})
    status = node.knob("node_status")
    if status is not None:
        first = str(reply.params["summary"]).splitlines()[:1]
        status.setValue(("covered: " if reply.params["covered"] else "gaps: ")
                        + (first[0] if first else ""))
    if reply.params.get("picture"):
        _show_picture(node, "coverage", str(reply.params["picture"]), dy=60)
    return dict(reply.params)


def train(node: nuke.Node, progress: Progress) -> dict[str, Any]:
    """Train (or resume) the model on this node's face set and the other identity's."""
    model = str(graph.value(node, "train_model"))
    identity = str(graph.value(node, "train_identity"))
    other, other_identity = (str(graph.value(node, "train_other")),
                             str(graph.value(node, "train_other_identity")))
    mine = str(graph.value(node, "faceset_folder"))
    for label, v in (("model folder", model), ("identity", identity), ("face set folder", mine),
                     ("other face set", other), ("other identity", other_identity)):
        if not v:
            raise NodeError(f"{node.name()}: set the {label} knob before training")
    for folder in (mine, other):
        if not os.path.isfile(os.path.join(folder, FACESET_INDEX)):
            raise NodeError(f"{node.name()}: {folder} is not a face set (no {FACESET_INDEX}); "
                            "press Export Face Set first")
    if identity == other_identity:
        raise NodeError(f"{node.name()}: the two identities need different names")
    reply = engine.call(str(graph.value(node, "engine_address")), "train", {
        "facesets": {identity: os.path.abspath(mine), other_identity: os.path.abspath(other)},
        "model_dir": os.path.abspath(model),
        "preset": str(graph.value(node, "train_preset")),
        "consent": str(graph.value(node, "train_consent")),
        "max_steps": int(graph.value(node, "train_iterations"))},
        on_progress=forward_progress(progress))
    show_preview(node, str(reply.params.get("preview") or
                           os.path.join(os.path.abspath(model), MODEL_PREVIEW)))
    return dict(reply.params)


def show_preview(node: nuke.Node, path: str) -> nuke.Node:
    """A Read beside the FaceAlign showing the training preview (reloaded each time)."""
    return _show_picture(node, "preview", path)


def _show_picture(node: nuke.Node, what: str, path: str, dy: int = 0) -> nuke.Node:
    """A Read named ``<node>_<what>`` beside the node showing the PNG ``path``."""
    name = f"{node.name()}_{what}"
    with node.parent():  # not inside the gizmo whose button runs this
        read = nuke.toNode(name)
        if read is None:
            read = nuke.createNode("Read", inpanel=False)
            read.setName(name)
            read.setXYpos(node.xpos() + 150, node.ypos() + dy)
    read["file"].setValue(path)
    read["first"].setValue(1)
    read["last"].setValue(1)
    return read
