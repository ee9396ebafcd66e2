"""Is it a face? A confidence (0–1) per detection and per track.

A first detector fires on face-like texture too (an embroidered patch, a cat, gravel). Three
signs are combined: the detector's score, the *shape* of the 68 landmarks (RMS Procrustes
residual to the mean face after a similarity fit, in inter-ocular distances: real faces,
frontal to three-quarter, sit below ≈0.12, landmarks forced onto a non-face mostly above),
and, for a doubtful detection, a second opinion from dlib's CNN detector run on the box's
neighbourhood only. A detection with a high score and a face-like shape is taken as it is;
a doubtful one is confirmed (confidence ≥ 0.5) or refuted (≤ 0.25) by the CNN. The CNN costs
≈0.3 s a look, so each track is verified at most ``VERIFY_PER_TRACK`` times; its later
doubtful detections take the mean of those verdicts. A track's confidence is the mean of its
detections'; tracks below the settings' ``min_confidence`` are held back. Apart from "is it a
face", :func:`landmark_trust` says how far a face's landmarks can be trusted (low on
profiles): the smoother leans on the better frames around such a face, and the face's
written confidence is lowered with it (extract.resolve).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..face.align import mean_face, transform_points, umeyama
from .backends.base import Backend, Detection, DetectorBox
from .smooth import interocular
from .track import iou

SURE_SCORE = 0.8  # detector score (0.5 at its threshold) above which a face-shaped box is taken
SURE_RESIDUAL = 0.10  # shape residual below which landmarks look like a face
MAX_RESIDUAL = 0.40  # beyond this the landmarks are no face at all
VERIFY_PER_TRACK = 3
CONFIRM_IOU = 0.3  # the CNN's box must overlap the doubtful one this much to confirm it
FINE_FACE_PX = 140.0  # the CNN's second look: the face resampled this wide


def shape_distance(landmarks: np.ndarray, face_type: str = "whole_face") -> float:
    """How far a face's landmark shape is from the mean face once pose is removed: RMS
    residual after the best similarity fit, in inter-ocular distances."""
    target = mean_face(face_type)
    pts = np.asarray(landmarks, np.float64)
    fitted = transform_points(pts, umeyama(pts, target))
    return float(np.sqrt(((fitted - target) ** 2).sum(axis=1).mean()) / interocular(target))


def prior(detection: Detection) -> float | None:
    """The confidence without a second opinion, or None when the detection is doubtful."""
    residual = shape_distance(detection.landmarks)
    if residual > MAX_RESIDUAL:
        return 0.0
    if detection.score >= SURE_SCORE and residual <= SURE_RESIDUAL:
        return float(min(1.0, 0.5 + detection.score / 2))
    return None


def cnn_look(verifier: Backend, frame, box: DetectorBox, margin: float,
             wanted: Callable[[Detection], bool]) -> list[Detection]:
    """The CNN's ``wanted`` faces in the window around ``box``: first with the face resampled
    to the CNN's own size (≈0.3 s a look on one core); where that finds none, again at
    ``FINE_FACE_PX`` (turned heads and faces at half opacity need the detail; ≈0.5–1 s)."""
    for face_px in (None, FINE_FACE_PX):
        found = [d for d in verifier.detect_near(frame, box, margin, face_px) if wanted(d)]
        if found:
            return found
    return []


def verdict(verifier: Backend, frame, detection: Detection) -> float:
    """The CNN's opinion on a doubtful detection: ≥ 0.5 confirmed, ≤ 0.25 refuted."""
    seen = cnn_look(verifier, frame, detection.bbox, 0.5,
                    lambda d: iou(d.bbox, detection.bbox) >= CONFIRM_IOU)
    best = max((iou(d.bbox, detection.bbox) for d in seen), default=0.0)
    if best >= CONFIRM_IOU:
        return float(min(1.0, 0.5 + 0.5 * best))
    return 0.25 * detection.score


def unverified(detection: Detection) -> float:
    """A doubtful detection's confidence when no verifier is used: score times shape."""
    residual = shape_distance(detection.landmarks)
    return float(detection.score * np.exp(-((residual / (2 * SURE_RESIDUAL)) ** 2)))


class Judge:
    """Rates detections as they are tracked (each with its track id)."""

    def __init__(self, verifier: Backend | None):
        self.verifier = verifier
        self._verdicts: dict[int, list[float]] = {}
        self.looks = 0  # CNN verifications run

    def rate(self, frame, detection: Detection, track: int) -> float:
        sure = prior(detection)
        if sure is not None:
            return sure
        if self.verifier is None:
            return unverified(detection)
        verdicts = self._verdicts.setdefault(track, [])
        if len(verdicts) < VERIFY_PER_TRACK:
            verdicts.append(verdict(self.verifier, frame, detection))
            self.looks += 1
            return verdicts[-1]
        return float(np.mean(verdicts))

    def rate_alone(self, frame, detection: Detection) -> float:
        """A detection's confidence on its own (no track history): the per-frame ``detect``
        op, whose tracks are formed later, verifies every doubtful one."""
        sure = prior(detection)
        if sure is not None:
            return sure
        if self.verifier is None:
            return unverified(detection)
        self.looks += 1
        return verdict(self.verifier, frame, detection)


def track_confidence(confidences: list[float]) -> float:
    return float(np.mean(confidences)) if confidences else 0.0


def found_by_verifier(detection: Detection) -> float:
    """A face the CNN detector itself found (where a track expected one, or searching a
    frame): confident. Landmarks that are no face shape (a profile, where the 68-point
    models do poorly) leave it below ``min_confidence`` on its own, so only a track of
    better faces carries it."""
    return 0.75 if shape_distance(detection.landmarks) <= MAX_RESIDUAL else 0.45


def landmark_trust(landmarks: np.ndarray) -> float:
    """How far a face's own landmarks can be trusted, 0–1: 1 up to the residual of a sure
    face (``SURE_RESIDUAL``), falling linearly to 0 at ``MAX_RESIDUAL`` (three-quarter and
    profile faces, where landmark models guess)."""
    residual = shape_distance(landmarks)
    return float(np.clip(1.0 - (residual - SURE_RESIDUAL) / (MAX_RESIDUAL - SURE_RESIDUAL),
                         0.0, 1.0))
