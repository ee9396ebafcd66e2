"""The swap stage: aligned crops through the target identity's decoder, in batches.

Convert needs very little of a model, named here as :class:`Swapper` so that anything with a
card and a ``swap`` method can drive a convert: the trained
:class:`faceplate.model.store.FaceModel`, or :class:`PassthroughModel`, whose "decoder" returns
its input — a null swap that shows exactly what the merge (masks, colour, OCIO round trip) does
to a plate, with no trained model in the way.

Plates may hold NaN or infinite pixels (bad pixels, a divide by zero in a grade). None of them
reaches the colour conversion, the warp or the model: :func:`plate_crop` marks the crop samples
they reach as NaN, :func:`swap_crops` gives the model those samples inpainted from the finite
ones around them (:func:`fill_non_finite`), and colour matching gives them no weight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from ..errors import FaceplateError
from ..face.align import warp_to_crop
from ..io.colour import ColourSpaces
from . import masks


class SwapCard(Protocol):
    """The fields of a model card that convert reads."""

    @property
    def resolution(self) -> int: ...

    @property
    def face_type(self) -> str: ...

    @property
    def identities(self) -> list[str]: ...

    @property
    def model_id(self) -> str: ...


class Swapper(Protocol):
    @property
    def card(self) -> SwapCard: ...

    def swap(self, crops: np.ndarray, identity: str) -> tuple[np.ndarray, np.ndarray]:
        """``crops`` float32 N×S×S×3 network space 0–1 → (faces N×S×S×3, masks N×S×S)."""
        ...


@dataclass
class PassthroughCard:
    identities: list[str] = field(default_factory=lambda: ["plate", "passthrough"])
    resolution: int = 256
    face_type: str = "whole_face"
    model_id: str = "passthrough"
    iterations: int = 0
    consent: str = "null swap: faces are returned unchanged"


class PassthroughModel:
    """A model whose decoder reproduces its input and whose learned mask is all face."""

    def __init__(self, resolution: int = 256, face_type: str = "whole_face",
                 identities: list[str] | None = None):
        self.card = PassthroughCard(resolution=resolution, face_type=face_type)
        if identities:
            self.card.identities = list(dict.fromkeys([*identities, "passthrough"]))

    def swap(self, crops: np.ndarray, identity: str) -> tuple[np.ndarray, np.ndarray]:
        if identity not in self.card.identities:
            raise FaceplateError(f"model {self.card.model_id} has no identity {identity!r}; it "
                                 f"has {', '.join(self.card.identities)}")
        crops = np.asarray(crops, dtype=np.float32)
        return np.clip(crops, 0.0, 1.0), np.ones(crops.shape[:3], dtype=np.float32)


def swap_crops(model: Swapper, crops: np.ndarray, identity: str,
               batch_size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Swap N crops in batches of ``batch_size``; crops are clipped to the network's 0–1, and
    their NaN samples (the plate's non-finite pixels, :func:`plate_crop`) inpainted first: the
    model never sees a non-finite value. Its output is returned as it comes, finite or not
    (the merge refuses a non-finite face: :class:`SwapFailed`)."""
    size = model.card.resolution
    if crops.ndim != 4 or crops.shape[1:] != (size, size, 3):
        raise FaceplateError(f"crops of shape {crops.shape} do not fit model "
                             f"{model.card.model_id} ({size}×{size}×3 expected)")
    faces, masks = [], []
    for start in range(0, len(crops), batch_size):
        batch = np.clip(np.stack([fill_non_finite(c) for c in crops[start:start + batch_size]]),
                        0.0, 1.0).astype(np.float32)
        f, m = model.swap(batch, identity)
        faces.append(np.asarray(f, dtype=np.float32))
        masks.append(np.asarray(m, dtype=np.float32).reshape(len(batch), size, size))
    if not faces:
        return (np.zeros((0, size, size, 3), np.float32), np.zeros((0, size, size), np.float32))
    return np.concatenate(faces), np.concatenate(masks)


def plate_crop(rgb: np.ndarray, matrix: np.ndarray, size: int, colour: ColourSpaces
               ) -> np.ndarray:
    """The plate's aligned ``size`` crop in network space: what the model is given, and what
    colour matching measures the plate on. Only the plate box the crop covers is converted.

    Every sample a non-finite plate pixel reaches (through the warp's kernel) is NaN: the
    crop says where the plate has no value, and nothing else is NaN or infinite."""
    box = source_box(matrix, rgb.shape[1::-1], size)
    pixels, to_box = rgb[box.slices], masks.box_matrix(matrix, box)
    bad = non_finite_pixels(pixels)
    if bad is None:
        return warp_to_crop(colour.to_network(pixels), to_box, size)
    # Zeroed for the colour conversion and the warp only: every sample they touch is marked.
    crop = warp_to_crop(colour.to_network(np.where(bad[..., None], 0.0, pixels)), to_box, size)
    reached = warp_to_crop(cv2.dilate(bad.astype(np.float32), np.ones((3, 3), np.uint8)),
                           to_box, size, cv2.INTER_LINEAR)  # covers the cubic kernel's reach
    crop[reached > 0] = np.nan
    return crop


class SwapFailed(FaceplateError):
    """A face that cannot be swapped (the model gave a non-finite face or mask, or the plate
    under it has no finite value to swap or colour-match against): its frame is reported
    failed, with this message, and not written."""


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


def source_box(matrix: np.ndarray, frame_size: tuple[int, int], size: int) -> masks.Box:
    """The plate box a face's crop is cut from: the box the crop covers, or the whole frame
    for a face off the frame (its crop is all reflection then: cheap, and swapped anyway)."""
    box = masks.face_box(matrix, frame_size, size)
    return masks.Box(0, 0, *frame_size) if box.empty else box
