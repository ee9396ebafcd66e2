"""Mattes from landmarks: the union of convex hulls over face parts, optionally with forehead.

``components`` covers jaw, cheeks, brows, nose and mouth (it follows the jaw line, unlike one
hull of all points, which bridges the neck under a turned chin). ``extended`` lifts the brow
points towards the hairline so the forehead is included. Only the face's box is rasterised, so
a 4K frame costs the face, not the frame.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..errors import FaceplateError

MASK_KINDS = ("components", "extended")
# Part hulls as landmark index lists (iBUG 300-W): each half of the face with its brow, the
# inner end of the other brow and the nose bridge; and the lower face from nose to chin.
_PARTS = (
    list(range(9)) + list(range(17, 23)) + [27, 28, 29, 30],
    list(range(8, 17)) + list(range(21, 27)) + [27, 28, 29, 30],
    list(range(2, 15)) + list(range(27, 36)) + list(range(48, 60)),
)
FOREHEAD_LIFT = 0.45  # brow points move up by this share of the brow-to-chin distance


def landmark_mask(landmarks: np.ndarray, shape: tuple[int, int], kind: str = "components",
                  feather: float = 0.0) -> np.ndarray:
    """Float32 H×W matte in 0–1 for one face; ``feather`` is the blur radius in pixels."""
    if kind not in MASK_KINDS:
        raise FaceplateError(f"unknown mask kind {kind!r}: use one of {', '.join(MASK_KINDS)}")
    pts = np.asarray(landmarks, np.float64)
    if pts.shape != (68, 2):
        raise FaceplateError(f"a landmark mask needs 68×2 landmarks, got {pts.shape}")
    if kind == "extended":
        pts = extend_forehead(pts)
    return hull_matte([pts[part] for part in _PARTS], shape, feather)


def hull_matte(polygons: list[np.ndarray], shape: tuple[int, int], feather: float = 0.0
               ) -> np.ndarray:
    """Float32 H×W matte in 0–1: the union of the convex hulls of ``polygons`` (each N×2 image
    pixels), anti-aliased with 1/16 px vertices, blurred by ``feather`` px (Gaussian sigma
    ``feather / 2``). Only the polygons' box is rasterised."""
    h, w = shape
    out = np.zeros((h, w), np.float32)
    pts = np.concatenate([np.asarray(p, np.float64) for p in polygons])
    pad = int(np.ceil(3 * feather)) + 2
    x0, y0 = np.floor(pts.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int) + pad
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return out
    region = np.zeros((y1 - y0, x1 - x0), np.uint8)
    shift = 4  # sub-pixel polygon vertices, 1/16 px
    for poly in polygons:
        scaled = (np.asarray(poly, np.float64) - (x0, y0)) * (1 << shift)
        hull = cv2.convexHull(np.round(scaled).astype(np.int32))
        cv2.fillConvexPoly(region, hull, 255, lineType=cv2.LINE_AA, shift=shift)
    matte = region.astype(np.float32) / 255.0
    if feather > 0:
        matte = np.clip(soften(matte, feather / 2.0), 0.0, 1.0)
    out[y0:y1, x0:x1] = matte
    return out


def soften(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a matte. Wide ones are three box passes of the same variance (a
    near-Gaussian whose cost does not grow with the width: a 4K face's 8 px feather costs a
    few milliseconds, not fifty), narrow ones a true Gaussian."""
    if sigma <= 2.0:
        return cv2.GaussianBlur(mask, (0, 0), sigmaX=sigma, sigmaY=sigma,
                                borderType=cv2.BORDER_REPLICATE)
    # Three passes of width w give σ² = (w² − 1)/4; w odd keeps the matte centred.
    width = 2 * round((math.sqrt(4.0 * sigma * sigma + 1.0) - 1.0) / 2.0) + 1
    out = mask
    for _ in range(3):
        out = cv2.blur(out, (width, width), borderType=cv2.BORDER_REPLICATE)
    return out


def extend_forehead(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks with the brow points (17–26) lifted towards the hairline."""
    pts = np.array(landmarks, np.float64)
    brows = pts[17:27]
    up = brows.mean(axis=0) - pts[8]
    pts[17:27] = brows + FOREHEAD_LIFT * up
    # Keep the outer brow ends near the temples so the lifted outline stays rounded.
    pts[[17, 26]] = (pts[[17, 26]] + brows[[0, 9]]) / 2
    return pts
