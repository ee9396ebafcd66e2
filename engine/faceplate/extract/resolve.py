"""From tracked detections to a shot's alignments: confidence, selection, smoothing, matrices.

The one place both ``faceplate extract`` (which tracks while it detects) and the engine's
``track_faces`` op (which tracks cached detections, no pixels: FaceAlign in Nuke) turn
faces with track ids into :class:`~.alignments.Alignments` content, so both give the same
alignments for the same detections. :func:`track_detections` is the offline tracking pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..face.align import alignment_matrix
from .alignments import FaceRecord, TrackInfo
from .backends.base import Detection
from .confidence import Judge, track_confidence
from .select import Selection, keep_tracks
from .smooth import jitter, smooth_track
from .track import Tracker

log = logging.getLogger(__name__)


@dataclass
class Found:
    """A detection with its track id; ``landmarks`` are smoothed in place later."""

    detection: Detection
    track: int
    landmarks: np.ndarray


@dataclass
class Resolved:
    frames: dict[int, list[FaceRecord]]
    held_back: dict[int, list[FaceRecord]]
    tracks: dict[int, TrackInfo]
    jitter_raw: float
    jitter_smoothed: float


def track_detections(detections: dict[int, list[Detection]], cuts: list[int],
                     tracker: Tracker | None = None) -> tuple[dict[int, list[Found]], Tracker]:
    """Track ids for detections of a whole shot (by frame), with no pixels: faces are
    re-identified by the descriptors they carry."""
    tracker = tracker or Tracker()
    cut_set = set(cuts)
    found: dict[int, list[Found]] = {}
    for frame in sorted(detections):
        if frame in cut_set:
            tracker.cut(frame)
        faces = detections[frame]
        ids = tracker.update(frame, faces)
        found[frame] = [Found(d, t, d.landmarks) for d, t in zip(faces, ids)]
    return found, tracker


def resolve(found: dict[int, list[Found]], cuts: list[int], *, face_type: str,
            smoothing: float, selection: Selection, min_confidence: float,
            distances: Callable[[list[int]], dict[int, float]] | None = None) -> Resolved:
    """Rate tracks, hold back the doubtful ones, apply ``selection`` to the rest, smooth every
    track within its shots and compute the alignment matrices. ``distances`` gives each
    track's descriptor distance to the reference face (for ``ref:`` selections)."""
    for faces in found.values():
        for f in faces:
            if f.detection.confidence is None:  # detections cached before confidence existed
                f.detection.confidence = Judge(None).rate_alone(None, f.detection)
    per_track: dict[int, list[float]] = {}
    for faces in found.values():
        for f in faces:
            per_track.setdefault(f.track, []).append(float(f.detection.confidence or 0.0))
    info = {t: TrackInfo(track_confidence(c), len(c), track_confidence(c) < min_confidence)
            for t, c in sorted(per_track.items())}
    held = {t for t, i in info.items() if i.held_back}
    if held:
        log.info("held back low-confidence track(s) %s", sorted(held))
    kept = {frame: [f for f in faces if f.track not in held] for frame, faces in found.items()}
    doubtful = {frame: [f for f in faces if f.track in held] for frame, faces in found.items()}
    kept = _select(kept, selection, distances)
    raw, smoothed = _smooth(_union(kept, doubtful), smoothing, set(cuts))
    return Resolved(_records(kept, face_type), {f: r for f, r in _records(
        doubtful, face_type).items() if r}, info, raw, smoothed)


def _union(a: dict[int, list[Found]], b: dict[int, list[Found]]) -> dict[int, list[Found]]:
    return {frame: a.get(frame, []) + b.get(frame, []) for frame in set(a) | set(b)}


def _select(found: dict[int, list[Found]], selection: Selection,
            distances: Callable[[list[int]], dict[int, float]] | None
            ) -> dict[int, list[Found]]:
    if selection.everything:
        return found
    if selection.indices is not None:
        return {frame: [f for k, f in enumerate(faces) if k in selection.indices]
                for frame, faces in found.items()}
    tracks = sorted({f.track for faces in found.values() for f in faces})
    distance = distances(tracks) if selection.reference is not None and distances else None
    keep = keep_tracks(selection, tracks, distance)
    return {frame: [f for f in faces if f.track in keep] for frame, faces in found.items()}


def _smooth(found: dict[int, list[Found]], strength: float, cuts: set[int]
            ) -> tuple[float, float]:
    """Smooth every track over the shot in place; returns the jitter before and after."""
    by_track: dict[int, list[Found]] = {}
    frames_of: dict[int, list[int]] = {}
    for frame in sorted(found):
        for f in found[frame]:
            by_track.setdefault(f.track, []).append(f)
            frames_of.setdefault(f.track, []).append(frame)
    raw, smoothed, weight = 0.0, 0.0, 0
    for track, faces in by_track.items():
        pts = np.stack([f.detection.landmarks for f in faces])
        out = smooth_track(frames_of[track], pts, strength, cuts)
        for f, lm in zip(faces, out):
            f.landmarks = lm
        if len(faces) >= 3:
            raw += jitter(pts) * len(faces)
            smoothed += jitter(out) * len(faces)
            weight += len(faces)
    return (raw / weight, smoothed / weight) if weight else (0.0, 0.0)


def _records(found: dict[int, list[Found]], face_type: str) -> dict[int, list[FaceRecord]]:
    return {frame: [FaceRecord(f.detection.bbox, f.detection.score, f.landmarks,
                               alignment_matrix(f.landmarks, face_type), f.track,
                               f.detection.confidence) for f in faces]
            for frame, faces in found.items()}
