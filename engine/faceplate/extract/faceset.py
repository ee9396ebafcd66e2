"""Face sets for training: aligned crops as 8-bit sRGB PNG plus a ``faceset.json`` index.

Each PNG carries its own index entry (source, frame, track, landmarks in crop pixels) in its
text metadata under ``faceplate/face``, so a crop copied out of its folder still says where it
came from. Re-running extraction over a frame range first drops that range's old crops
(:meth:`FaceSetWriter.replace_frame`), so faces are never duplicated.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from faceplate_client import documents, layout

from ..errors import FaceplateError
from ..io.atomic import write_json_atomic
from ..io.images import read_image, write_image

SCHEMA = layout.FACESET_SCHEMA
VERSION = layout.FACESET_VERSION
INDEX = layout.FACESET_INDEX
METADATA_KEY = "faceplate/face"


@dataclass
class FaceEntry:
    file: str
    source: str
    frame: int
    track: int
    landmarks: np.ndarray  # 68×2 in crop pixels
    plate_px: float = 0.0  # the crop's side on its plate (0: unknown, a set made before)

    def to_json(self) -> dict:
        out = {"file": self.file, "source": self.source, "frame": int(self.frame),
               "track": int(self.track), "landmarks": np.round(self.landmarks, 3).tolist()}
        if self.plate_px > 0:
            out["plate_px"] = round(float(self.plate_px), 1)
        return out

    @classmethod
    def from_json(cls, d: dict) -> FaceEntry:
        return cls(d["file"], d["source"], int(d["frame"]), int(d.get("track", 0)),
                   np.asarray(d["landmarks"], np.float64), float(d.get("plate_px", 0.0)))


@dataclass
class FaceSet:
    root: str
    face_type: str
    size: int
    entries: list[FaceEntry] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.entries)

    def path(self, i: int) -> str:
        return os.path.join(self.root, self.entries[i].file)

    def image(self, i: int) -> np.ndarray:
        """Crop ``i`` as float32 S×S×3 sRGB-encoded RGB in 0–1 (network space)."""
        img = read_image(self.path(i))
        return np.ascontiguousarray(img.rgb(), dtype=np.float32)

    def to_json(self) -> dict:
        return {"schema": SCHEMA, "version": VERSION, "face_type": self.face_type,
                "size": self.size, "faces": [e.to_json() for e in self.entries]}

    def save_index(self) -> str:
        path = os.path.join(self.root, INDEX)
        write_json_atomic(path, self.to_json())
        return path


def load_faceset(root: str) -> FaceSet:
    path = os.path.join(root, INDEX)
    if not os.path.isfile(path):
        raise FaceplateError(f"{root} is not a face set (no {INDEX}): make one with "
                             "faceplate extract PLATE -o SHOT --faceset DIR")
    try:
        d = documents.read_document(path, SCHEMA, VERSION)
    except documents.DocumentError as exc:
        raise FaceplateError(str(exc)) from None
    try:
        return FaceSet(root, d["face_type"], int(d["size"]),
                       [FaceEntry.from_json(e) for e in d["faces"]])
    except (KeyError, TypeError, ValueError) as exc:
        raise FaceplateError(f"cannot read face set index {path} ({exc})") from None


class FaceSetWriter:
    """Adds crops to a face set folder; :meth:`close` writes the index (atomically)."""

    def __init__(self, root: str, face_type: str, size: int):
        os.makedirs(root, exist_ok=True)
        self.faceset = FaceSet(root, face_type, size)
        if os.path.isfile(os.path.join(root, INDEX)):
            existing = load_faceset(root)
            if (existing.face_type, existing.size) != (face_type, size):
                raise FaceplateError(
                    f"face set {root} holds {existing.size} px {existing.face_type} crops; "
                    f"use another folder for {size} px {face_type} crops")
            self.faceset = existing
        self._next = 1 + max((_number(e.file) for e in self.faceset.entries), default=0)

    def replace_frame(self, source: str, frame: int) -> None:
        """Drop the crops an earlier run made of this frame (the frame is being redone)."""
        keep = []
        for e in self.faceset.entries:
            if (e.source, e.frame) == (source, int(frame)):
                path = os.path.join(self.faceset.root, e.file)
                if os.path.exists(path):
                    os.unlink(path)
            else:
                keep.append(e)
        self.faceset.entries = keep

    def add(self, crop: np.ndarray, source: str, frame: int, track: int,
            landmarks: np.ndarray, plate_px: float = 0.0) -> FaceEntry:
        name = f"{self._next:06d}.png"
        self._next += 1
        entry = FaceEntry(name, source, int(frame), int(track), np.asarray(landmarks, float),
                          float(plate_px))
        write_image(os.path.join(self.faceset.root, name), np.clip(crop, 0.0, 1.0),
                    ["R", "G", "B"], {METADATA_KEY: json.dumps(entry.to_json())},
                    pixel_type="uint8")
        self.faceset.entries.append(entry)
        return entry

    def close(self) -> FaceSet:
        self.faceset.save_index()
        return self.faceset


def write_faceset(root: str, face_type: str, size: int,
                  faces: Iterable[tuple[np.ndarray, str, int, int, np.ndarray]]) -> FaceSet:
    """Write ``(crop, source, frame, track, crop_landmarks)`` tuples as a face set."""
    writer = FaceSetWriter(root, face_type, size)
    for crop, source, frame, track, landmarks in faces:
        writer.add(crop, source, frame, track, landmarks)
    return writer.close()


def _number(name: str) -> int:
    stem = os.path.splitext(name)[0]
    return int(stem) if stem.isdigit() else 0
