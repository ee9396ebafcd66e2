"""How large a face is on the plate, and how large the model draws it.

A face's matrix maps plate pixels to the unit aligned crop, so the crop's side on the plate is
``1 / sqrt(|det|)`` of its linear part: the number of plate pixels a model's S×S face is
stretched over. ``face_scale`` = the model's resolution over that size: 1 draws the face at
the plate's own detail, 0.25 upscales it 4× (soft however good the model is). Training's
``--preset auto`` picks the resolution from the median of a shot's faces (:func:`median_face_px`);
convert warns once when a model draws a face at under half its size on the plate
(:data:`SOFT_BELOW`) and writes the scale into each frame's metadata (``faceplate/face_scale``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

SOFT_BELOW = 0.5  # a face scale under this is upscaled more than 2×: convert warns


def face_px(matrix: np.ndarray) -> float:
    """The side, in plate pixels, of the aligned crop ``matrix`` (2×3, plate pixels → the
    unit crop) cuts."""
    det = abs(float(np.linalg.det(np.asarray(matrix, np.float64)[:, :2])))
    return 1.0 / math.sqrt(det) if det > 0 else 0.0


def _median_size(sizes: Iterable[float]) -> float | None:
    """The median of the known sizes (above 0); None when none is known."""
    known = [s for s in sizes if s > 0]
    return float(np.median(known)) if known else None


def median_face_px(matrices: Iterable[np.ndarray]) -> float | None:
    """The median crop side over faces (None when there are none)."""
    return _median_size(face_px(m) for m in matrices)


def facesets_face_px(folders: Iterable[str]) -> float | None:
    """The median crop side on the plate over every face of these face sets, as extraction
    recorded it (None when none was: sets made before it did)."""
    from ..extract.faceset import load_faceset

    return _median_size(e.plate_px for folder in folders for e in load_faceset(folder).entries)


def face_scale(resolution: int, matrix: np.ndarray) -> float:
    """Model pixels per plate pixel of this face (1: the plate's own detail; below 1 the face is
    upscaled onto the plate)."""
    size = face_px(matrix)
    return resolution / size if size > 0 else 0.0


def soft_warning(resolution: int, scales: Iterable[float]) -> str | None:
    """The one line convert prints when a model draws faces at under SOFT_BELOW of their size
    on the plate (None when none is)."""
    small = [s for s in scales if 0 < s < SOFT_BELOW]
    if not small:
        return None
    worst = min(small)
    return (f"the model draws faces at {resolution} px, under half their size on the plate "
            f"(down to {worst:.2f}: faces of about {resolution / worst:.0f} px are upscaled "
            f"{1 / worst:.1f}x, so the swap is soft there); train a larger model "
            f"(faceplate train --preset auto --shot SHOTDIR picks the size from the shot)")


def shots_face_px(shot_dirs: Iterable[str]) -> float | None:
    """The median crop side on the plate over every face of these shots' ``alignments.json``
    (frame pixels: the plate's own size, whatever its data window)."""
    from ..extract import alignments

    matrices = [face.matrix for shot in shot_dirs
                for faces in alignments.load(shot).frames.values() for face in faces]
    return median_face_px(matrices)


def shot_face_scale(resolution: int, shot, frames: Iterable[int]) -> dict:
    """The QC figures of a render: the lowest and the median face scale over ``frames`` of
    ``shot`` (an ``Alignments``), and the warning when a face is drawn at under SOFT_BELOW of
    its size on the plate; {} when those frames hold no face."""
    scales = [face_scale(resolution, face.matrix) for f in frames
              for face in shot.frames.get(int(f), [])]
    if not scales:
        return {}
    out: dict = {"min": round(min(scales), 3), "median": round(float(np.median(scales)), 3)}
    warning = soft_warning(resolution, scales)
    if warning:
        out["warning"] = warning
    return out
