"""An artist's fix comes back: landmarks moved on bad frames replace the extracted ones.

A fix names a frame, a track and the landmarks that moved (iBUG 300-W index → plate pixels,
y down). ``rigid`` fixes (a Tracker's five points) move the whole face by the similarity that
best maps those points' old positions to the new ones; otherwise only the named points move.
The face is marked ``fixed``, its matrix recomputed (``face.align.alignment_matrix``) and the
track's neighbouring frames blended toward the fix (``smooth.blend_fixed``: fixed keys keep
their values exactly, frames out of reach are untouched).

The fix file a TD hands ``faceplate alignments --import-points`` (schema ``faceplate.fixes``)::

    {"schema": "faceplate.fixes", "version": 1, "coordinates": "image",
     "frames": {"1004": [{"track": 0, "points": {"8": [612.5, 880.0]}},
                         {"track": 1, "landmarks": [[x, y], ... 68], "rigid": false}]}}

``coordinates`` is ``image`` (y down, the default) or ``nuke`` (y up: ``y = height − y``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from faceplate_client import documents, layout

from ..errors import FaceplateError
from ..face.align import alignment_matrix, transform_points, umeyama
from .alignments import Alignments, FaceRecord
from .smooth import blend_fixed

POINTS = 68
MAX_FIXES = 100_000


@dataclass
class Fix:
    frame: int
    track: int
    points: dict[int, tuple[float, float]]  # landmark index → plate pixels (y down)
    rigid: bool = False

    @classmethod
    def from_dict(cls, edit: dict) -> Fix:
        """From one entry of a ``fix`` edit's ``fixes`` (``review.apply_edits``)."""
        try:
            frame, track = edit["frame"], edit["track"]
            raw = edit["points"]
            if type(frame) is not int or type(track) is not int or not isinstance(raw, dict):
                raise TypeError("frame and track must be integers, points an object")
            points = {}
            for key, xy in raw.items():
                index = int(key)
                x, y = (float(v) for v in xy)
                if not 0 <= index < POINTS or not (math.isfinite(x) and math.isfinite(y)):
                    raise ValueError(f"point {key}: {xy}")
                points[index] = (x, y)
        except (KeyError, TypeError, ValueError) as exc:
            raise FaceplateError(f"a fix needs a frame, a track and points {{landmark index "
                                 f"0-67: [x, y]}} ({exc})") from None
        if not points:
            raise FaceplateError(f"the fix of frame {frame}, track {track} moves no point")
        return cls(frame, track, points, bool(edit.get("rigid", False)))

    def to_dict(self) -> dict:
        return {"frame": self.frame, "track": self.track, "rigid": self.rigid,
                "points": {str(i): [x, y] for i, (x, y) in sorted(self.points.items())}}


def read_fix_file(path: str, result: Alignments) -> list[Fix]:
    """The fixes of a ``faceplate.fixes`` file, in image pixels of ``result``'s frames."""
    try:
        data = documents.read_document(path, layout.FIXES_SCHEMA)
    except documents.DocumentError as exc:
        raise FaceplateError(str(exc)) from None
    coordinates = data.get("coordinates", "image")
    if coordinates not in ("image", "nuke"):
        raise FaceplateError(f"{path}: coordinates must be 'image' or 'nuke', not "
                             f"{coordinates!r}")
    fixes = []
    try:
        for frame_text, faces in dict(data["frames"]).items():
            frame = int(frame_text)
            height = result.frame_size(frame)[1]
            for face in faces:
                points = face.get("points")
                if points is None:
                    landmarks = face["landmarks"]
                    if len(landmarks) != POINTS:
                        raise ValueError(f"frame {frame}: landmarks need {POINTS} points")
                    points = {str(i): xy for i, xy in enumerate(landmarks)}
                if coordinates == "nuke":
                    points = {k: [float(xy[0]), height - float(xy[1])] for k, xy in
                              points.items()}
                fixes.append(Fix.from_dict({"frame": frame, "track": int(face.get("track", 0)),
                                            "points": points, "rigid": face.get("rigid", False)}))
    except FaceplateError as exc:
        raise FaceplateError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FaceplateError(f"{path} is not a valid fix file ({exc}); see docs/extraction.md"
                             ) from None
    if len(fixes) > MAX_FIXES:
        raise FaceplateError(f"{path} holds {len(fixes)} fixes; at most {MAX_FIXES}")
    return fixes


def apply_fixes(result: Alignments, fixes: list[Fix]) -> int:
    """Apply ``fixes`` in place, all read against the same alignments (one import; later
    fixes of the same face win); returns the faces fixed."""
    targets: dict[int, dict[int, np.ndarray]] = {}  # track → frame → new landmarks
    for fix in fixes:
        face = _face(result, fix.frame, fix.track)
        base = targets.get(fix.track, {}).get(fix.frame, face.landmarks)
        targets.setdefault(fix.track, {})[fix.frame] = moved(base, fix)
    for track, wanted in targets.items():
        _refit_track(result, track, wanted)
    return sum(len(v) for v in targets.values())


def moved(landmarks: np.ndarray, fix: Fix) -> np.ndarray:
    """``landmarks`` with the fix applied (named points set, or the whole face moved)."""
    out = np.array(landmarks, np.float64)
    index = sorted(fix.points)
    new = np.asarray([fix.points[i] for i in index], np.float64)
    if fix.rigid:
        if len(index) >= 2:
            matrix = umeyama(out[index], new)
        else:  # one point: a shift
            dx, dy = new[0] - out[index[0]]
            matrix = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
        out = transform_points(out, matrix)
    out[index] = new
    return out


def _face(result: Alignments, frame: int, track: int) -> FaceRecord:
    for store in (result.frames, result.held_back):
        for record in store.get(frame, []):
            if record.track == track:
                return record
    tracks = sorted({r.track for store in (result.frames, result.held_back)
                     for r in store.get(frame, [])})
    raise FaceplateError(f"frame {frame} has no face of track {track} to fix (its tracks: "
                         f"{', '.join(map(str, tracks)) or 'none'}); fixes move landmarks of "
                         "faces extraction found")


def _refit_track(result: Alignments, track: int, wanted: dict[int, np.ndarray]) -> None:
    """Set ``wanted`` as fixed keys of ``track``, blend its neighbours, recompute matrices."""
    faces = sorted(((frame, r) for store in (result.frames, result.held_back)
                    for frame, records in store.items() for r in records if r.track == track),
                   key=lambda fr: fr[0])
    frames = [f for f, _ in faces]
    pts = np.stack([r.landmarks for _, r in faces])
    for f, r in faces:
        if f in wanted:
            r.fixed = True
    keys = {i: wanted.get(f, r.landmarks) for i, (f, r) in enumerate(faces) if r.fixed}
    out = blend_fixed(frames, pts, keys, result.smoothing, set(result.cuts))
    for (_, record), old, new in zip(faces, pts, out):
        if not np.array_equal(old, new):
            record.landmarks = np.round(new, 3)
            record.matrix = alignment_matrix(record.landmarks, result.face_type)
