"""Descriptors computed once per face and kept beside the data they describe.

A face set keeps them in ``DIR/coverage.json``, a shot in ``SHOTDIR/coverage.json`` (both
``{"schema": "faceplate.coverage", "version": 1, "descriptor_version": N, "faces": {KEY:
{"landmarks": HASH, ...Descriptor}}}``; keys are crop file names or ``FRAME/TRACK``). An entry
is reused while its landmarks are unchanged (a re-extracted frame is measured again) and the
descriptor version matches; everything else is (re)computed and the file rewritten atomically.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np
from faceplate_client import documents, layout

from ..errors import FaceplateError
from ..extract import alignments as alignments_file
from ..extract.faceset import FaceSet
from ..face.align import crop_matrix, transform_points
from ..face.crop import aligned_crop, model_input
from ..io.atomic import write_json_atomic
from ..progress import Progress
from .descriptors import CROP_SIZE, VERSION, Descriptor, describe

SIDECAR = layout.COVERAGE_FILE
SCHEMA = layout.COVERAGE_SCHEMA
SCHEMA_VERSION = layout.COVERAGE_VERSION


@dataclass
class ShotFace:
    frame: int
    track: int
    descriptor: Descriptor


def faceset_descriptors(faceset: FaceSet, progress_stream=None) -> list[Descriptor]:
    """One descriptor per face-set entry, in index order (cached in ``DIR/coverage.json``)."""
    path = os.path.join(faceset.root, SIDECAR)
    cache = _load(path)
    keys = [(e.file, _hash(e.landmarks)) for e in faceset.entries]
    todo = [i for i, key in enumerate(keys) if _cached(cache, key) is None]
    progress = Progress("describe", len(todo), "faces", stream=progress_stream)
    for i in todo:
        entry = faceset.entries[i]
        desc = describe(entry.landmarks, faceset.image(i), entry.landmarks)
        cache[entry.file] = {"landmarks": keys[i][1], **desc.to_json()}
        progress.advance(message=entry.file)
    if todo or len(cache) != len(keys):
        _save(path, {k: cache[k] for k, _ in keys})
    return [Descriptor.from_json(cache[k]) for k, _ in keys]


def shot_descriptors(shot_dir: str, progress_stream=None) -> list[ShotFace]:
    """One :class:`ShotFace` per face in ``SHOTDIR/alignments.json``, by frame then track
    (cached in ``SHOTDIR/coverage.json``); measuring lighting reads the plate's frames."""
    shot = alignments_file.load(shot_dir)
    path = os.path.join(shot_dir if not shot_dir.endswith(".json") else
                        os.path.dirname(shot_dir), SIDECAR)
    cache = _load(path)
    faces = [(frame, face) for frame in sorted(shot.frames) for face in shot.frames[frame]]
    keys = [(f"{frame}/{face.track}", _hash(face.landmarks)) for frame, face in faces]
    todo = sorted({frame for (frame, _), key in zip(faces, keys) if _cached(cache, key) is None})
    if todo:
        reader = PlateReader(shot)
        progress = Progress("describe", len(todo), stream=progress_stream)
        for frame in todo:
            for face in shot.frames[frame]:
                crop, crop_landmarks = reader.crop(frame, face)
                desc = describe(face.landmarks, crop, crop_landmarks)
                cache[f"{frame}/{face.track}"] = {"landmarks": _hash(face.landmarks),
                                                  **desc.to_json()}
            progress.advance(message=f"frame {frame}")
    if todo or len(cache) != len(keys):
        _save(path, {k: cache[k] for k, _ in keys})
    return [ShotFace(frame, face.track, Descriptor.from_json(cache[k]))
            for (frame, face), (k, _) in zip(faces, keys)]


def save_faceset_descriptors(faceset: FaceSet, descs: list[Descriptor]) -> None:
    """Write the sidecar of a face set whose descriptors are known (a curated copy)."""
    _save(os.path.join(faceset.root, SIDECAR),
          {e.file: {"landmarks": _hash(e.landmarks), **d.to_json()}
           for e, d in zip(faceset.entries, descs)})


class PlateReader:
    """Aligned network-space crops of a shot's faces, read from its plate.

    The alignments are in frame pixels and a plate frame's array holds its stored pixels (an
    EXR data window: overscan, a cropped render, a window away from (0, 0)): each face is cut
    with its alignment moved onto the stored pixels' grid, so a plate with overscan gives the
    crops (and descriptors) its frame-sized copy would."""

    def __init__(self, shot: alignments_file.Alignments):
        from ..io.colour import ColourSpaces
        from ..io.sequence import open_plate

        self.shot = shot
        self.plate = open_plate(shot.plate, sorted(shot.frames))
        self.colour = ColourSpaces(shot.colourspace)

    def crop(self, frame: int, face: alignments_file.FaceRecord, size: int = CROP_SIZE
             ) -> tuple[np.ndarray, np.ndarray]:
        """``(crop, landmarks in crop pixels)`` of one face: the crop a model is given."""
        from ..io.images import read_plate_frame

        try:
            image = read_plate_frame(self.plate, frame)
            rgb = image.rgb()
        except FaceplateError as exc:
            raise FaceplateError(f"cannot read frame {frame} of the shot's plate "
                                 f"{self.shot.plate} to measure its lighting ({exc})") from None
        geometry = image.frame  # where the pixels read sit in the frame
        expected = self.shot.frame_size(frame)
        if all(expected) and geometry.frame_size != tuple(expected):
            raise FaceplateError(f"frame {frame} of the shot's plate {self.shot.plate} is "
                                 f"{geometry.frame_size[0]}×{geometry.frame_size[1]} but the "
                                 f"alignments were made on {expected[0]}×{expected[1]}: "
                                 "re-run faceplate extract on this plate")
        matrix = np.asarray(geometry.to_array(matrix=face.matrix), np.float64)
        crop = model_input(aligned_crop(rgb, matrix, size, self.colour.to_network))
        return crop, transform_points(face.landmarks, crop_matrix(face.matrix, size))


def _hash(landmarks: np.ndarray) -> str:
    rounded = np.round(np.asarray(landmarks, np.float64), 2).tobytes()
    return hashlib.sha1(rounded).hexdigest()[:16]


def _cached(cache: dict, key: tuple[str, str]) -> dict | None:
    entry = cache.get(key[0])
    return entry if entry is not None and entry.get("landmarks") == key[1] else None


def _load(path: str) -> dict:
    """The cached entries of a sidecar, read by ``documents.read_document``; one it refuses
    (missing, unreadable, another kind, a newer Faceplate's) or of another descriptor version
    is a cache miss: recomputed and rewritten, never an error."""
    try:
        data = documents.read_document(path, SCHEMA, SCHEMA_VERSION)
    except documents.DocumentError:
        return {}
    if data.get("descriptor_version") != VERSION or not isinstance(data.get("faces"), dict):
        return {}
    return dict(data["faces"])


def _save(path: str, faces: dict) -> None:
    write_json_atomic(path, {"schema": SCHEMA, "version": SCHEMA_VERSION,
                             "descriptor_version": VERSION, "faces": faces})
