"""The backend interface: find faces and their 68 landmarks in one network-space frame.

A backend implements two small steps, :meth:`Backend.find_boxes` (on whatever image it is
given) and :meth:`Backend.landmarks_in_window` (at full resolution, in a window around the
box). The shared code here runs detection on a downscaled copy, because detectors gain little
from 4K pixels and cost a lot, and can search only near a box the tracker expects, so a
tracked face costs a small crop per frame. Frames are float32 H×W×3 arrays in network space,
or :class:`~faceplate.extract.frame.NetworkFrame` (converted lazily where looked at).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ...errors import FaceplateError
from ..frame import NetworkFrame, as_frame

# Long side of the copy the detector sees when searching a whole frame (backends may differ).
DEFAULT_DETECT_SIZE = 960
# Landmark steps see the box plus this share of its size on every side (FAN's crop needs ≈0.65).
WINDOW_PAD = 0.8

# A detector's face rectangle (x0, y0, x1, y1): float pixels, may reach past the frame; not
# the integer pixel range of faceplate.face.box.Box that crops and merges cut.
DetectorBox = tuple[float, float, float, float]


class BackendError(FaceplateError):
    """A backend cannot start (missing weights, missing package); the message says what to do."""


@dataclass
class Detection:
    """One face in one frame: box and landmarks in frame pixels (x right, y down)."""

    bbox: DetectorBox  # x0, y0, x1, y1
    score: float
    landmarks: np.ndarray = field(repr=False)  # 68×2 float, iBUG 300-W order
    confidence: float | None = None  # is it a face, 0–1 (extract.confidence); None: not rated
    descriptor: np.ndarray | None = field(default=None, repr=False)  # 128-d, when computed

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
    def find_boxes(self, rgb: np.ndarray) -> list[tuple[DetectorBox, float]]:
        """Face boxes ``((x0, y0, x1, y1), score)`` in ``rgb`` (float32 H×W×3, 0–1)."""
        raise NotImplementedError

    def landmarks_in_window(self, window: np.ndarray, bbox: DetectorBox) -> np.ndarray:
        """68×2 landmarks, in window pixels, of the face in ``bbox`` (window pixels)."""
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------------
    def landmarks_in_box(self, frame: np.ndarray | NetworkFrame, bbox: DetectorBox) -> np.ndarray:
        """68×2 landmarks, in frame pixels, of the face in ``bbox``."""
        frame = as_frame(frame)
        pad = WINDOW_PAD * max(bbox[2] - bbox[0], bbox[3] - bbox[1])
        x0, y0 = max(0, int(bbox[0] - pad)), max(0, int(bbox[1] - pad))
        window = frame.window(x0, y0, int(np.ceil(bbox[2] + pad)), int(np.ceil(bbox[3] + pad)))
        local = (bbox[0] - x0, bbox[1] - y0, bbox[2] - x0, bbox[3] - y0)
        return self.landmarks_in_window(window, local) + (x0, y0)

    def detect(self, frame: np.ndarray | NetworkFrame) -> list[Detection]:
        """All faces in a frame, largest first: boxes on a downscaled copy, landmarks at full size."""
        frame = as_frame(frame)
        scale = min(1.0, self.detect_size / max(frame.shape[:2]))
        boxes = self.find_boxes(frame.downscaled(scale))
        return self._refine(frame, [(_scale_box(b, 1.0 / scale), s) for b, s in boxes])

    def detect_near(self, frame: np.ndarray | NetworkFrame, bbox: DetectorBox,
                    margin: float = 1.0, face_px: float | None = None) -> list[Detection]:
        """Faces in a window around ``bbox`` (its size plus ``margin`` of it on each side),
        resampled (never enlarged) so the expected face is ``face_px`` wide: by default
        twice the detector's minimum size, comfortably above it."""
        frame = as_frame(frame)
        bw, bh = bbox[2] - bbox[0], bbox[3] - bbox[1]
        x0, y0 = max(0, int(bbox[0] - margin * bw)), max(0, int(bbox[1] - margin * bh))
        window = frame.window(x0, y0, int(np.ceil(bbox[2] + margin * bw)),
                              int(np.ceil(bbox[3] + margin * bh)))
        if min(window.shape[:2]) < 8:
            return []
        scale = min(1.0, (face_px or 2.0 * self.min_face_px) / max(bw, 1.0))
        found = self.find_boxes(_resize(window, scale))
        boxes = []
        for b, s in found:
            b = _scale_box(b, 1.0 / scale)
            boxes.append(((b[0] + x0, b[1] + y0, b[2] + x0, b[3] + y0), s))
        return self._refine(frame, boxes)

    def _refine(self, frame: NetworkFrame, boxes) -> list[Detection]:
        found = [Detection(_box(b), float(s), self.landmarks_in_box(frame, b)) for b, s in boxes]
        return sorted(found, key=lambda d: -d.width)


def _resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1.0:
        return rgb
    h, w = rgb.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _box(b) -> DetectorBox:
    x0, y0, x1, y1 = (float(v) for v in b)
    return x0, y0, x1, y1


def _scale_box(b, s: float) -> DetectorBox:
    return (b[0] * s, b[1] * s, b[2] * s, b[3] * s)
