"""Faces across frames: box overlap from frame to frame, a face descriptor to re-identify.

Each detection joins the track whose predicted box (last box moved by its recent velocity)
overlaps it most. A detection no track claims is compared,
by dlib's 128-d face descriptor, with tracks that were lost, so a face that leaves frame or is
occluded keeps its track when it returns; otherwise it starts a new track. After a shot cut
(:meth:`Tracker.cut`) no track continues by overlap: every face is re-identified by descriptor,
so one person keeps one id over the whole sequence. Descriptors cost 80–200 ms a face; from
pixels they are computed only when an unclaimed face has a track to compare with, while
detections that carry one (the engine's ``detect`` op computes it) are tracked without pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..io.images import to_uint8
from .backends.base import Detection, DetectorBox
from .frame import NetworkFrame, as_frame

IOU_MATCH = 0.3  # least box overlap that continues a track
SAME_PERSON = 0.6  # descriptor distance below which two faces are one person (dlib's figure)


@dataclass
class Track:
    id: int
    last_frame: int
    bbox: DetectorBox
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    chips: list[np.ndarray] = field(default_factory=list)  # aligned face chips, for descriptors
    descriptors: list[np.ndarray] = field(default_factory=list)  # given with the detections
    length: int = 1

    def predict(self, frame: int) -> DetectorBox:
        x0, y0, x1, y1 = (float(v) for v in np.asarray(self.bbox) + self.velocity *
                          (frame - self.last_frame))
        return x0, y0, x1, y1


def iou(a: DetectorBox, b: DetectorBox) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class Tracker:
    """Assigns track ids frame by frame (frames in increasing order).

    With a :class:`Describer`, each track keeps a few aligned face chips (cheap to cut) and
    computes its descriptor (≈80–200 ms) only when a new face has to be compared with it.
    """

    MAX_CHIPS = 3

    def __init__(self, describer: Describer | None = None, max_gap: int = 12):
        self.tracks: dict[int, Track] = {}
        self.describer = describer
        self.max_gap = max_gap  # frames a track may miss and still continue by overlap
        self._chip_descriptors: dict[int, np.ndarray] = {}  # id(chip) → descriptor
        self._shot_start: int | None = None  # first frame after the latest cut

    def cut(self, frame: int) -> None:
        """``frame`` starts a new shot: no track continues into it by overlap."""
        self._shot_start = frame

    def active(self, frame: int) -> list[Track]:
        """Tracks seen within ``max_gap`` frames before ``frame`` (and in its shot)."""
        start = self._shot_start if self._shot_start is not None else frame - self.max_gap
        return [t for t in self.tracks.values()
                if 0 < frame - t.last_frame <= self.max_gap and t.last_frame >= start]

    def _describable(self, track: Track) -> bool:
        return bool(track.descriptors or (track.chips and self.describer is not None))

    def descriptor(self, track_id: int) -> np.ndarray | None:
        """The track's face descriptor (mean over its samples; each chip is described once)."""
        if not self._describable(self.tracks[track_id]):
            return None
        return self._describe_track(track_id)

    def _describe_track(self, track_id: int) -> np.ndarray:
        track = self.tracks[track_id]
        if track.descriptors:
            return np.mean(track.descriptors, axis=0)
        assert self.describer is not None
        for chip in track.chips:
            if id(chip) not in self._chip_descriptors:
                self._chip_descriptors[id(chip)] = self.describer.describe_chip(chip)
        return np.mean([self._chip_descriptors[id(c)] for c in track.chips], axis=0)

    def update(self, frame: int, detections: list[Detection], image=None) -> list[int]:
        """Track id of each detection, in order; ``image`` (the frame) feeds descriptors."""
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
        assigned: list[int] = []
        for k, det in enumerate(detections):
            track_id = ids[k]
            chip = None
            if track_id is None and det.descriptor is not None:
                track_id = self._reidentify(det.descriptor, claimed)
            elif track_id is None and self.describer is not None and image is not None:
                chip = self.describer.chip(image, det.landmarks)
                track_id = self._reidentify(chip, claimed)
            if track_id is None:
                track_id = len(self.tracks)
                self.tracks[track_id] = Track(track_id, frame, det.bbox)
            track = self.tracks[track_id]
            if det.descriptor is not None and len(track.descriptors) < self.MAX_CHIPS:
                track.descriptors.append(np.asarray(det.descriptor, np.float64))
            elif chip is not None and len(track.chips) < self.MAX_CHIPS:
                track.chips.append(chip)
            claimed.add(track_id)
            assigned.append(track_id)
        for track_id, det in zip(assigned, detections):
            self._advance(self.tracks[track_id], frame, det.bbox)
        return assigned

    def _reidentify(self, sample: np.ndarray, claimed: set[int]) -> int | None:
        """The lost track of the same person: ``sample`` is a descriptor or a face chip."""
        candidates = [t.id for t in self.tracks.values()
                      if t.id not in claimed and self._describable(t)]
        if not candidates:
            return None  # nobody to compare with: no descriptor needed yet
        if sample.ndim == 1:
            descriptor = sample
        else:
            assert self.describer is not None
            descriptor = self.describer.describe_chip(sample)
            self._chip_descriptors[id(sample)] = descriptor
        best, best_d = None, SAME_PERSON
        for track_id in candidates:
            d = float(np.linalg.norm(self._describe_track(track_id) - descriptor))
            if d < best_d:
                best, best_d = track_id, d
        return best

    @staticmethod
    def _advance(track: Track, frame: int, bbox: DetectorBox) -> None:
        dt = frame - track.last_frame
        if dt > 0:
            step = (np.asarray(bbox) - np.asarray(track.bbox)) / dt
            track.velocity = 0.5 * track.velocity + 0.5 * step if track.length > 1 else step
            track.length += 1
        track.bbox, track.last_frame = bbox, frame


class Describer:
    """dlib's face descriptor (ResNet, 128-d; distance < 0.6 means the same person)."""

    CHIP = 150  # the network's aligned input size

    def __init__(self):
        import dlib

        from .backends.dlib_backend import DESCRIPTOR_FILE, model_path

        self._dlib = dlib
        self._net = dlib.face_recognition_model_v1(model_path(DESCRIPTOR_FILE))

    def chip(self, frame: np.ndarray | NetworkFrame, landmarks: np.ndarray) -> np.ndarray:
        """The aligned 150×150 uint8 face chip the descriptor network reads."""
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
        return np.asarray(dlib.get_face_chip(window, shape, size=self.CHIP, padding=0.25))

    def describe_chip(self, chip: np.ndarray) -> np.ndarray:
        return np.asarray(self._net.compute_face_descriptor(chip), np.float64)

    def describe(self, frame: np.ndarray | NetworkFrame, landmarks: np.ndarray) -> np.ndarray:
        """Descriptor of the face with these 68 landmarks in a network-space frame."""
        return self.describe_chip(self.chip(frame, landmarks))
