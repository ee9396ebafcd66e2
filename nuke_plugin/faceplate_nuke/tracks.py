"""Landmarks over time on the host: track ids, face selection and temporal smoothing.

Light arithmetic on a few hundred points a frame, kept here so FaceAlign can re-select and
re-smooth from cached detections without asking the engine to detect again.
"""

from __future__ import annotations

import math
from typing import Any

Face = dict[str, Any]  # {"bbox": [x0, y0, x1, y1], "score": s, "landmarks": [[x, y] * 68]}


def _centre(face: Face) -> tuple:
    x0, y0, x1, y1 = face["bbox"]
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0, max(x1 - x0, y1 - y0)


def assign_tracks(detections: dict[int, list[Face]]) -> dict[int, list[Face]]:
    """Copies of the faces with a ``track`` id: each face continues the nearest track of the
    previous frames (within half a face width), else starts a new one."""
    out: dict[int, list[Face]] = {}
    last_seen: dict[int, tuple] = {}  # track -> centre and size
    next_id = 0
    for frame in sorted(detections):
        faces = sorted(detections[frame], key=lambda f: _centre(f)[0])
        taken: set = set()
        out[frame] = []
        for face in faces:
            cx, cy, size = _centre(face)
            best, best_d = None, 0.5 * size
            for track, (tx, ty, _) in last_seen.items():
                d = math.hypot(cx - tx, cy - ty)
                if track not in taken and d <= best_d:
                    best, best_d = track, d
            if best is None:
                best, next_id = next_id, next_id + 1
            taken.add(best)
            last_seen[best] = (cx, cy, size)
            out[frame].append(dict(face, track=best))
    return out


def select(faces: dict[int, list[Face]], mode: str, track: int, index: int
           ) -> dict[int, list[Face]]:
    """Keep all faces, one track, or the ``index``-th face from the left of each frame."""
    if mode == "all":
        return faces
    if mode == "track":
        return {f: [x for x in v if x["track"] == track] for f, v in faces.items()}
    if mode == "index":
        return {f: sorted(v, key=lambda x: _centre(x)[0])[index:index + 1]
                for f, v in faces.items()}
    raise ValueError(f"unknown selection {mode!r}")


def radius(smoothing: float) -> int:
    """Frames each side that smoothing looks at (0 when off)."""
    return 0 if smoothing <= 0 else math.ceil(2.0 * sigma(smoothing))


def sigma(smoothing: float) -> float:
    return 3.0 * max(0.0, min(1.0, smoothing))


def smooth(faces: dict[int, list[Face]], smoothing: float) -> dict[int, list[Face]]:
    """Gaussian-weighted average of each track's landmarks over neighbouring frames
    (non-causal: looks both ways, so the smoothed face does not lag behind the real one)."""
    r, s = radius(smoothing), sigma(smoothing)
    if r == 0:
        return faces
    by_track: dict[int, dict[int, Face]] = {}
    for frame, v in faces.items():
        for face in v:
            by_track.setdefault(face["track"], {})[frame] = face
    out: dict[int, list[Face]] = {f: [] for f in faces}
    for frame, v in faces.items():
        for face in v:
            track = by_track[face["track"]]
            total, acc = 0.0, [[0.0, 0.0] for _ in face["landmarks"]]
            for g in range(frame - r, frame + r + 1):
                other = track.get(g)
                if other is None:
                    continue
                w = math.exp(-0.5 * ((g - frame) / s) ** 2)
                total += w
                for a, p in zip(acc, other["landmarks"]):
                    a[0] += w * p[0]
                    a[1] += w * p[1]
            out[frame].append(dict(face, landmarks=[[a[0] / total, a[1] / total]
                                                    for a in acc]))
    return out
