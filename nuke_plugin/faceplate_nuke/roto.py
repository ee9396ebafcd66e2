"""Landmarks to Nuke nodes an artist can edit: Roto shapes, a Tracker and a CornerPin.

Positions come from ``alignments.json`` (image pixels, y down) and are written in Nuke's
coordinates (y up: ``y = height - y_image``), keyed on every frame that has the face.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import nuke
import nuke.rotopaint as rp
from faceplate_client.layout import ALIGNMENTS_SCHEMA, read_document

from .errors import NodeError

# iBUG 300-W indices of the regions an artist masks with. The hull is the face outline (jaw,
# then the brows right to left): a fixed point count, so one shape animates across frames.
REGIONS: dict[str, list[int]] = {
    "hull": list(range(17)) + list(range(26, 16, -1)),
    "jaw": list(range(17)),
    "brow_right": list(range(17, 22)),
    "brow_left": list(range(22, 27)),
    "nose": list(range(27, 36)),
    "eye_right": list(range(36, 42)),
    "eye_left": list(range(42, 48)),
    "mouth": list(range(48, 60)),
}
# Tracker4 points: outer eye corners, nose tip, mouth corners.
TRACK_POINTS: dict[str, int] = {"eye_right": 36, "eye_left": 45, "nose_tip": 30,
                                "mouth_right": 48, "mouth_left": 54}
TRACK_COLUMNS = 31  # Tracker4's tracks table: columns per track; 2 = track_x, 3 = track_y


def load(path: str) -> dict[str, Any]:
    try:
        return read_document(path, "alignments file", ALIGNMENTS_SCHEMA)
    except ValueError as exc:
        raise NodeError(str(exc)) from None


def tracks_of(alignments: dict[str, Any]) -> dict[int, dict[int, dict[str, Any]]]:
    """track → frame → face."""
    out: dict[int, dict[int, dict[str, Any]]] = {}
    for frame, faces in alignments["frames"].items():
        for face in faces:
            out.setdefault(int(face.get("track", 0)), {})[int(frame)] = face
    if not out:
        raise NodeError("no faces in the alignments: process FaceAlign over frames with a face")
    return out


def to_nuke(point: Sequence[float], height: float) -> tuple[float, float]:
    return float(point[0]), float(height) - float(point[1])


def create_beside(beside: nuke.Node, cls: str, label: str, dx: int, wired: bool = True) -> nuke.Node:
    """A new labelled node below and ``dx`` right of ``beside``, in its group (a button on a
    gizmo would otherwise create it inside the gizmo), fed by its input when ``wired``."""
    with beside.parent():
        new = nuke.createNode(cls, inpanel=False)
    if wired:
        new.setInput(0, beside.input(0))
    new["label"].setValue(label)
    new.setXYpos(beside.xpos() + dx, beside.ypos() + 60)
    return new


def export_roto(node: nuke.Node, alignments_path: str) -> nuke.Node:
    """A Roto node: one layer per face track, one animated shape per region."""
    data = load(alignments_path)
    height = data["size"][1]
    view = nuke.views()[0]
    roto_node = create_beside(node, "Roto", f"from {node.name()}", 150)
    curves = roto_node["curves"]
    assert isinstance(curves, rp.CurveKnob)
    frames = sorted(int(f) for f in data["frames"])
    for track, faces in sorted(tracks_of(data).items()):
        layer = rp.Layer(curves)
        layer.name = f"face{track}"
        for region, indices in REGIONS.items():
            shape = rp.Shape(curves)
            shape.name = region
            points = [rp.ShapeControlPoint() for _ in indices]
            for frame, face in sorted(faces.items()):
                for point, i in zip(points, indices):
                    point.center.addPositionKey(frame, to_nuke(face["landmarks"][i], height),
                                                view)
            for point in points:
                shape.append(point)
            for frame in frames:
                if frame not in faces:
                    shape.setVisible(frame, False)
            layer.append(shape)
        curves.rootLayer.append(layer)
    curves.changed()
    return roto_node


def export_tracker(node: nuke.Node, alignments_path: str) -> nuke.Node:
    """A Tracker4 with eye corners, nose tip and mouth corners of the first face track."""
    data = load(alignments_path)
    height = data["size"][1]
    track, faces = min(tracks_of(data).items())
    tracker = create_beside(node, "Tracker4", f"face{track}: {', '.join(TRACK_POINTS)}", 300)
    table = tracker["tracks"]
    for t, index in enumerate(TRACK_POINTS.values()):
        add = tracker["add_track"]
        assert isinstance(add, nuke.Script_Knob)
        add.execute()
        for frame, face in sorted(faces.items()):
            x, y = to_nuke(face["landmarks"][index], height)
            table.setValueAt(x, frame, t * TRACK_COLUMNS + 2)
            table.setValueAt(y, frame, t * TRACK_COLUMNS + 3)
    return tracker


def crop_corners(matrix: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
    """The aligned crop's corners in plate pixels (the matrix maps plate → unit crop)."""
    (a, b, c), (d, e, f) = matrix
    det = a * e - b * d
    if abs(det) < 1e-12:
        raise NodeError("degenerate alignment matrix")
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
    tx, ty = -(ia * c + ib * f), -(id_ * c + ie * f)
    return [(ia * u + ib * v + tx, id_ * u + ie * v + ty)
            for u, v in ((0, 1), (1, 1), (1, 0), (0, 0))]


def export_cornerpin(node: nuke.Node, alignments_path: str) -> nuke.Node:
    """A CornerPin2D whose 'to' corners follow the aligned face box of the first track; its
    'from' corners are the box on the track's first frame (pin an element onto the face)."""
    data = load(alignments_path)
    height = data["size"][1]
    track, faces = min(tracks_of(data).items())
    pin = create_beside(node, "CornerPin2D", f"face{track} box from {node.name()}", 450, wired=False)
    first = min(faces)
    for frame, face in sorted(faces.items()):
        # Crop (0,1) is its bottom-left in Nuke's y-up terms: corners run as CornerPin's 1-4.
        for i, corner in enumerate(crop_corners(face["matrix"]), start=1):
            x, y = to_nuke(corner, height)
            pin[f"to{i}"].setValueAt(x, frame, 0)
            pin[f"to{i}"].setValueAt(y, frame, 1)
            if frame == first:
                pin[f"from{i}"].setValue(x, 0)
                pin[f"from{i}"].setValue(y, 1)
    return pin
