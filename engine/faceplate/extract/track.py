"""Faces across frames: box overlap from frame to frame, a face descriptor to re-identify.

Each detection joins the track whose predicted box (last box moved by its recent velocity)
overlaps it most. A detection no track claims is compared,
by dlib's 128-d face descriptor, with tracks that were lost, so a face that leaves frame or is
occluded keeps its track when it returns; otherwise it starts a new track. Descriptors cost
≈80 ms a face, so they are computed only for such unclaimed detections.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .backends.base import Detection, to_uint8
from .frame import NetworkFrame, as_frame

IOU_MATCH = 0.3  # least box overlap that continues a track
SAME_PERSON = 0.6  # descriptor distance below which two faces are one person (dlib's figure)

Box = tuple[float, float, float, float]


@dataclass
class Track:
    id: int
    last_frame: int
    bbox: Box
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    descriptors: list[np.ndarray] = field(default_factory=list)
    length: int = 1

    @property
    def descriptor(self) -> np.ndarray | None:
        return np.mean(self.descriptors, axis=0) if self.descriptors else None

    def predict(self, frame: int) -> Box:
        dt = frame - self.last_frame
        return tuple(float(v) for v in np.asarray(self.bbox) + self.velocity * dt)


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class Tracker:
    """Assigns track ids frame by frame (frames in increasing order)."""

    def __init__(self, max_gap: int = 12):
        self.tracks: dict[int, Track] = {}
        self.max_gap = max_gap  # frames a track may miss and still continue by overlap

    def active(self, frame: int) -> list[Track]:
        """Tracks seen within ``max_gap`` frames before ``frame``."""
        return [t for t in self.tracks.values() if 0 < frame - t.last_frame <= self.max_gap]

    def update(self, frame: int, detections: list[Detection],
               describe: Callable[[Detection], np.ndarray] | None = None) -> list[int]:
        """Track id of each detection, in order."""
        ids: list[int | None] = [None] * len(detections)
        active = self.active(frame)
        if active and detections:
            overlap = np.array([[iou(t.predict(frame), d.bbox) for t in active]
                                for d in detections])
            # Greedy by overlap: optimal for the few, rarely overlapping faces of a shot.
            while overlap.size and overlap.max() >= IOU_MATCH:
                r, c = np.unravel_index(int(overlap.argmax()), overlap.shape)
                ids[r] = active[c].id
                overlap[r, :] = -1.0
                overlap[:, c] = -1.0
        claimed = {i for i in ids if i is not None}
        for k, det in enumerate(detections):
            if ids[k] is not None:
                continue
            descriptor = describe(det) if describe else None
            ids[k] = self._reidentify(descriptor, claimed)
            if ids[k] is None:
                ids[k] = len(self.tracks)
                self.tracks[ids[k]] = Track(ids[k], frame, det.bbox)
            if descriptor is not None:
                self.tracks[ids[k]].descriptors.append(descriptor)
            claimed.add(ids[k])
        for k, det in enumerate(detections):
            self._advance(self.tracks[ids[k]], frame, det.bbox)
        return [int(i) for i in ids]

    def _reidentify(self, descriptor: np.ndarray | None, claimed: set[int]) -> int | None:
        if descriptor is None:
            return None
        best, best_d = None, SAME_PERSON
        for t in self.tracks.values():
            if t.id in claimed or t.descriptor is None:
                continue
            d = float(np.linalg.norm(t.descriptor - descriptor))
            if d < best_d:
                best, best_d = t.id, d
        return best

    @staticmethod
    def _advance(track: Track, frame: int, bbox: Box) -> None:
        dt = frame - track.last_frame
        if dt > 0:
            step = (np.asarray(bbox) - np.asarray(track.bbox)) / dt
            track.velocity = 0.5 * track.velocity + 0.5 * step if track.length > 1 else step
            track.length += 1
        track.bbox, track.last_frame = bbox, frame


class Describer:
    """dlib's face descriptor (ResNet, 128-d; distance < 0.6 means the same person)."""

    def __init__(self):
        import dlib

        from .backends.dlib_backend import DESCRIPTOR_FILE, model_path

        self._dlib = dlib
        self._net = dlib.face_recognition_model_v1(model_path(DESCRIPTOR_FILE))

    def describe(self, frame: np.ndarray | NetworkFrame, landmarks: np.ndarray) -> np.ndarray:
        """Descriptor of the face with these 68 landmarks in a network-space frame."""
        dlib = self._dlib
        lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
        pad = (hi - lo).max()
        x0, y0 = (max(0, int(v)) for v in lo - pad)
        window = to_uint8(as_frame(frame).window(x0, y0, int(hi[0] + pad) + 1,
                                                 int(hi[1] + pad) + 1))
        pts = [dlib.point(round(x - x0), round(y - y0)) for x, y in landmarks]
        rect = dlib.rectangle(round(lo[0] - x0), round(lo[1] - y0),
                              round(hi[0] - x0), round(hi[1] - y0))
        shape = dlib.full_object_detection(rect, pts)
        return np.asarray(self._net.compute_face_descriptor(window, shape), np.float64)
