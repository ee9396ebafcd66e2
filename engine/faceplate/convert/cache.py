"""The swap cache: swapped faces on disk, so changing only merge settings never re-runs a model.

An entry is keyed by what determines a swap: model id and training iterations, target
identity, frame, face index, the alignment matrix and the source: the plate file's path, size
and modification time, or for pixels with no file (the engine's in-memory frames) a digest of
the plate pixels under the face. A new plate version or a re-extraction never reuses a stale
face, and a hit costs no crop and no model run. Faces and learned masks are kept
as float16 (error ≤ 2.5e-4 in 0–1, a tenth of an 8-bit step), with the plate's aligned crop
they were made from (convert's temporal smoothing measures the plate there), written atomically.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..io.atomic import write_atomic
from ..model.card import check_plain_name
from .swap import Swapper


@dataclass(frozen=True)
class SwapKey:
    model_id: str
    iterations: int
    identity: str
    frame: int
    face: int
    matrix: tuple[float, ...]  # the 2×3 unit matrix, flattened
    source_digest: str  # the plate pixels the crop is cut from, their colourspace and box

    @classmethod
    def of(cls, model: Swapper, identity: str, frame: int, face: int, matrix: np.ndarray,
           where: str, pixels: np.ndarray | None = None) -> SwapKey:
        """``where`` names the source (colourspace, box, and the plate file's stamp when there
        is one); ``pixels`` are hashed too when there is no file to stamp."""
        digest = hashlib.blake2b(where.encode(), digest_size=16)
        if pixels is not None:
            digest.update(np.ascontiguousarray(pixels, dtype=np.float32).data)
        return cls(model.card.model_id, int(getattr(model.card, "iterations", 0)), identity,
                   frame, face, tuple(float(v) for v in np.asarray(matrix).ravel()),
                   digest.hexdigest())

    def digest(self) -> str:
        return hashlib.sha256(repr(self).encode()).hexdigest()[:20]

    def filename(self) -> str:
        return f"{self.frame}.{self.face}.{self.digest()}.npz"


class SwapCache:
    """``ROOT/<model id>/<identity>/<frame>.<face>.<key digest>.npz``; both names must be
    plain names (a card's ``model_id`` is data: it must not lead out of ROOT)."""

    def __init__(self, root: str):
        self.root = root

    def path(self, key: SwapKey) -> str:
        return os.path.join(self.root, check_plain_name(key.model_id, "model_id"),
                            check_plain_name(key.identity, "identity"), key.filename())

    def get(self, key: SwapKey) -> tuple[np.ndarray, np.ndarray] | None:
        hit = self.get_with_crop(key, need_crop=False)
        return None if hit is None else hit[:2]

    def get_with_crop(self, key: SwapKey, need_crop: bool = True
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
        """``(face, mask, crop)``; an entry without the plate's crop (written before crops
        were kept) is a miss when ``need_crop``."""
        path = self.path(key)
        try:
            with np.load(path) as data:
                crop = data["crop"].astype(np.float32) if "crop" in data.files else None
                if need_crop and crop is None:
                    return None
                return data["face"].astype(np.float32), data["mask"].astype(np.float32), crop
        except (OSError, KeyError, ValueError):  # missing or damaged: swap again
            return None

    def put(self, key: SwapKey, face: np.ndarray, mask: np.ndarray,
            crop: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Store a swap (and the plate's aligned crop it was made from: merge and temporal
        smoothing measure the plate's colour there); returns ``(face, mask, crop)`` as a later
        :meth:`get_with_crop` will, so a fresh render merges the very values a re-merge from
        the cache will see."""
        arrays: dict[str, Any] = {"face": face.astype(np.float16),
                                  "mask": mask.astype(np.float16)}
        if crop is not None:
            arrays["crop"] = crop.astype(np.float16)
        write_atomic(self.path(key), lambda fh: np.savez(fh, **arrays))
        crop16 = arrays.get("crop")
        return (arrays["face"].astype(np.float32), arrays["mask"].astype(np.float32),
                None if crop16 is None else crop16.astype(np.float32))
