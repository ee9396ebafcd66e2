"""``SHOTDIR/alignments.json``: every face of every frame of a shot (schema version 1).

The schema is documented in docs/extraction.md. The file is written atomically (temporary
file, then rename). Re-running a frame range replaces only those frames: :func:`save` merges
into the file on disk unless told to replace it. Later additions are optional fields, so
older files load unchanged: a face's ``confidence``, ``fixed`` (landmarks an artist set) and
``bridged`` (not detected: bridged over a frame its track missed); the shot's ``tracks``
(confidence and frame count per track), ``held_back`` (faces of low-confidence tracks, kept out of
``frames`` so nothing swaps them), ``cuts`` (frames that start a new shot) and ``sizes``
(frames whose size differs from ``size``: a set of stills), ``view`` (the stereo view of
the plate they were found in).

Positions (boxes, landmarks, matrices) are frame pixels and sizes are the frame's: an EXR
plate's display window, whatever part of it (or beyond it: overscan) its data window stores
(:class:`faceplate.io.images.Geometry`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
from faceplate_client import documents, layout

from ..errors import FaceplateError

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
    confidence: float | None = None  # is it a face, 0–1 (None in files from before it)
    fixed: bool = False  # an artist set these landmarks (extract.fixes): smoothing keeps them
    bridged: bool = False  # not detected: bridged over a frame its track missed (extract.resolve)

    def to_json(self) -> dict:
        """The record as ``alignments.json`` holds it (``documents.face_record``), rounded."""
        return documents.face_record({
            "bbox": [round(float(v), 3) for v in self.bbox], "score": round(self.score, 4),
            "landmarks": np.round(self.landmarks, 3).tolist(),
            "matrix": [[float(v) for v in row] for row in self.matrix],
            "track": int(self.track),
            "confidence": None if self.confidence is None else round(float(self.confidence), 4),
            "fixed": self.fixed, "bridged": self.bridged})

    @classmethod
    def from_json(cls, d: dict) -> FaceRecord:
        landmarks = np.asarray(d["landmarks"], np.float64)
        matrix = np.asarray(d["matrix"], np.float64)
        if landmarks.shape != (68, 2) or matrix.shape != (2, 3):
            raise ValueError(f"landmarks {landmarks.shape} / matrix {matrix.shape}")
        x0, y0, x1, y1 = (float(v) for v in d["bbox"])
        confidence = d.get("confidence")
        return cls((x0, y0, x1, y1), float(d["score"]), landmarks, matrix, int(d.get("track", 0)),
                   None if confidence is None else float(confidence), bool(d.get("fixed", False)),
                   bool(d.get("bridged", False)))


@dataclass
class TrackInfo:
    """What the shot knows about one track (one person): how sure, how long, kept or not."""

    confidence: float
    frames: int
    held_back: bool = False

    def to_json(self) -> dict:
        return {"confidence": round(self.confidence, 4), "frames": self.frames,
                "held_back": self.held_back}

    @classmethod
    def from_json(cls, d: dict) -> TrackInfo:
        return cls(float(d["confidence"]), int(d["frames"]), bool(d.get("held_back", False)))


@dataclass
class Alignments:
    plate: str
    colourspace: str
    backend: str
    face_type: str
    size: tuple[int, int]  # plate width, height
    smoothing: float = 0.0
    frames: dict[int, list[FaceRecord]] = field(default_factory=dict)
    track_info: dict[int, TrackInfo] = field(default_factory=dict)
    held_back: dict[int, list[FaceRecord]] = field(default_factory=dict)
    cuts: list[int] = field(default_factory=list)
    sizes: dict[int, tuple[int, int]] = field(default_factory=dict)
    view: str = ""  # the stereo view of the plate the faces were found in ("": the default)

    def faces(self, frame: int) -> list[FaceRecord]:
        return self.frames.get(frame, [])

    def tracks(self) -> list[int]:
        return sorted({f.track for faces in self.frames.values() for f in faces})

    def frame_size(self, frame: int) -> tuple[int, int]:
        return self.sizes.get(frame, self.size)

    def to_json(self) -> dict:
        """The ``alignments.json`` object, built by the one writer the Nuke nodes share
        (``faceplate_client.documents.alignments_document``)."""
        return documents.alignments_document(
            plate=self.plate, colourspace=self.colourspace, backend=self.backend,
            face_type=self.face_type, size=self.size, smoothing=self.smoothing,
            frames=_frames_json(self.frames),
            tracks={k: v.to_json() for k, v in self.track_info.items()},
            held_back=_frames_json(self.held_back), cuts=self.cuts, sizes=self.sizes,
            view=self.view)

    @classmethod
    def from_json(cls, d: dict, source: str = "") -> Alignments:
        """From the object of a file (``source``: its path, for messages); the schema and
        version are checked by ``documents.read_document`` (version 1 is the only one yet)."""
        try:
            d = documents.read_document(d, SCHEMA, VERSION, name=source)
        except documents.DocumentError as exc:
            raise FaceplateError(str(exc)) from None
        source = source or "the alignments file"
        try:
            w, h = (int(v) for v in d["size"])
            tracks = d.get("tracks", {})
            return cls(d["plate"], d["colourspace"], d["backend"], d["face_type"],
                      (w, h), float(d.get("smoothing", 0.0)), _frames(d["frames"]),
                      {int(k): TrackInfo.from_json(v) for k, v in tracks.items()},
                      _frames(d.get("held_back", {})), [int(f) for f in d.get("cuts", [])],
                      {int(k): (int(v[0]), int(v[1])) for k, v in d.get("sizes", {}).items()},
                      str(d.get("view", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise FaceplateError(f"{source} is damaged ({exc}): re-run faceplate extract") \
                from None


def _frames_json(frames: dict[int, list[FaceRecord]]) -> dict:
    return {k: [f.to_json() for f in v] for k, v in frames.items()}


def _frames(d: dict) -> dict[int, list[FaceRecord]]:
    return {int(k): [FaceRecord.from_json(f) for f in v] for k, v in d.items()}


def path_for(shot_dir: str) -> str:
    return os.path.join(shot_dir, FILENAME)


def load(shot_dir: str) -> Alignments:
    """Read ``shot_dir/alignments.json`` (a path to the file itself also works)."""
    path = shot_dir if shot_dir.endswith(".json") else path_for(shot_dir)
    if not os.path.isfile(path):
        raise FaceplateError(f"no alignments at {path}: run faceplate extract PLATE -o "
                             f"{os.path.dirname(path) or '.'} first")
    try:
        data = documents.read_document(path, SCHEMA, VERSION)
    except documents.DocumentError as exc:
        again = ": re-run faceplate extract" if exc.problem is documents.Problem.UNREADABLE else ""
        raise FaceplateError(f"{exc}{again}") from None
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
        if old is not None and (old.face_type, old.view) == (alignments.face_type,
                                                             alignments.view):
            out = merged(old, alignments)
    return documents.write_alignments(path, out.to_json())


def merged(old: Alignments, new: Alignments) -> Alignments:
    """``old`` with the frames ``new`` processed replaced by ``new``'s."""
    redone = set(new.frames)
    frames = {f: v for f, v in old.frames.items() if f not in redone}
    frames.update(new.frames)
    held = {f: v for f, v in old.held_back.items() if f not in redone}
    held.update(new.held_back)
    sizes = {f: v for f, v in old.sizes.items() if f not in redone}
    sizes.update(new.sizes)
    cuts = sorted({c for c in old.cuts if c not in redone} | set(new.cuts))
    return Alignments(new.plate, new.colourspace, new.backend, new.face_type, new.size,
                      new.smoothing, frames, {**old.track_info, **new.track_info}, held, cuts,
                      sizes, new.view)

