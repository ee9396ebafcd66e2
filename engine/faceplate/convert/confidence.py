"""How far to trust one swapped face: the merged frame's ``faceplate/confidence`` metadata.

Three parts, each 0–1, combined as their geometric mean (any part at 0 makes the whole 0, and
three fair parts give a fair whole, unlike a product that sinks as parts are added):

detection       extraction's "is it a face" confidence of the face (``alignments.json``: the
                detector score, the landmark shape and, for doubtful ones, a second detector;
                :mod:`faceplate.extract.confidence`). 1 when the file predates it.
landmark        how face-like the landmark shape is once pose is removed: extraction's
                :func:`~faceplate.extract.confidence.landmark_trust` (1 for a sure face, falling
                to 0 for landmarks forced onto something that is no face).
reconstruction  how well the model's learned mask agrees with the face mask it was trained to
                predict (the landmark hull with forehead, :func:`faceplate.train.data.face_mask`):
                soft Dice overlap in the crop. A model that cannot place this face (an unseen
                pose, an occluder, a bad alignment, too little training) draws a mask that
                disagrees. It needs only what the swap cache keeps, so a re-merge gives the same
                figure without running the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from faceplate_client.layout import CONFIDENCE_PARTS

from ..extract.confidence import landmark_trust
from ..face.align import crop_matrix, transform_points
from ..train.data import face_mask


@dataclass(frozen=True)
class FaceConfidence:
    detection: float
    landmark: float
    reconstruction: float

    @property
    def overall(self) -> float:
        parts = np.array([self.detection, self.landmark, self.reconstruction], np.float64)
        return float(np.prod(np.clip(parts, 0.0, 1.0)) ** (1.0 / len(parts)))

    def to_dict(self) -> dict[str, float]:
        return {"confidence": round(self.overall, 4),
                **{p: round(float(getattr(self, p)), 4) for p in CONFIDENCE_PARTS}}


NO_FACE = FaceConfidence(0.0, 0.0, 0.0)


def reconstruction_confidence(learned: np.ndarray, matrix: np.ndarray,
                              landmarks: np.ndarray) -> float:
    """Soft Dice of the learned mask (S×S) and the trained-for face mask of the landmarks."""
    size = learned.shape[0]
    crop_points = transform_points(np.asarray(landmarks, np.float64), crop_matrix(matrix, size))
    target = face_mask(crop_points, size).astype(np.float32) / 255.0
    mask = np.clip(np.asarray(learned, np.float32), 0.0, 1.0)
    total = float(mask.sum() + target.sum())
    return 0.0 if total <= 0 else float(2.0 * (mask * target).sum() / total)


def face_confidence(detection: float | None, learned: np.ndarray, matrix: np.ndarray,
                    landmarks: np.ndarray) -> FaceConfidence:
    return FaceConfidence(1.0 if detection is None else float(np.clip(detection, 0.0, 1.0)),
                          landmark_trust(landmarks),
                          reconstruction_confidence(learned, matrix, landmarks))


def mix_for(confidence: float, threshold: float, softness: float) -> float:
    """The share of a face that is merged: 1 at or above ``threshold``, fading to 0 at
    ``threshold − softness`` (a step at ``threshold`` when softness is 0)."""
    if confidence >= threshold:
        return 1.0
    if softness <= 0:
        return 0.0
    return float(np.clip(1.0 - (threshold - confidence) / softness, 0.0, 1.0))
