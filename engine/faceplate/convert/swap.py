"""The swap stage: aligned crops through the target identity's decoder, in batches.

Convert needs very little of a model, named here as :class:`Swapper` so that anything with a
card and a ``swap`` method can drive a convert: the trained
:class:`faceplate.model.store.FaceModel`, or :class:`PassthroughModel`, whose "decoder" returns
its input — a null swap that shows exactly what the merge (masks, colour, OCIO round trip) does
to a plate, with no trained model in the way.

The crops are :func:`faceplate.face.crop.aligned_crop`'s, as every stage's are, and the model
is given :func:`~faceplate.face.crop.model_input` of them (so a face set holds what a render
swaps). Plates may hold NaN or infinite pixels: none of them reaches the colour conversion, the
warp or the model (the crop marks the samples they reach as NaN, the model gets them
inpainted, colour matching gives them no weight).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..errors import FaceplateError
from ..face.crop import model_input


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
    their NaN samples (the plate's non-finite pixels) inpainted first
    (:func:`~faceplate.face.crop.model_input`): the model never sees a non-finite value. Its
    output is returned as it comes, finite or not (the merge refuses a non-finite face:
    :class:`SwapFailed`)."""
    size = model.card.resolution
    if crops.ndim != 4 or crops.shape[1:] != (size, size, 3):
        raise FaceplateError(f"crops of shape {crops.shape} do not fit model "
                             f"{model.card.model_id} ({size}×{size}×3 expected)")
    faces, masks = [], []
    for start in range(0, len(crops), batch_size):
        batch = np.stack([model_input(c) for c in crops[start:start + batch_size]])
        f, m = model.swap(batch, identity)
        faces.append(np.asarray(f, dtype=np.float32))
        masks.append(np.asarray(m, dtype=np.float32).reshape(len(batch), size, size))
    if not faces:
        return (np.zeros((0, size, size, 3), np.float32), np.zeros((0, size, size), np.float32))
    return np.concatenate(faces), np.concatenate(masks)


class SwapFailed(FaceplateError):
    """A face that cannot be swapped (the model gave a non-finite face or mask, or the plate
    under it has no finite value to swap or colour-match against): its frame is reported
    failed, with this message, and not written."""
