"""The merge stage: swapped faces back into the plate, one face box at a time.

Per face, inside its box only: warp the swapped face and learned mask back from the crop, build
the matte (:mod:`.masks`), sharpen, colour-match to the plate in network space
(:mod:`.colour_match`), convert back to the plate's colourspace, and blend. Pixels where the
final matte is 0 are never written, so they stay bit-identical to the plate, values above 1.0
and NaNs included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..extract.align import invert, transform_points
from ..io.colour import ColourSpaces
from . import masks
from .colour_match import match_colour
from .masks import Box
from .settings import MergeSettings


@dataclass
class SwappedFace:
    """One face ready to merge: the model's output and where it goes."""

    face: np.ndarray  # S×S×3 float32, network space 0–1
    learned: np.ndarray  # S×S float32, the model's mask
    matrix: np.ndarray  # 2×3, plate pixels → unit crop
    landmarks: np.ndarray  # 68×2 plate pixels


@dataclass
class MergeLayers:
    """The ``facemask`` layer of a merged frame (H×W each) and the face-only image."""

    face: np.ndarray  # the final matte the face was blended with
    learned: np.ndarray  # the model's mask, warped to the plate
    hull: np.ndarray  # the landmark hull, unshaped
    box: Box  # union of the face boxes that were touched
    face_rgb: np.ndarray | None = None  # premultiplied swapped face over black (face-only out)


def merge_faces(rgb: np.ndarray, alpha: np.ndarray | None, faces: list[SwappedFace],
                colour: ColourSpaces, settings: MergeSettings, matte: np.ndarray | None = None,
                face_only: bool = False) -> MergeLayers:
    """Merge ``faces`` into ``rgb`` (H×W×3, plate colourspace) **in place**; ``alpha`` (H×W)
    is updated in place too when given. ``matte`` is the artist's plate-sized matte for the
    ``image`` mask sources."""
    h, w = rgb.shape[:2]
    layers = MergeLayers(np.zeros((h, w), np.float32), np.zeros((h, w), np.float32),
                         np.zeros((h, w), np.float32), Box(0, 0, 0, 0),
                         np.zeros((h, w, 3), np.float32) if face_only else None)
    for face in faces:
        _merge_one(rgb, alpha, face, colour, settings, matte, layers)
    return layers


def _merge_one(rgb: np.ndarray, alpha: np.ndarray | None, sf: SwappedFace,
               colour: ColourSpaces, settings: MergeSettings, matte: np.ndarray | None,
               layers: MergeLayers) -> None:
    h, w = rgb.shape[:2]
    matrix = masks.scaled_matrix(sf.matrix, settings.scale)
    size = sf.face.shape[0]
    box = masks.face_box(matrix, (w, h), size, masks.margin_for(settings.erode, settings.blur))
    if box.empty:  # the face is entirely off-frame
        return
    coverage = np.clip(masks.from_crop(np.ones((size, size), np.float32), matrix, box, True),
                       0, 1)
    learned = np.clip(masks.from_crop(sf.learned, matrix, box, True), 0, 1) * coverage
    hull = masks.hull_in_box(_scaled_landmarks(sf, settings.scale), box, settings.hull)
    raw = _mask_source(settings.mask, hull, learned, matte, box) * coverage
    final = masks.shape_mask(raw, settings.erode, settings.blur) * coverage
    final[final < masks.MASK_FLOOR] = 0.0

    swapped = masks.sharpen(_face_in_box(sf.face, matrix, box), settings.sharpen)
    region = rgb[box.slices]
    target = colour.to_network(region)
    swapped = match_colour(settings.colour, swapped, target, raw)
    swapped_plate = colour.to_plate(swapped)

    m = final[..., None]
    inside = m > 0
    region[...] = np.where(inside, region + m * (swapped_plate - region), region)
    if alpha is not None:
        a = alpha[box.slices]
        a[...] = np.where(final > 0, a + final * (1.0 - a), a)
    sl = box.slices
    np.maximum(layers.face[sl], final, out=layers.face[sl])
    np.maximum(layers.learned[sl], learned, out=layers.learned[sl])
    np.maximum(layers.hull[sl], hull, out=layers.hull[sl])
    if layers.face_rgb is not None:
        under = layers.face_rgb[sl]
        under[...] = np.where(inside, swapped_plate * m + under * (1.0 - m), under)
    layers.box = layers.box.union(box)


def _face_in_box(face: np.ndarray, matrix: np.ndarray, box: Box) -> np.ndarray:
    """The face warped back, normalised by the warp of an all-ones crop so the crop's edge
    keeps its colour instead of fading into the black outside the crop."""
    warped = np.asarray(masks.from_crop(face, matrix, box), np.float32)
    weight = masks.from_crop(np.ones(face.shape[:2], np.float32), matrix, box)[..., None]
    return np.where(weight > 0.5, warped / np.maximum(weight, 0.5), warped)


def _scaled_landmarks(sf: SwappedFace, scale: float) -> np.ndarray:
    points = np.asarray(sf.landmarks, dtype=np.float64)
    if scale == 1.0:
        return points
    centre = transform_points(np.array([[0.5, 0.5]]), invert(sf.matrix))[0]
    return centre + scale * (points - centre)


def _mask_source(source: str, hull: np.ndarray, learned: np.ndarray,
                 matte: np.ndarray | None, box: Box) -> np.ndarray:
    if source == "hull":
        return hull
    if source == "learned":
        return learned
    if source == "hull*learned":
        return hull * learned
    if matte is None:
        return np.zeros_like(hull)
    image = masks.matte_in_box(matte, box)
    return image * learned if source == "image*learned" else image
