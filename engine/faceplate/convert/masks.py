"""Face mattes in plate pixels, limited to one face's box.

A face's box is the plate rectangle its aligned crop covers, plus room for dilation and
feathering; every merge operation works inside it, never on the whole frame. The matte is
built from a source (landmark hull, the model's learned mask, their product, or an artist's
matte image), then eroded or dilated and feathered, all in plate pixels so the numbers mean the
same thing at any crop resolution.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..face.align import warp_from_crop
from ..face.box import Box
from ..face.mask import extend_forehead, landmark_mask, soften

# Feather tails below this are cut to exactly zero, so every pixel the written facemask.face
# calls 0 is bit-identical to the plate (1/1024 is exact in half float).
MASK_FLOOR = 1.0 / 1024.0


def scaled_matrix(matrix: np.ndarray, scale: float) -> np.ndarray:
    """Grow the face ``scale`` times about the crop centre (a matrix for warping back)."""
    if scale == 1.0:
        return np.asarray(matrix, dtype=np.float64)
    m = np.asarray(matrix, dtype=np.float64) / scale
    m[:, 2] += 0.5 - 0.5 / scale
    return m


def from_crop(crop: np.ndarray, matrix: np.ndarray, box: Box, smooth: bool = False
              ) -> np.ndarray:
    """Warp a crop (S×S or S×S×C) back into ``box`` only (extraction's warp, box-limited).
    ``smooth`` interpolates linearly (mattes: no cubic overshoot)."""
    return warp_from_crop(crop, box.matrix_from(matrix), (box.width, box.height),
                          cv2.INTER_LINEAR if smooth else cv2.INTER_CUBIC)


def hull_in_box(landmarks: np.ndarray, box: Box, kind: str = "components") -> np.ndarray:
    """The landmark hull matte (extraction's ``landmark_mask``) in the box's pixels."""
    local = np.asarray(landmarks, dtype=np.float64) - np.array([box.x0, box.y0])
    return landmark_mask(local, (box.height, box.width), kind=kind).astype(np.float32)


def points_box(landmarks: np.ndarray, kind: str, margin: float) -> Box:
    """The box around the hull of ``kind`` drawn from ``landmarks``, grown by ``margin`` px."""
    points = np.asarray(landmarks, dtype=np.float64)
    if kind == "extended":
        points = extend_forehead(points)
    lo = np.floor(points.min(axis=0) - margin - 2).astype(int)
    hi = np.ceil(points.max(axis=0) + margin + 2).astype(int)
    return Box(int(lo[0]), int(lo[1]), int(hi[0]) + 1, int(hi[1]) + 1)


def matte_in_box(matte: np.ndarray, box: Box) -> np.ndarray:
    """An artist's (or the occluders') matte over ``box``, 0–1 and finite: NaN is 0, +inf 1."""
    return np.nan_to_num(np.clip(matte[box.slices], 0.0, 1.0), nan=0.0).astype(np.float32)


def shape_mask(mask: np.ndarray, erode: float, blur: float) -> np.ndarray:
    """Erode (positive) or dilate (negative) by ``erode`` px, then feather with a Gaussian of
    sigma ``blur`` px (:func:`faceplate.face.mask.soften`); tails under :data:`MASK_FLOOR` become exactly 0.

    Edges replicate: a box stops short of a matte only at the frame's edge, where the face
    goes on out of frame and must not fade or erode."""
    out = np.nan_to_num(np.clip(mask, 0.0, 1.0), nan=0.0).astype(np.float32)
    radius = round(abs(erode))
    if radius:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        op = cv2.erode if erode > 0 else cv2.dilate
        out = op(out, kernel, borderType=cv2.BORDER_REPLICATE)
    if blur > 0:
        out = soften(out, blur)
    out[out < MASK_FLOOR] = 0.0
    return np.minimum(out, 1.0)


def margin_for(erode: float, blur: float) -> float:
    """How far past the crop a shaped matte can reach."""
    return max(0.0, -erode) + 3.0 * blur + 2.0


def sharpen(face: np.ndarray, amount: float, radius: float = 1.5) -> np.ndarray:
    """Unsharp mask: ``face + amount × (face − blurred face)``."""
    if amount <= 0:
        return face
    soft = cv2.GaussianBlur(face, (0, 0), sigmaX=radius, sigmaY=radius)
    return (face + amount * (face - soft)).astype(np.float32)
