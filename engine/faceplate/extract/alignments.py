"""``SHOTDIR/alignments.json``: every face of every frame of a shot (schema version 1).

The schema is documented in docs/extraction.md. The file is written atomically (temporary
file, then rename). Re-running a frame range replaces only those frames: :func:`save` merges
into the file on disk unless told to replace it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np
from faceplate_client import layout

from ..errors import FaceplateError
from ..io.atomic import write_json_atomic

SCHEMA = layout.ALIGNMENTS_SCHEMA
VERSION = layout.ALIGNMENTS_VERSION
FILENAME = layout.ALIGNMENTS_FILE


@dataclass
class FaceRecord:
    """One face in one frame: detector box and score, landmarks, plate → unit-crop matrix."""

    bbox: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray  # 68×2 plate pixels (smoothed when smoothing > 0)
    matrix: np.ndarray  # 2×3 plate pixels → unit crop of the shot's face_type
    track: int = 0

    def to_json(self) -> dict:
        return {"bbox": [round(float(v), 3) for v in self.bbox], "score": round(self.score, 4),
                "landmarks": np.round(self.landmarks, 3).tolist(),
                "matrix": [[float(v) for v in row] for row in self.matrix],
                "track": int(self.track)}

    @classmethod
    def from_json(cls, d: dict) -> FaceRecord:
        landmarks = np.asarray(d["landmarks"], np.float64)
        matrix = np.asarray(d["matrix"], np.float64)
        if landmarks.shape != (68, 2) or matrix.shape != (2, 3):
            raise ValueError(f"landmarks {landmarks.shape} / matrix {matrix.shape}")
        x0, y0, x1, y1 = (float(v) for v in d["bbox"])
        return cls((x0, y0, x1, y1), float(d["score"]), landmarks, matrix, int(d.get("track", 0)))


@dataclass
class Alignments:
    plate: str
    colourspace: str
    backend: str
    face_type: str
    size: tuple[int, int]  # plate width, height
    smoothing: float = 0.0
    frames: dict[int, list[FaceRecord]] = field(default_factory=dict)

    def faces(self, frame: int) -> list[FaceRecord]:
        return self.frames.get(frame, [])

    def tracks(self) -> list[int]:
        return sorted({f.track for faces in self.frames.values() for f in faces})

    def to_json(self) -> dict:
        return {"schema": SCHEMA, "version": VERSION, "plate": self.plate,
                "colourspace": self.colourspace, "backend": self.backend,
                "face_type": self.face_type, "size": list(self.size),
                "smoothing": self.smoothing,
                "frames": {str(k): [f.to_json() for f in v]
                           for k, v in sorted(self.frames.items())}}

    @classmethod
    def from_json(cls, d: dict, source: str = "alignments") -> Alignments:
        if d.get("schema") != SCHEMA:
            raise FaceplateError(f"{source} is not a faceplate alignments file")
        if d.get("version") != VERSION:
            raise FaceplateError(f"{source} has schema version {d.get('version')}; this "
                                 f"faceplate reads version {VERSION}: re-run faceplate extract")
        try:
            frames = {int(k): [FaceRecord.from_json(f) for f in v]
                      for k, v in d["frames"].items()}
            return cls(d["plate"], d["colourspace"], d["backend"], d["face_type"],
                       tuple(d["size"]), float(d.get("smoothing", 0.0)), frames)
        except (KeyError, TypeError, ValueError) as exc:
            raise FaceplateError(f"{source} is damaged ({exc}): re-run faceplate extract") \
                from None


def path_for(shot_dir: str) -> str:
    return os.path.join(shot_dir, FILENAME)


def load(shot_dir: str) -> Alignments:
    """Read ``shot_dir/alignments.json`` (a path to the file itself also works)."""
    path = shot_dir if shot_dir.endswith(".json") else path_for(shot_dir)
    if not os.path.isfile(path):
        raise FaceplateError(f"no alignments at {path}: run faceplate extract PLATE -o "
                             f"{os.path.dirname(path) or '.'} first")
    try:
        with open(path) as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise FaceplateError(f"cannot read {path} ({exc}): re-run faceplate extract") from None
    return Alignments.from_json(data, path)


def save(alignments: Alignments, shot_dir: str, *, merge: bool = True) -> str:
    """Write atomically; with ``merge`` the frames already on disk that this run did not
    process are kept (a re-run of a frame range updates only those frames)."""
    os.makedirs(shot_dir, exist_ok=True)
    path = path_for(shot_dir)
    out = alignments
    if merge and os.path.isfile(path):
        try:
            old = load(shot_dir)
        except FaceplateError:
            old = None  # a damaged file is replaced, not merged
        if old is not None and old.face_type == alignments.face_type:
            frames = dict(old.frames)
            frames.update(alignments.frames)
            out = Alignments(alignments.plate, alignments.colourspace, alignments.backend,
                             alignments.face_type, alignments.size, alignments.smoothing, frames)
    write_json_atomic(path, out.to_json())
    return path

