"""Plate → aligned crop in network space: the one way every stage cuts a face.

Convert's swap (what the model is fed at render time), extraction's face sets (what it is
trained on), coverage's descriptors, occlusion's crops and the ``align`` op all call
:func:`aligned_crop`, then :func:`model_input` where the crop is given to a network, so a
face is the same crop, bit for bit, whichever stage cut it.

The crop is cut from the plate's stored pixels (its array) with the face's matrix moved onto
that grid (``faceplate.io.geometry.Geometry.to_array`` / ``place``): alignments are in frame
pixels. Only the plate box the crop covers is read and converted, and the colour is converted
**before** the warp (the network's space is what is resampled).

Plates may hold NaN or infinite pixels (bad pixels, a divide by zero in a grade). None of them
reaches the colour conversion or the warp: :func:`aligned_crop` marks the crop samples they
reach as NaN (colour matching gives them no weight), and :func:`model_input` inpaints them
from the finite samples around them (:func:`fill_non_finite`) and clips to the network's 0–1.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from .align import crop_box, warp_to_crop
from .box import Box


def aligned_crop(pixels: np.ndarray, matrix: np.ndarray, size: int,
                 to_network: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """The S×S×3 float32 aligned crop of ``pixels`` (H×W×3 plate RGB, float16 or float32) for
    ``matrix`` (2×3, the array's pixels → the unit crop), in network space: ``to_network``
    converts plate pixels (e.g. ``ColourSpaces.to_network``), None when ``pixels`` are in
    network space already. Not clipped (colour matching measures the plate's own values);
    NaN where a non-finite plate pixel reaches, through the warp's kernel."""
    box = source_box(matrix, pixels.shape[1::-1], size)
    cut, to_box = pixels[box.slices], box.matrix_from(matrix)
    convert = to_network or (lambda rgb: rgb)
    bad = non_finite_pixels(cut)
    if bad is None:
        return warp_to_crop(convert(cut), to_box, size)
    # Zeroed for the colour conversion and the warp only: every sample they touch is marked.
    crop = warp_to_crop(convert(np.where(bad[..., None], 0.0, cut)), to_box, size)
    reached = warp_to_crop(cv2.dilate(bad.astype(np.float32), np.ones((3, 3), np.uint8)),
                           to_box, size, cv2.INTER_LINEAR)  # covers the cubic kernel's reach
    crop[reached > 0] = np.nan
    return crop


def model_input(crop: np.ndarray) -> np.ndarray:
    """What a network is given of an :func:`aligned_crop`: its NaN samples inpainted, clipped
    to 0–1, float32 (convert's swap, face sets, coverage, occlusion and ``align`` alike)."""
    return np.clip(fill_non_finite(crop), 0.0, 1.0).astype(np.float32)


def face_box(matrix: np.ndarray, frame_size: tuple[int, int], crop_size: int,
             margin: float = 0.0) -> Box:
    """The plate box a ``crop_size`` crop of ``matrix`` touches (:func:`~.align.crop_box`),
    grown by ``margin`` px and clipped to the frame (``frame_size`` is ``(width, height)``);
    empty when the face is off-frame."""
    box = crop_box(matrix, frame_size, crop_size)
    if box is None:
        return Box(0, 0, 0, 0)
    pad = math.ceil(margin)
    w, h = frame_size
    return Box(max(0, box[0] - pad), max(0, box[1] - pad), min(w, box[2] + pad),
               min(h, box[3] + pad))


def source_box(matrix: np.ndarray, frame_size: tuple[int, int], size: int) -> Box:
    """The plate box a face's crop is cut from: the box the crop covers, or the whole frame
    for a face off the frame (its crop is all reflection then: cheap, and swapped anyway)."""
    box = face_box(matrix, frame_size, size)
    return Box(0, 0, *frame_size) if box.empty else box


def non_finite_pixels(pixels: np.ndarray) -> np.ndarray | None:
    """H×W: the pixels with a NaN or infinite channel; None when every value is finite (the
    common case, checked in one pass: for half, on the exponent bits, six times faster)."""
    if pixels.dtype == np.float16:
        if not ((pixels.view(np.uint16) & 0x7C00) == 0x7C00).any():  # all-ones: inf or NaN
            return None
    elif np.isfinite(pixels).all():
        return None
    finite = np.isfinite(pixels)
    return ~finite.all(axis=-1) if pixels.ndim == 3 else ~finite


def fill_non_finite(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` (H×W or H×W×C) with every non-finite pixel inpainted from the finite pixels
    around it (OpenCV's Telea, radius 3, per channel), 0 where none is finite; the array
    itself when all of it is finite, else a new float32 array."""
    bad = non_finite_pixels(pixels)
    if bad is None:
        return pixels
    out = np.where(bad[..., None] if pixels.ndim == 3 else bad, 0.0, pixels).astype(np.float32)
    if bad.all():
        return out
    holes = bad.astype(np.uint8)
    planes = out[..., None] if out.ndim == 2 else out
    for c in range(planes.shape[-1]):
        planes[..., c] = cv2.inpaint(np.ascontiguousarray(planes[..., c]), holes, 3,
                                     cv2.INPAINT_TELEA)
    return out
