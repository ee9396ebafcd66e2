"""Predict a plate-sized occluder matte for every frame of a shot with its occlusion model.

Written beside the model as ``vNNN/matte.####.exr`` (channel ``A``, half float), the sequence
convert's ``occlusion`` mask source reads and a compositor can load. On the frames the artist
labelled, the label is written as it is: the artist's matte always wins.

A matte covers the plate's stored pixels and carries the plate's windows (its data window
where the plate's is, the plate's display window), so it lines up with the plate in Nuke and
:func:`~faceplate.io.images.read_matte` gives it back over the plate's stored pixels as they
are, overscan and cropped renders included.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np

from ..extract import alignments as alignments_io
from ..face.align import warp_from_crop_box
from ..io.images import Geometry, ImagePart, read_matte, write_parts
from ..io.sequence import SequencePattern, open_plate
from ..model.store import resolve_device
from ..progress import Listener, Progress
from . import store
from .data import ShotFrames
from .train import predict_crops


def predict_occlusion(plate: str, shot_dir: str, *, version: str = "",
                      frames: str | Sequence[int] | None = None, device: str = "auto",
                      progress_listener: Listener | None = None,
                      progress_stream=None) -> tuple[str, list[int]]:
    """Write the matte sequence; returns ``(pattern, frames written)``."""
    version = version or store.latest(shot_dir)
    dev = resolve_device(device)
    card, net = store.load(version, dev)
    shot = alignments_io.load(shot_dir)
    opened = open_plate(plate, list(frames) if isinstance(frames, Sequence)
                        and not isinstance(frames, str) else frames)
    reader = ShotFrames(opened, shot, card.size)
    pattern = store.matte_pattern(version)
    seq = SequencePattern.parse(pattern)
    assert seq is not None
    labelled = set(card.labels.frames)
    written = []
    progress = Progress("occlusion predict", len(opened.frames), "frames", progress_listener,
                        progress_stream)
    for frame in opened.frames:
        if frame in labelled:
            geometry = reader.geometry(frame)
            matte = read_matte(card.labels.path(frame), card.labels.channel, geometry)
            how = "label"
        else:
            matte, geometry = plate_matte(net, reader, frame, dev)
            how = "predicted"
        write_parts(seq.path(frame), [ImagePart(
            np.clip(matte, 0, 1).astype(np.float32)[..., None], ["A"], pixel_type="half",
            origin=geometry.data[:2], display=geometry.display)],
            {"faceplate/occlusion": f"{os.path.basename(version)} {how}"})
        written.append(frame)
        progress.advance(1, f"{frame} {how}")
    return pattern, written


# The network's probabilities become a matte through levels: below LOW is face (a faint
# "maybe" must not let the plate show through the whole face), above HIGH is occluder, the
# band between keeps the edge soft.
LOW, HIGH = 0.2, 0.8


def plate_matte(net, reader: ShotFrames, frame: int, device) -> tuple[np.ndarray, Geometry]:
    """The predicted occluder over the plate's stored pixels (each face's crop matte warped
    back) and where those pixels sit."""
    crops, matrices, geometry = reader.crops(frame)
    w, h = geometry.stored_size
    out = np.zeros((h, w), np.float32)
    if not matrices:
        return out, geometry
    levels = np.clip((predict_crops(net, crops, device) - LOW) / (HIGH - LOW), 0.0, 1.0)
    for pred, m in zip(levels, matrices):
        placed = warp_from_crop_box(pred, m, (w, h), cv2.INTER_LINEAR)
        if placed is None:
            continue
        pixels, (x0, y0, x1, y1) = placed
        np.maximum(out[y0:y1, x0:x1], pixels, out=out[y0:y1, x0:x1])
    return out, geometry
