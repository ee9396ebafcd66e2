"""Face-set curation: order crops by sharpness or head turn, set aside misfits.

Nothing is deleted: :func:`drop_outliers` moves rejected crops to ``DIR/rejected/`` and takes
them out of ``faceset.json``, so an artist can look and move one back. Sorting rewrites only the
order of the index.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from ..errors import FaceplateError
from .confidence import shape_distance
from .faceset import FaceEntry, FaceSet

SORT_KEYS = ("blur", "yaw")
REJECTED = "rejected"


def blur_score(rgb: np.ndarray) -> float:
    """Sharpness: variance of the Laplacian of the grey image (higher is sharper)."""
    grey = cv2.cvtColor(np.asarray(rgb, np.float32), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def yaw_score(landmarks: np.ndarray) -> float:
    """Head turn in degrees from 68 landmarks: where the nose tip sits between the jaw sides
    (0 frontal; the sign says which way). A geometric estimate, good for ordering."""
    pts = np.asarray(landmarks, np.float64)
    left, right, nose = pts[0], pts[16], pts[30]
    axis = right - left
    half = np.linalg.norm(axis) / 2
    if half == 0:
        return 0.0
    offset = np.dot(nose - (left + right) / 2, axis / (2 * half))
    return float(np.degrees(np.arcsin(np.clip(offset / half, -1.0, 1.0))))


def sort_faceset(faceset: FaceSet, key: str = "blur") -> FaceSet:
    """Reorder the index: ``blur`` sharpest first, ``yaw`` most frontal first."""
    if key not in SORT_KEYS:
        raise FaceplateError(f"cannot sort a face set by {key!r}: use one of {', '.join(SORT_KEYS)}")
    if key == "blur":
        scores = [-blur_score(faceset.image(i)) for i in range(len(faceset))]
    else:
        scores = [abs(yaw_score(e.landmarks)) for e in faceset.entries]
    faceset.entries = [faceset.entries[i] for i in np.argsort(scores, kind="stable")]
    faceset.save_index()
    return faceset


def drop_outliers(faceset: FaceSet, spread: float = 4.0) -> list[FaceEntry]:
    """Set aside faces whose shape distance is more than ``spread`` robust deviations (MAD)
    above the set's median: misdetections, broken landmarks, extreme profiles."""
    if len(faceset) < 5:
        return []
    distances = np.array([shape_distance(e.landmarks, faceset.face_type)
                          for e in faceset.entries])
    median = np.median(distances)
    mad = 1.4826 * np.median(np.abs(distances - median)) or 1e-6
    limit = median + spread * mad
    keep: list[FaceEntry] = []
    rejected: list[FaceEntry] = []
    for entry, d in zip(faceset.entries, distances):
        (rejected if d > limit else keep).append(entry)
    if rejected:
        folder = os.path.join(faceset.root, REJECTED)
        os.makedirs(folder, exist_ok=True)
        for entry in rejected:
            os.replace(os.path.join(faceset.root, entry.file), os.path.join(folder, entry.file))
        faceset.entries = keep
        faceset.save_index()
    return rejected
