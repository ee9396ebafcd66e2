"""ST maps between a plate and its aligned face crop, in Nuke's STMap convention.

An ST map is an image whose first two channels say, for each of its pixels, where to sample a
source image: ``s`` across, ``t`` up, both normalised so (0, 0) is the source's bottom-left
corner and (1, 1) its top-right corner (Nuke's STMap node). A pixel's centre is half a pixel in
from its corners, so the source pixel at index (column ``x``, row ``y`` counted from the top)
sits at ``s = (x + 0.5) / W``, ``t = 1 − (y + 0.5) / H``.

Naming: ``A_to_B`` has the size of A and holds coordinates in B. STMap(src=B, stmap=A_to_B)
gives an image in A's space: ``face_to_plate`` (crop size) stabilises the plate,
``plate_to_face`` (plate size) puts a (painted) face back onto the plate. With the unit-crop
matrix of :mod:`faceplate.face.align`, ``plate_to_face`` is the unit crop coordinate itself:
``s = u``, ``t = 1 − v``.
"""

from __future__ import annotations

import cv2
import numpy as np

from .align import check_size, crop_box, invert, transform_points


def _pixel_grid(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """Pixel-index coordinates (x, y) of a box as an H×W×2 float64 grid."""
    xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float64),
                         np.arange(y0, y1, dtype=np.float64))
    return np.stack([xs, ys], axis=-1)


def index_to_st(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Pixel-index coordinates (…×2, rows from the top) → ST of an image of ``(width, height)``."""
    w, h = size
    p = np.asarray(points, np.float64)
    return np.stack([(p[..., 0] + 0.5) / w, 1.0 - (p[..., 1] + 0.5) / h], axis=-1)


def st_to_index(st: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The inverse of :func:`index_to_st`: where to sample, in a ``(width, height)`` image's
    pixel indices (what ``cv2.remap`` takes)."""
    w, h = size
    st = np.asarray(st, np.float64)
    return np.stack([st[..., 0] * w - 0.5, (1.0 - st[..., 1]) * h - 0.5], axis=-1)


def face_to_plate(unit_matrix: np.ndarray, size: int, plate_size: tuple[int, int]
                  ) -> np.ndarray:
    """Crop-size map (S×S×3: s, t, inside) of plate coordinates: STMap(plate) = the aligned
    crop. ``inside`` is 1 where the crop pixel lies on the plate, else 0."""
    size = check_size(size)
    unit = (_pixel_grid(0, 0, size, size) + 0.5) / size  # crop pixel centres, unit crop
    plate = transform_points(unit.reshape(-1, 2), invert(unit_matrix)).reshape(size, size, 2)
    w, h = plate_size
    inside = ((plate[..., 0] >= -0.5) & (plate[..., 0] <= w - 0.5)
              & (plate[..., 1] >= -0.5) & (plate[..., 1] <= h - 0.5))
    return np.dstack([index_to_st(plate, plate_size), inside]).astype(np.float32)


def plate_to_face(unit_matrix: np.ndarray, size: int, plate_size: tuple[int, int],
                  out: np.ndarray | None = None, origin: tuple[int, int] = (0, 0)
                  ) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """Plate-size map of crop coordinates, over the plate box the face covers only:
    ``(pixels, (x0, y0, x1, y1))`` with pixels (y1−y0)×(x1−x0)×3 (s, t, inside; 0 outside the
    crop), or None when the face is off the plate. STMap(crop) = the crop back on the plate.
    ``out`` (a map of the plate from ``origin`` (x, y) on, covering the box) receives the
    box's pixels in place when given."""
    size = check_size(size)
    box = crop_box(unit_matrix, plate_size, size)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    m = np.asarray(unit_matrix, np.float64)
    xs, ys = np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64)
    ox, oy = origin
    pixels = np.empty((y1 - y0, x1 - x0, 3), np.float32) if out is None \
        else out[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    # u = m00·x + m01·y + m02 (and v likewise), as a row plus a column: no pixel grid. Float32
    # holds a unit coordinate to 1e-7, a thousandth of a pixel of any crop.
    u = (m[0, 0] * xs).astype(np.float32)[None, :] + \
        (m[0, 1] * ys + m[0, 2]).astype(np.float32)[:, None]
    v = (m[1, 0] * xs).astype(np.float32)[None, :] + \
        (m[1, 1] * ys + m[1, 2]).astype(np.float32)[:, None]
    inside = np.abs(u - 0.5) <= 0.5
    inside &= np.abs(v - 0.5) <= 0.5
    np.multiply(u, inside, out=pixels[..., 0])
    np.subtract(1.0, v, out=v)
    np.multiply(v, inside, out=pixels[..., 1])
    pixels[..., 2] = inside
    return pixels, box


def apply_stmap(src: np.ndarray, st: np.ndarray, interpolation: int | None = None
                ) -> np.ndarray:
    """What Nuke's STMap does: an image of the map's size, each pixel sampled from ``src`` at
    the map's (s, t) (first two channels); outside ``src`` is zero."""
    h, w = src.shape[:2]
    where = st_to_index(np.asarray(st)[..., :2], (w, h)).astype(np.float32)
    out = cv2.remap(np.asarray(src, np.float32), where[..., 0], where[..., 1],
                    cv2.INTER_LINEAR if interpolation is None else interpolation,
                    borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.reshape(*st.shape[:2], -1) if np.ndim(src) == 3 else out
