"""Temporal flicker of the merged face, measured against the plate's own.

Between frames t and t+1 the face moves; the alignment matrices say how, so frame t+1 is warped
onto frame t (``M[t+1]⁻¹ · M[t]``) and the mean absolute difference is taken inside frame t's
face matte. The same is done for the plate: what is left there is the plate's own change (noise,
exposure drift, expression, whatever the similarity transform does not model). The ratio
merged / plate is the flicker the swap, its mask and its colour matching add: 1.0 adds none.

Fine texture dominates a plain difference (a soft swap then looks steadier than the plate), so
``lowpass`` blurs both first (Gaussian sigma as a fraction of the crop's side in plate pixels):
what is left is the low-frequency pulsing of brightness, colour and matte that reads as flicker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np


def _h(matrix: np.ndarray) -> np.ndarray:
    return np.vstack([np.asarray(matrix, np.float64), [0.0, 0.0, 1.0]])


def onto_previous(image: np.ndarray, matrix: np.ndarray, previous_matrix: np.ndarray
                  ) -> np.ndarray:
    """``image`` (frame t+1) warped into frame t's pixels by the faces' motion; outside is NaN."""
    h, w = image.shape[:2]
    back = (np.linalg.inv(_h(matrix)) @ _h(previous_matrix))[:2]  # t pixel → t+1 pixel
    return cv2.warpAffine(np.asarray(image, np.float32), back, (w, h),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=float("nan"))


@dataclass
class Flicker:
    merged: float  # mean |Δ| of the merged frames inside the face, motion removed
    plate: float  # the same for the plate
    pairs: int

    @property
    def ratio(self) -> float:
        return self.merged / self.plate if self.plate > 0 else float("inf")

    def to_dict(self) -> dict:
        return {"merged_mean_abs_diff": round(self.merged, 6),
                "plate_mean_abs_diff": round(self.plate, 6), "ratio": round(self.ratio, 3),
                "pairs": self.pairs}


def flicker(plates: Sequence[np.ndarray], merged: Sequence[np.ndarray],
            matrices: Sequence[np.ndarray], mattes: Sequence[np.ndarray],
            erode_px: int = 3, lowpass: float = 0.0) -> Flicker:
    """Flicker over consecutive frames (H×W×C images, 2×3 plate → unit-crop matrices, H×W
    face mattes of the merged frames, 0–1). Pairs whose face matte is empty are skipped."""

    def soft(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        if lowpass <= 0:
            return np.asarray(image, np.float32)
        side_px = 1.0 / np.sqrt(abs(np.linalg.det(np.asarray(matrix, np.float64)[:, :2])))
        return cv2.GaussianBlur(np.asarray(image, np.float32), (0, 0), lowpass * side_px)

    diffs: dict[str, list[float]] = {"merged": [], "plate": []}
    kernel = np.ones((2 * erode_px + 1, 2 * erode_px + 1), np.uint8)
    for t in range(len(plates) - 1):
        inside = cv2.erode((np.asarray(mattes[t]) > 0.5).astype(np.uint8), kernel) > 0
        if not inside.any():
            continue
        for name, frames in (("merged", merged), ("plate", plates)):
            moved = onto_previous(soft(frames[t + 1], matrices[t + 1]), matrices[t + 1],
                                  matrices[t])
            d = np.abs(soft(frames[t], matrices[t]) - moved)
            d = d.reshape(*d.shape[:2], -1)[inside]
            diffs[name].append(float(np.nanmean(d)))
    if not diffs["plate"]:
        return Flicker(float("nan"), float("nan"), 0)
    return Flicker(float(np.mean(diffs["merged"])), float(np.mean(diffs["plate"])),
                   len(diffs["plate"]))
