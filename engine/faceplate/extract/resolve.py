"""From tracked detections to a shot's alignments: bridging, confidence, selection, smoothing,
matrices.

The one place both ``faceplate extract`` (which tracks while it detects) and the engine's
``track_faces`` op (which tracks cached detections, no pixels: FaceAlign in Nuke) turn
faces with track ids into :class:`~.alignments.Alignments` content, so both give the same
alignments for the same detections. :func:`track_detections` is the offline tracking pass.

**Bridging.** Where a track misses one or two frames inside a shot (a flash, a frame of a
dissolve, a blur no detector reads) and finds its face on both sides, those frames get a face
*bridged* from both sides: box and landmarks interpolated, then smoothed with the track, where
they weigh little (``MIN_WEIGHT``), so the fit to the real frames around them places them.
A bridged face's confidence is ``BRIDGED_TRUST`` times the lower of its neighbours', so
convert's confidence knob fades it first; it does not count towards its track's confidence.
**Landmark trust.** A face's written confidence is its "is it a face" confidence times
``0.5 + 0.5 ×`` :func:`~.confidence.landmark_trust` (1 for a face-like landmark shape, 0 for
a profile the landmark model guessed at), and that trust weighs its landmarks in smoothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from ..face.align import alignment_matrix
from .alignments import FaceRecord, TrackInfo
from .backends.base import Detection
from .confidence import Judge, landmark_trust, track_confidence
from .select import Selection, keep_tracks
from .smooth import jitter, smooth_track
from .track import Tracker, iou

log = logging.getLogger(__name__)

MAX_BRIDGE = 2  # a track's missed frames bridged from both sides, at most
BRIDGED_TRUST = 0.5  # a bridged face's confidence, against the lower of its neighbours'
MIN_WEIGHT = 0.05  # the least a frame's landmarks weigh in smoothing


@dataclass
class Found:
    """A detection with its track id; ``landmarks`` are smoothed in place later."""

    detection: Detection
    track: int
    landmarks: np.ndarray
    bridged: bool = False  # not detected: bridged from the track's frames either side


@dataclass
class Resolved:
    frames: dict[int, list[FaceRecord]]
    held_back: dict[int, list[FaceRecord]]
    tracks: dict[int, TrackInfo]
    jitter_raw: float
    jitter_smoothed: float
    bridged: int = 0  # faces bridged over frames their track missed


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
    bridged = bridge(found, set(cuts))
    per_track: dict[int, list[float]] = {}
    counts: dict[int, int] = {}
    for faces in found.values():
        for f in faces:
            counts[f.track] = counts.get(f.track, 0) + 1
            if not f.bridged:
                per_track.setdefault(f.track, []).append(float(f.detection.confidence or 0.0))
    info = {t: TrackInfo(track_confidence(c), counts[t], track_confidence(c) < min_confidence)
            for t, c in sorted(per_track.items())}
    held = {t for t, i in info.items() if i.held_back}
    if held:
        log.info("held back low-confidence track(s) %s", sorted(held))
    kept = {frame: [f for f in faces if f.track not in held] for frame, faces in found.items()}
    doubtful = {frame: [f for f in faces if f.track in held] for frame, faces in found.items()}
    kept = _select(kept, selection, distances)
    raw, smoothed = _smooth(_union(kept, doubtful), smoothing, set(cuts))
    return Resolved(_records(kept, face_type), {f: r for f, r in _records(
        doubtful, face_type).items() if r}, info, raw, smoothed, bridged)


def bridge(found: dict[int, list[Found]], cuts: set[int]) -> int:
    """Bridge, in place, every gap of at most ``MAX_BRIDGE`` frames in a track within a shot
    (no cut in it or at its end; every frame of it processed: a key of ``found``; nobody
    else's face where the bridge would go). Returns the faces added."""
    by_track: dict[int, list[tuple[int, Found]]] = {}
    for frame in sorted(found):
        for f in found[frame]:
            by_track.setdefault(f.track, []).append((frame, f))
    added = 0
    for track, seen in by_track.items():
        for (f0, a), (f1, b) in pairwise(seen):
            gap = range(f0 + 1, f1)
            if not 0 < len(gap) <= MAX_BRIDGE or any(g not in found for g in gap) \
                    or any(g in cuts for g in range(f0 + 1, f1 + 1)):
                continue
            confidence = BRIDGED_TRUST * min(float(a.detection.confidence or 0.0),
                                             float(b.detection.confidence or 0.0))
            for g in gap:
                t = (g - f0) / (f1 - f0)
                x0, y0, x1, y1 = ((1 - t) * np.asarray(a.detection.bbox)
                                  + t * np.asarray(b.detection.bbox)).tolist()
                if any(iou((x0, y0, x1, y1), o.detection.bbox) > 0.3 for o in found[g]):
                    continue  # someone else is there
                landmarks = (1 - t) * a.detection.landmarks + t * b.detection.landmarks
                found[g].append(Found(Detection((x0, y0, x1, y1), 0.0, landmarks, confidence),
                                      track, landmarks.copy(), bridged=True))
                found[g].sort(key=lambda f: -f.detection.width)
                added += 1
    return added


def _trust(f: Found) -> float:
    """How far a face's landmarks are trusted (0–1): not at all when bridged (they come from
    the frames around it), measured ones by their shape."""
    return 0.0 if f.bridged else landmark_trust(f.detection.landmarks)


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
        weights = np.maximum([_trust(f) for f in faces], MIN_WEIGHT)
        out = smooth_track(frames_of[track], pts, strength, cuts, weights)
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
                               _written_confidence(f), bridged=f.bridged) for f in faces]
            for frame, faces in found.items()}


def _written_confidence(f: Found) -> float | None:
    """A face's confidence in ``alignments.json``: is it a face, and can its landmarks be
    trusted (a bridged face's confidence already says it was not measured)."""
    confidence = f.detection.confidence
    if confidence is None or f.bridged:
        return confidence
    return float(confidence) * (0.5 + 0.5 * _trust(f))
