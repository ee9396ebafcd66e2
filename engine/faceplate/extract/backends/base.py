"""The backend interface: find faces and their 68 landmarks in one network-space frame.

A backend implements two small steps, :meth:`Backend.find_boxes` (on whatever image it is
given) and :meth:`Backend.landmarks_in_box` (at full resolution). The shared code here runs
detection on a downscaled copy, because detectors gain little from 4K pixels and cost a lot, and
can search only near a box the tracker expects, so a tracked face costs a small crop per frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ...errors import FaceplateError

# Long side of the copy the detector sees when searching a whole frame.
DEFAULT_DETECT_SIZE = 960


class BackendError(FaceplateError):
    """A backend cannot start (missing weights, missing package); the message says what to do."""


@dataclass
class Detection:
    """One face in one frame: box and landmarks in frame pixels (x right, y down)."""

    bbox: tuple[float, float, float, float]  # x0, y0, x1, y1
    score: float
    landmarks: np.ndarray = field(repr=False)  # 68×2 float, iBUG 300-W order

    @property
    def width(self) -> float:
        return self.bbox[2] - self.bbox[0]


class Backend:
    """Base class: subclasses set ``name`` and implement the two network steps."""

    name = "base"
    # The smallest face (box width in the image it sees) the detector finds reliably.
    min_face_px = 40.0

    def __init__(self, detect_size: int = DEFAULT_DETECT_SIZE):
        self.detect_size = detect_size

    # -- to implement -------------------------------------------------------------------------
    def find_boxes(self, rgb: np.ndarray) -> list[tuple[tuple[float, float, float, float], float]]:
        """Face boxes ``((x0, y0, x1, y1), score)`` in ``rgb`` (float32 H×W×3, 0–1)."""
        raise NotImplementedError

    def landmarks_in_box(self, rgb: np.ndarray, bbox: tuple[float, float, float, float]
                         ) -> np.ndarray:
        """68×2 landmarks for the face in ``bbox`` of full-resolution ``rgb``."""
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------------
    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """All faces in a frame, largest first: boxes on a downscaled copy, landmarks at full size."""
        check_rgb(rgb)
        scale = min(1.0, self.detect_size / max(rgb.shape[:2]))
        boxes = self.find_boxes(_resize(rgb, scale))
        return self._refine(rgb, [(_scale_box(b, 1.0 / scale), s) for b, s in boxes])

    def detect_near(self, rgb: np.ndarray, bbox: tuple[float, float, float, float],
                    margin: float = 1.0) -> list[Detection]:
        """Faces in a window around ``bbox`` (its size plus ``margin`` of it on each side),
        resampled so the expected face is comfortably above the detector's minimum size."""
        check_rgb(rgb)
        h, w = rgb.shape[:2]
        bw, bh = bbox[2] - bbox[0], bbox[3] - bbox[1]
        x0, y0 = max(0, int(bbox[0] - margin * bw)), max(0, int(bbox[1] - margin * bh))
        x1, y1 = min(w, int(np.ceil(bbox[2] + margin * bw))), min(h, int(np.ceil(bbox[3] + margin * bh)))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return []
        window = rgb[y0:y1, x0:x1]
        scale = min(1.0, 3.0 * self.min_face_px / max(bw, 1.0))
        found = self.find_boxes(_resize(window, scale))
        boxes = []
        for b, s in found:
            b = _scale_box(b, 1.0 / scale)
            boxes.append(((b[0] + x0, b[1] + y0, b[2] + x0, b[3] + y0), s))
        return self._refine(rgb, boxes)

    def _refine(self, rgb, boxes) -> list[Detection]:
        found = [Detection(tuple(float(v) for v in b), float(s), self.landmarks_in_box(rgb, b))
                 for b, s in boxes]
        return sorted(found, key=lambda d: -d.width)


def check_rgb(rgb: np.ndarray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.float32:
        raise FaceplateError(f"a backend needs float32 H×W×3 RGB, got {rgb.dtype} {rgb.shape}")


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8))


def _resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1.0:
        return rgb
    h, w = rgb.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _scale_box(b, s: float) -> tuple[float, float, float, float]:
    return (b[0] * s, b[1] * s, b[2] * s, b[3] * s)
