"""Predict a plate-sized occluder matte for every frame of a shot with its occlusion model.

Written beside the model as ``vNNN/matte.####.exr`` (channel ``A``, half float), the sequence
convert's ``occlusion`` mask source reads and a compositor can load. On the frames the artist
labelled, the label is written as it is: the artist's matte always wins.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np

from ..extract import alignments as alignments_io
from ..face.align import warp_from_crop_box
from ..io.images import read_matte, write_image
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
            matte = read_matte(card.labels.path(frame), card.labels.channel, tuple(shot.size))
            how = "label"
        else:
            matte = plate_matte(net, reader, frame, dev)
            how = "predicted"
        write_image(seq.path(frame),
                    np.clip(matte, 0, 1).astype(np.float32)[..., None], ["A"],
                    {"faceplate/occlusion": f"{os.path.basename(version)} {how}"},
                    pixel_type="half")
        written.append(frame)
        progress.advance(1, f"{frame} {how}")
    return pattern, written


# The network's probabilities become a matte through levels: below LOW is face (a faint
# "maybe" must not let the plate show through the whole face), above HIGH is occluder, the
# band between keeps the edge soft.
LOW, HIGH = 0.2, 0.8


def plate_matte(net, reader: ShotFrames, frame: int, device) -> np.ndarray:
    """The predicted occluder over the whole plate: each face's crop matte warped back."""
    w, h = reader.shot.size
    out = np.zeros((h, w), np.float32)
    crops, matrices = reader.crops(frame)
    if not matrices:
        return out
    levels = np.clip((predict_crops(net, crops, device) - LOW) / (HIGH - LOW), 0.0, 1.0)
    for pred, m in zip(levels, matrices):
        placed = warp_from_crop_box(pred, m, (w, h), cv2.INTER_LINEAR)
        if placed is None:
            continue
        pixels, (x0, y0, x1, y1) = placed
        np.maximum(out[y0:y1, x0:x1], pixels, out=out[y0:y1, x0:x1])
    return out
