"""Alignment: a similarity transform from plate pixels to the unit aligned crop, and warps.

``alignment_matrix`` fits (Umeyama, least squares, no reflection) the face's inner landmarks
(brows, eyes, nose, mouth; the jaw moves with head turns) to our mean face placed in the unit
crop of the chosen face type. A crop of size S uses ``S * matrix``. The same matrix warps the
crop back; :func:`warp_from_crop_box` returns only the box the face covers, so merging a face
into a 4K plate costs the face, not the frame.
"""

from __future__ import annotations

import cv2
import numpy as np
from faceplate_client.layout import FACE_TYPES

from ..errors import FaceplateError
from .box import Box
from .meanface import INNER, MEAN_FACE

# Per face type: the crop square around the mean face (which spans the unit square brow to chin,
# jaw to jaw) as (centre x, centre y, side). `whole_face` adds the forehead, `head` hair and ears.
CROPS = {
    "face": (0.5, 0.5, 1.25),
    "whole_face": (0.5, 0.42, 1.55),
    "head": (0.5, 0.36, 2.2),
}  # one per layout.FACE_TYPES, in its order (tests/test_gizmos.py checks)
MIN_SIZE, MAX_SIZE = 64, 1024


def mean_face(face_type: str) -> np.ndarray:
    """The 68-point mean face in unit crop coordinates of ``face_type``."""
    cx, cy, side = _crop(face_type)
    return (MEAN_FACE - (cx - side / 2, cy - side / 2)) / side


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src → dst, 2×3."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    var = (s ** 2).sum() / len(src)
    scale = np.trace(np.diag(sig) @ sign) / var if var > 0 else 1.0
    lin = scale * rot
    return np.hstack([lin, (mu_d - lin @ mu_s)[:, None]])


def alignment_matrix(landmarks: np.ndarray, face_type: str = "whole_face") -> np.ndarray:
    """2×3 matrix: plate pixels → unit aligned crop (0–1 square) for ``face_type``."""
    landmarks = np.asarray(landmarks, np.float64)
    if landmarks.shape != (68, 2) or not np.isfinite(landmarks).all():
        raise FaceplateError(f"alignment needs 68×2 finite landmarks, got {landmarks.shape}")
    return umeyama(landmarks[INNER], mean_face(face_type)[INNER])


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2×3 affine matrix to N×2 points."""
    m = np.asarray(matrix, np.float64)
    return np.asarray(points, np.float64) @ m[:, :2].T + m[:, 2]


def invert(matrix: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(matrix, np.float64))


def crop_matrix(unit_matrix: np.ndarray, size: int) -> np.ndarray:
    """Plate pixels → crop pixel indices of an S×S crop (pixel centres at integers)."""
    m = np.asarray(unit_matrix, np.float64) * size
    m[:, 2] -= 0.5  # unit coordinate u covers pixel (u·S − 0.5) in index terms
    return m


def warp_to_crop(image: np.ndarray, unit_matrix: np.ndarray, size: int,
                 interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
    """The aligned S×S×C crop of ``image`` (any channels; area filtering when shrinking)."""
    size = check_size(size)
    m = crop_matrix(unit_matrix, size)
    scale = np.sqrt(abs(np.linalg.det(m[:, :2])))
    if scale < 0.5:  # shrinking a lot: pre-filter so fine detail does not alias
        image = _prefilter(image, scale)
    out = cv2.warpAffine(np.asarray(image, np.float32), m, (size, size), flags=interpolation,
                         borderMode=cv2.BORDER_REFLECT101)
    return out.reshape(size, size, -1) if np.ndim(image) == 3 else out


def warp_from_crop(crop: np.ndarray, unit_matrix: np.ndarray, frame_size: tuple[int, int],
                   interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
    """Put a crop back into a frame of ``(width, height)``; outside the crop is zero."""
    w, h = frame_size
    m = crop_matrix(unit_matrix, crop.shape[0])
    out = cv2.warpAffine(np.asarray(crop, np.float32), m, (w, h),
                         flags=interpolation | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.reshape(h, w, -1) if crop.ndim == 3 else out


def crop_box(unit_matrix: np.ndarray, frame_size: tuple[int, int], crop_size: int = 256
             ) -> tuple[int, int, int, int] | None:
    """Integer box ``(x0, y0, x1, y1)`` of the frame that a ``crop_size`` crop touches when
    warped back (its square plus the resampling kernel's reach), or None if off-frame."""
    to_plate = invert(unit_matrix)
    corners = transform_points(np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float), to_plate)
    plate_px_per_crop_px = np.sqrt(abs(np.linalg.det(to_plate[:, :2]))) / crop_size
    pad = int(np.ceil(2.0 * max(plate_px_per_crop_px, 1.0))) + 1  # cubic reaches 2 crop px
    w, h = frame_size
    x0, y0 = np.floor(corners.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + pad
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    return None if x1 <= x0 or y1 <= y0 else (int(x0), int(y0), int(x1), int(y1))


def warp_from_crop_box(crop: np.ndarray, unit_matrix: np.ndarray, frame_size: tuple[int, int],
                       interpolation: int = cv2.INTER_CUBIC
                       ) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """Like :func:`warp_from_crop` but only the frame box the crop covers: ``(pixels, box)``.

    ``pixels`` is ``(y1−y0)×(x1−x0)[×C]``; paste it at ``frame[y0:y1, x0:x1]``. None when the
    face lies entirely outside the frame.
    """
    box = crop_box(unit_matrix, frame_size, crop.shape[0])
    if box is None:
        return None
    x0, y0, x1, y1 = box
    m = Box(*box).matrix_from(crop_matrix(unit_matrix, crop.shape[0]))  # box pixel → crop pixel
    out = cv2.warpAffine(np.asarray(crop, np.float32), m, (x1 - x0, y1 - y0),
                         flags=interpolation | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return (out.reshape(y1 - y0, x1 - x0, -1) if crop.ndim == 3 else out), box


def check_size(size: int) -> int:
    if not MIN_SIZE <= int(size) <= MAX_SIZE:
        raise FaceplateError(f"crop size {size} is outside {MIN_SIZE}–{MAX_SIZE} px")
    return int(size)


def _crop(face_type: str) -> tuple[float, float, float]:
    try:
        return CROPS[face_type]
    except KeyError:
        raise FaceplateError(f"unknown face type {face_type!r}: use one of "
                             f"{', '.join(FACE_TYPES)}") from None


def _prefilter(image: np.ndarray, scale: float) -> np.ndarray:
    sigma = 0.4 / scale
    return cv2.GaussianBlur(np.asarray(image, np.float32), (0, 0), sigma)
