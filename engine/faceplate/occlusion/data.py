"""Aligned crops of a shot and the artist's occluder labels warped into the same crops.

The alignments are in frame pixels; a plate's array holds its stored pixels (an EXR data
window that may be larger than the frame, smaller, or away from its corner). Crops are cut
from the stored pixels with each alignment moved onto their grid, and a label is placed over
the same stored pixels by its own windows (:func:`~faceplate.io.images.read_matte`), so a
plate with overscan gives the crops and labels its frame-sized copy would."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..errors import FaceplateError
from ..extract.alignments import Alignments
from ..face.align import warp_to_crop
from ..face.crop import aligned_crop, model_input
from ..io.colour import ColourSpaces, default_space_for
from ..io.images import Geometry, read_geometry, read_matte, read_plate_frame
from ..io.sequence import Plate, SequencePattern, format_frame_range


@dataclass(frozen=True)
class Labels:
    """The artist's occluder mattes: a plate-sized sequence, and the frames it was painted on
    (white = something covers the face)."""

    pattern: str
    frames: tuple[int, ...]
    channel: str = "A"

    def path(self, frame: int) -> str:
        seq = SequencePattern.parse(self.pattern)
        return seq.path(frame) if seq else self.pattern

    def to_dict(self) -> dict:
        return {"pattern": self.pattern, "frames": list(self.frames), "channel": self.channel}

    @classmethod
    def from_dict(cls, d: dict) -> Labels:
        return cls(str(d["pattern"]), tuple(int(f) for f in d["frames"]), str(d["channel"]))


def find_labels(pattern: str, frames: Sequence[int] | None, channel: str) -> Labels:
    """The labelled frames: those given, else every frame of ``pattern`` found on disk."""
    seq = SequencePattern.parse(pattern)
    if seq is None:
        raise FaceplateError(f"labels {pattern!r} have no frame number: use e.g. "
                             "occluder.####.exr")
    found = frames if frames is not None else seq.existing_frames()
    missing = [f for f in found if not os.path.isfile(seq.path(f))]
    if missing:
        raise FaceplateError(f"labels {pattern} are missing frames "
                             f"{format_frame_range(missing)}")
    if not found:
        raise FaceplateError(f"no label frames found for {pattern}: paint the occluder on a "
                             "few frames and render them there")
    return Labels(pattern, tuple(sorted(set(found))), channel)


@dataclass
class ShotFrames:
    """Reads a shot's frames as aligned crops in network space."""

    plate: Plate
    shot: Alignments
    size: int
    _geometries: dict[int, Geometry] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.colour = ColourSpaces(self.shot.colourspace or default_space_for(self.plate.path))

    def crops(self, frame: int) -> tuple[np.ndarray, list[np.ndarray], Geometry]:
        """``(N×S×S×3 crops, their matrices, the frame's geometry)`` for the faces the
        alignments hold at ``frame`` (the crops a model is given,
        :func:`~faceplate.face.crop.aligned_crop`); the matrices map the plate's **stored**
        pixels (its array's grid) to the unit crop: put a crop back onto an array of
        ``geometry.stored_size``."""
        records = self.shot.frames.get(frame) or []
        if not records:
            return np.zeros((0, self.size, self.size, 3), np.float32), [], self.geometry(frame)
        image = read_plate_frame(self.plate, frame)
        geometry = self._geometries[frame] = image.frame
        expected = tuple(self.shot.frame_size(frame))
        if geometry.frame_size != expected:
            w, h = geometry.frame_size
            raise FaceplateError(f"plate frame {frame} is {w}×{h} but the alignments are for "
                                 f"{expected[0]}×{expected[1]}")
        rgb = image.rgb()
        matrices = [np.asarray(geometry.to_array(matrix=r.matrix), np.float64) for r in records]
        crops = [model_input(aligned_crop(rgb, m, self.size, self.colour.to_network))
                 for m in matrices]
        return np.stack(crops), matrices, geometry

    def geometry(self, frame: int) -> Geometry:
        """Where the frame's stored pixels sit (from its header; a video's or an unreadable
        header's: the alignments' frame)."""
        if frame not in self._geometries:
            found = None if self.plate.is_video else read_geometry(self.plate.frame_path(frame))
            self._geometries[frame] = found or Geometry.plain(*self.shot.frame_size(frame))
        return self._geometries[frame]

    def frames(self) -> Iterator[int]:
        yield from self.plate.frames


def labelled_crops(frames: ShotFrames, labels: Labels) -> tuple[np.ndarray, np.ndarray]:
    """Every labelled face as uint8 ``N×S×S×3`` crops and ``N×S×S`` occluder mattes."""
    images, mattes = [], []
    for frame in labels.frames:
        crops, matrices, geometry = frames.crops(frame)
        if not matrices:
            continue
        matte = read_matte(labels.path(frame), labels.channel, geometry)
        for crop, m in zip(crops, matrices):
            label = warp_to_crop(matte, m, frames.size, cv2.INTER_LINEAR)
            images.append(np.round(crop * 255).astype(np.uint8))
            mattes.append(np.round(np.clip(label, 0, 1) * 255).astype(np.uint8))
    if not images:
        raise FaceplateError(f"no labelled frame ({format_frame_range(list(labels.frames))}) "
                             "has a face in the alignments: label frames where a face is found")
    return np.stack(images), np.stack(mattes)
