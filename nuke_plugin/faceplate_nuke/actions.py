"""What the gizmos' buttons do. Each takes the node (default: ``nuke.thisNode()``).

Errors land on the node: its status knob says what went wrong, the GUI shows a message, and
outside the GUI (``nuke -t``) the :class:`NodeError` is raised for the TD's script to handle.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

import nuke
from faceplate_client.protocol import CANCELLED

from . import engine, graph, occlusion, review, roto, stabilise, training
from .cache import StageCache
from .errors import NodeError
from .qc_report import qc_report as report_shot
from .stages import Run

F = TypeVar("F", bound=Callable[..., Any])


def _status(node: nuke.Node, text: str) -> None:
    knob = node.knob("node_status")
    if knob is not None:
        knob.setValue(text)


def on_node(fn: F) -> F:
    """Run a button action with its node; show a NodeError on the node instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(node: nuke.Node | None = None, *args: Any, **kwargs: Any) -> Any:
        node = node or nuke.thisNode()
        try:
            return fn(node, *args, **kwargs)
        except NodeError as exc:
            _status(node, f"error: {exc}")
            if nuke.GUI:
                nuke.message(f"{node.name()}: {exc}")
                return None
            raise

    return wrapper  # type: ignore[return-value]


class _Progress:
    """A Nuke progress bar for one action; cancelling it stops the work between frames."""

    def __init__(self, title: str):
        self.task = nuke.ProgressTask(title)

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.task.isCancelled():
            raise NodeError("cancelled", CANCELLED)
        self.task.setMessage(f"{stage}: {done}/{total}")
        self.task.setProgress(int(100 * done / max(total, 1)))


@on_node
def connect(node: nuke.Node) -> str:
    text = engine.describe(str(graph.value(node, "engine_address")))
    node["engine_status"].setValue(text)
    return text


@on_node
def process(node: nuke.Node, frames: list[int] | None = None) -> StageCache:
    """Compute the node's range (or ``frames``) and show the result."""
    run = Run(node, interactive=True, progress=_Progress(f"Faceplate {node.name()}"))
    cache = run.process(frames)
    show(node, run, cache)
    return cache


def show(node: nuke.Node, run: Run, cache: StageCache) -> None:
    """Point the node's internal Read at its cache and say what is there."""
    done = [f for f in run.bounds if cache.entry(f) is not None]
    if cache.ext == "exr":
        read = graph.internal(node, "cache_read")
        read["file"].setValue(cache.pattern())
        read["first"].setValue(run.bounds[0])
        read["last"].setValue(run.bounds[-1])
        node["show_result"].setValue(True)
        _status(node, f"{len(done)} frames cached in {cache.version_dir()}")
    else:
        faces = sum(len((cache.entry(f) or {}).get("faces", [])) for f in done)
        _status(node, f"{faces} faces on {len(done)} frames")


@on_node
def export_roto(node: nuke.Node) -> nuke.Node:
    made = roto.export_roto(node, _alignments(node))
    node["fix_source"].setValue(made.name())  # what Import Fix reads back
    return made


@on_node
def export_tracker(node: nuke.Node) -> nuke.Node:
    made = roto.export_tracker(node, _alignments(node))
    node["fix_source"].setValue(made.name())
    return made


@on_node
def export_cornerpin(node: nuke.Node) -> nuke.Node:
    return roto.export_cornerpin(node, _alignments(node))


@on_node
def export_stabilised(node: nuke.Node) -> dict[str, nuke.Node]:
    return stabilise.export_stabilised(node, _alignments(node),
                                       _Progress(f"Faceplate stabilise {node.name()}"))


@on_node
def export_faceset(node: nuke.Node) -> str:
    return training.export_faceset(node, _alignments(node),
                                   _Progress(f"Faceplate face set {node.name()}"))


@on_node
def train(node: nuke.Node) -> dict:
    return training.train(node, _Progress(f"Faceplate training {node.name()}"))


@on_node
def learn_occlusion(node: nuke.Node) -> str:
    return occlusion.learn(node, _Progress(f"Faceplate occlusion {node.name()}"))


@on_node
def qc_report(node: nuke.Node) -> dict:
    """FaceMerge's QC Report: process the range, report it, put the verdict on the node."""
    return report_shot(node, _Progress(f"Faceplate QC {node.name()}"))


def _review(node: nuke.Node, *edits: dict) -> StageCache:
    if node.Class() != "FaceAlign":
        raise NodeError(f"{node.name()}: review actions belong to a FaceAlign node")
    run = review.add_edit(node, *edits, progress=_Progress(f"Faceplate {node.name()}"))
    cache = run.cache("align")
    show(node, run, cache)
    return cache


def _track_button(edit: str) -> Callable[..., StageCache]:
    """The action of a Review track button: apply ``review.track_edit(node, edit)``."""

    def action(node: nuke.Node) -> StageCache:
        return _review(node, review.track_edit(node, edit))

    action.__doc__ = f"Apply the {edit!r} track edit to the FaceAlign node and show the result."
    return on_node(action)


# The Review tab's track buttons: the names the FaceAlign gizmo's knobs call → their edit.
drop_track = _track_button("drop_track")
drop_frames = _track_button("drop_frames")
merge_tracks = _track_button("merge")
hold_track = _track_button("hold")
restore_track = _track_button("restore")


@on_node
def clear_edits(node: nuke.Node) -> StageCache:
    node["review_edits"].setValue("")
    return process(node)


@on_node
def import_fix(node: nuke.Node) -> list[dict]:
    """Read the moved points of the 'fix from' node into the alignments; returns the fixes."""
    source = review.source_node(node)
    fixes = review.read_fixes(source, roto.load(_alignments(node)))
    if not fixes:
        raise NodeError(f"{node.name()}: no point of {source.name()} was moved away from the "
                        "alignments; move points on the bad frames first")
    cache = _review(node, {"action": "fix", "fixes": fixes})
    synced = review.sync_source(source, roto.load(Run(node).write_alignments(cache)))
    _status(node, f"{len(fixes)} face(s) fixed on frame(s) "
                  f"{', '.join(str(f['frame']) for f in fixes[:12])}; {source.name()} re-keyed "
                  f"on {synced} frame(s)")
    return fixes


@on_node
def write_sheet(node: nuke.Node) -> nuke.Node:
    """Write the per-track contact sheet and show it in a Read beside the node."""
    path = review.write_sheet(node, _alignments(node))
    read = roto.create_beside(node, "Read", f"tracks of {node.name()}", 600, wired=False)
    read["file"].setValue(path)
    _status(node, f"contact sheet {path}")
    return read


def _alignments(node: nuke.Node) -> str:
    """Process the FaceAlign node (cached frames are reused) and return its alignments.json."""
    if node.Class() != "FaceAlign":
        raise NodeError(f"{node.name()}: exports come from a FaceAlign node")
    run = Run(node, interactive=True, progress=_Progress(f"Faceplate {node.name()}"))
    cache = run.process()
    show(node, run, cache)
    return run.write_alignments(cache)
