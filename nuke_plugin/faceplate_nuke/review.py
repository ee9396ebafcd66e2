"""FaceAlign's Review tab: the actions of ``faceplate alignments``, and the artist's fix.

Every action appends one edit (data: ``{"action": ..., ...}``, as
``faceplate.extract.review.apply_edits`` takes it) to the node's hidden ``review_edits`` knob,
then processes the node: the align stage re-tracks the cached detections and the engine's
``edit_alignments`` op applies the edits, so the script carries the edits and a re-align (a
changed smoothing) keeps them. Swap and merge redo only the frames whose faces changed.

Import Fix reads the Roto (from Export Roto) or Tracker (from Export Tracker) named by
``fix_source``: a point whose position on a frame differs from the alignments by more than
``MOVED_PX`` was moved by the artist. Roto points move one landmark each (a landmark in two
shapes, e.g. jaw and hull, takes the mean of the shapes that moved it); a Tracker moves the
whole face (``rigid``: the similarity its five points imply). After the import the node's
keys are set to the new alignments, so it shows the blended neighbours too.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import nuke
import nuke.rotopaint as rp
from faceplate_client.frames import parse_frame_range

from . import engine, graph, roto
from .errors import NodeError
from .stages import Progress, Run, review_edits

MOVED_PX = 0.01
SHEET = "tracks.png"


def add_edit(node: nuke.Node, *edits: dict[str, Any], progress: Progress | None = None) -> Run:
    """Append ``edits`` to the node's edits and bring the node up to date (on failure the
    edits are taken back)."""
    knob = node["review_edits"]
    knob.setValue(json.dumps(review_edits(node) + list(edits), separators=(",", ":")))
    try:
        run = Run(node, interactive=True, progress=progress)
        run.process()
    except NodeError:
        knob.setValue(json.dumps(review_edits(node)[:-len(edits)], separators=(",", ":")))
        raise
    return run


def track_edit(node: nuke.Node, action: str) -> dict[str, Any]:
    """The edit of a track button (drop_track, drop_frames, merge, hold, restore)."""
    track = int(graph.value(node, "review_track"))
    if action == "drop_frames":
        text = str(graph.value(node, "review_frames")).strip()
        try:
            frames = parse_frame_range(text)
        except ValueError as exc:
            raise NodeError(f"{node.name()}: frames {text!r}: {exc}") from None
        return {"action": action, "track": None if track < 0 else track, "frames": frames}
    if action == "merge":
        return {"action": action, "keep": track, "other": int(graph.value(node, "review_other"))}
    return {"action": action, "track": track}


def write_sheet(node: nuke.Node, alignments_path: str) -> str:
    """The per-track contact sheet (engine ``edit_alignments`` with no edits)."""
    path = str(graph.value(node, "review_sheet")) or os.path.join(
        os.path.dirname(alignments_path), SHEET)
    path = os.path.abspath(os.path.expanduser(path))
    reply = engine.call(str(graph.value(node, "engine_address")), "edit_alignments",
                        {"path": alignments_path, "edits": [], "sheet": path})
    if not reply.params["sheet"]:
        raise NodeError(f"{node.name()}: no faces to put on a contact sheet")
    return str(reply.params["sheet"])


def source_node(node: nuke.Node) -> nuke.Node:
    name = str(graph.value(node, "fix_source"))
    found = node.parent().node(name) if name else None
    if found is None or found.Class() not in ("Roto", "Tracker4"):
        raise NodeError(f"{node.name()}: set 'fix from' to the Roto or Tracker to read (Export "
                        f"Roto / Export Tracker set it){f'; no Roto or Tracker {name!r}' if name else ''}")
    return found


def read_fixes(source: nuke.Node, alignments: dict[str, Any]) -> list[dict[str, Any]]:
    """The fixes (one ``fix`` edit's list) of the points moved in ``source`` against
    ``alignments``."""
    height = float(alignments["size"][1])
    faces = roto.tracks_of(alignments)
    if source.Class() == "Tracker4":
        return _tracker_fixes(source, faces, height)
    return _roto_fixes(source, faces, height)


def sync_source(source: nuke.Node, alignments: dict[str, Any]) -> int:
    """Key ``source`` to the alignments where they differ; returns the frames re-keyed."""
    height = float(alignments["size"][1])
    faces = roto.tracks_of(alignments)
    view = nuke.views()[0]
    keyed: set[int] = set()
    if source.Class() == "Tracker4":
        track = _tracker_track(source)
        table = source["tracks"]
        for frame, face in faces.get(track, {}).items():
            for t, (x, y) in enumerate(_tracker_points(table, frame)):
                want = roto.to_nuke(face["landmarks"][list(roto.TRACK_POINTS.values())[t]], height)
                if _moved((x, y), want):
                    table.setValueAt(want[0], frame, t * roto.TRACK_COLUMNS + 2)
                    table.setValueAt(want[1], frame, t * roto.TRACK_COLUMNS + 3)
                    keyed.add(frame)
        return len(keyed)
    for track, shape, indices in _shapes(source):
        for frame, face in faces.get(track, {}).items():
            for point, i in zip(shape, indices):
                want = roto.to_nuke(face["landmarks"][i], height)
                if _moved(_position(point, frame), want):
                    point.center.addPositionKey(frame, want, view)
                    keyed.add(frame)
    if keyed:
        curves = source["curves"]
        assert isinstance(curves, rp.CurveKnob)
        curves.changed()
    return len(keyed)


def _roto_fixes(source: nuke.Node, faces: dict[int, dict[int, dict[str, Any]]],
                height: float) -> list[dict[str, Any]]:
    moved: dict[tuple[int, int], dict[int, list[tuple[float, float]]]] = {}
    for track, shape, indices in _shapes(source):
        for frame, face in faces.get(track, {}).items():
            for point, i in zip(shape, indices):
                x, y = _position(point, frame)
                if _moved((x, y), roto.to_nuke(face["landmarks"][i], height)):
                    moved.setdefault((frame, track), {}).setdefault(i, []).append(
                        (x, height - y))
    return [{"frame": frame, "track": track, "rigid": False,
             "points": {str(i): [sum(p[0] for p in ps) / len(ps), sum(p[1] for p in ps) / len(ps)]
                        for i, ps in sorted(points.items())}}
            for (frame, track), points in sorted(moved.items())]


def _tracker_fixes(source: nuke.Node, faces: dict[int, dict[int, dict[str, Any]]],
                   height: float) -> list[dict[str, Any]]:
    track = _tracker_track(source)
    table = source["tracks"]
    out = []
    for frame, face in sorted(faces.get(track, {}).items()):
        points = _tracker_points(table, frame)
        indices = list(roto.TRACK_POINTS.values())
        if any(_moved(p, roto.to_nuke(face["landmarks"][i], height))
               for p, i in zip(points, indices)):
            out.append({"frame": frame, "track": track, "rigid": True,
                        "points": {str(i): [x, height - y] for i, (x, y) in zip(indices, points)}})
    return out


def _shapes(source: nuke.Node):
    """(track, shape, landmark indices) of every region shape of an exported Roto."""
    curves = source["curves"]
    assert isinstance(curves, rp.CurveKnob)
    for layer in curves.rootLayer:
        match = re.fullmatch(r"face(\d+)", getattr(layer, "name", ""))
        if not match or not isinstance(layer, rp.Layer):
            continue
        for shape in layer:
            indices = roto.REGIONS.get(getattr(shape, "name", ""))
            if isinstance(shape, rp.Shape) and indices and len(shape) == len(indices):
                yield int(match.group(1)), shape, indices


def _position(point: rp.ShapeControlPoint, frame: int) -> tuple[float, float]:
    at = point.center.getPosition(frame)
    return float(at.x), float(at.y)


def _tracker_track(source: nuke.Node) -> int:
    match = re.match(r"face(\d+):", str(source["label"].value()))
    if not match:
        raise NodeError(f"{source.name()} is not a Tracker from Export Tracker (its label "
                        "names the face track, e.g. 'face0: ...')")
    return int(match.group(1))


def _tracker_points(table: nuke.Knob, frame: int) -> list[tuple[float, float]]:
    return [(float(table.getValueAt(frame, t * roto.TRACK_COLUMNS + 2)),
             float(table.getValueAt(frame, t * roto.TRACK_COLUMNS + 3)))
            for t in range(len(roto.TRACK_POINTS))]


def _moved(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return abs(a[0] - b[0]) > MOVED_PX or abs(a[1] - b[1]) > MOVED_PX
