"""Soft mattes of face parts from the 68 landmarks: the merged EXR's ``faceregion`` layer.

Eyes, brows and mouth are convex hulls of their landmarks, grown and feathered in proportion
to the face (the inter-ocular distance), so a matte means the same on a close-up and a wide
shot; skin is the face hull without them. They are drawn from each frame's landmarks, so they
move with the face, and with :func:`faceplate.face.mask.hull_matte`, the one rasteriser of
landmark hulls.
"""

from __future__ import annotations

import numpy as np

from ..extract.smooth import interocular
from ..face.mask import hull_matte, landmark_mask

REGIONS = ("eyes", "brows", "mouth", "skin")  # the order of layout.FACEREGION_CHANNELS
# Sizes as shares of the inter-ocular distance.
EYE_GROW = 0.12  # room for the lids around the eye opening
BROW_HALF_WIDTH = 0.07  # a brow's points lie along its middle; the band is this thick each side
MOUTH_GROW = 0.06
FEATHER = 0.08  # edge softness of every region (the blur of hull_matte)

_RIGHT_EYE, _LEFT_EYE = slice(36, 42), slice(42, 48)
_BROWS = (slice(17, 22), slice(22, 27))
_OUTER_LIPS = slice(48, 60)


def _grown(points: np.ndarray, by: float) -> np.ndarray:
    """The points pushed ``by`` px away from their centroid (a convex hull grown about)."""
    centre = points.mean(axis=0)
    away = points - centre
    length = np.maximum(np.linalg.norm(away, axis=1, keepdims=True), 1e-6)
    return points + by * away / length


def region_mattes(landmarks: np.ndarray, shape: tuple[int, int], hull: str = "components"
                  ) -> np.ndarray:
    """H×W×4 float32 mattes (eyes, brows, mouth, skin) of one face whose landmarks are in the
    pixels of an image of ``shape`` (H, W); ``hull`` is the face hull skin is cut from."""
    pts = np.asarray(landmarks, np.float64)
    scale = float(interocular(pts))
    feather = FEATHER * scale
    eyes = hull_matte([_grown(pts[s], EYE_GROW * scale) for s in (_RIGHT_EYE, _LEFT_EYE)],
                      shape, feather)
    bands = []
    for brow, eye in zip(_BROWS, (_RIGHT_EYE, _LEFT_EYE)):
        up = pts[brow].mean(axis=0) - pts[eye].mean(axis=0)
        up *= BROW_HALF_WIDTH * scale / max(float(np.linalg.norm(up)), 1e-6)
        bands.append(np.concatenate([pts[brow] + up, pts[brow] - up]))
    brows = hull_matte(bands, shape, feather)
    mouth = hull_matte([_grown(pts[_OUTER_LIPS], MOUTH_GROW * scale)], shape, feather)
    face = landmark_mask(pts, shape, kind=hull, feather=feather)
    skin = face * (1.0 - eyes) * (1.0 - brows) * (1.0 - mouth)
    return np.stack([eyes, brows, mouth, skin], axis=-1)


def margin(landmarks: np.ndarray) -> float:
    """How far past the landmarks (and the hull's forehead) a region matte can reach, px."""
    return (max(EYE_GROW, BROW_HALF_WIDTH, MOUTH_GROW) + 1.5 * FEATHER) \
        * float(interocular(np.asarray(landmarks, np.float64))) + 2.0
