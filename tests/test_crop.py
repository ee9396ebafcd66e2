"""Every stage cuts a face with ``faceplate.face.crop``: a face is the same crop, bit for bit,
whether convert gives it to the model at render time, extraction writes it into a face set for
training, coverage measures it, occlusion learns on it or the ``align`` op sends it to Nuke.

The sample shot is also stored with overscan (data window (-16, -12, 352, 264) around the
320×240 display window, padded by reflection as OpenCV's crops reflect at a frame's edge): the
alignments are in frame pixels, and every stage moves them onto the stored pixels, so it cuts
the crops the plain plate gives.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
from engine_helpers import write_windowed
from faceplate.convert.pipeline import FacePlacement, convert_shot, plate_rgb, swap_frame
from faceplate.convert.swap import PassthroughModel
from faceplate.coverage.store import PlateReader
from faceplate.extract import alignments as alignments_io
from faceplate.extract import faceset as faceset_module
from faceplate.extract.pipeline import ExtractSummary, _write_faceset
from faceplate.io.colour import ColourSpaces
from faceplate.io.images import read_image, read_plate_frame
from faceplate.io.sequence import open_plate
from faceplate.occlusion.data import ShotFrames
from faceplate.samples import make_shot, write_true_alignments
from faceplate.server.arrays import from_numpy, to_numpy

PLATE = (320, 240)
OVERSCAN = (-16, -12, 352, 264)  # x, y, width, height of the stored pixels
SIZE = 128
PATHS = ("convert", "faceset", "coverage", "occlusion", "align")


class RecordingModel(PassthroughModel):
    """A null swap that keeps what it was fed."""

    def __init__(self, resolution: int, face_type: str):
        super().__init__(resolution, face_type)
        self.fed: list[np.ndarray] = []

    def swap(self, crops, identity):
        self.fed.append(np.array(crops, copy=True))
        return super().swap(crops, identity)


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """The sample shot's folder, and its overscan copy's (the same alignments)."""
    root = tmp_path_factory.mktemp("crop")
    plain = str(root / "plain")
    sample = make_shot("astronaut", plain, frames=1, size=PLATE, face_px=110.0)
    write_true_alignments(sample, plain)
    shot = alignments_io.load(plain)
    overscan = str(root / "overscan")
    os.makedirs(overscan)
    pattern = os.path.join(overscan, "plate.%04d.exr")
    for f in sample.frames:
        image = read_image(sample.path(f))
        write_windowed(pattern % f, image.pixels, image.channels, OVERSCAN)
    alignments_io.save(dataclasses.replace(shot, plate=pattern), overscan, merge=False)
    return {"plain": plain, "overscan": overscan}


def _crops(shot_dir: str, client, tmp: str) -> dict[str, np.ndarray]:
    """The crop of the shot's one face through every stage that cuts one."""
    shot = alignments_io.load(shot_dir)
    (frame,) = sorted(shot.frames)
    (face,) = shot.frames[frame]
    frames = open_plate(shot.plate, [frame])
    out = {}

    model = RecordingModel(SIZE, shot.face_type)
    convert_shot(shot.plate, shot_dir, model, "passthrough", os.path.join(tmp, "out.####.exr"),
                 serial=True)
    (fed,) = model.fed
    out["convert"] = fed[0]
    np.testing.assert_array_equal(_swap_stage(frames, frame, face.matrix, face, shot.colourspace), fed[0])

    written = []
    add = faceset_module.FaceSetWriter.add

    def keep(self, crop, *args):  # the crop before the PNG's 8 bits
        written.append(np.array(crop, copy=True))
        return add(self, crop, *args)

    faceset_module.FaceSetWriter.add = keep
    try:
        summary = ExtractSummary(shot_dir, "", shot.backend, [frame], 1, [0])
        assert _write_faceset(frames, ColourSpaces(shot.colourspace), shot,
                              os.path.join(tmp, "faceset"), SIZE, summary, None, None) == 1
    finally:
        faceset_module.FaceSetWriter.add = add
    out["faceset"] = written[0]

    out["coverage"] = PlateReader(shot).crop(frame, face, SIZE)[0]
    out["occlusion"] = ShotFrames(frames, shot, SIZE).crops(frame)[0][0]

    # The align op fits its own matrix to the landmarks (alignments.json keeps it rounded):
    # the crop convert's swap stage gives the model for that matrix.
    reply = client.call("align", {"path": frames.frame_path(frame), "size": SIZE,
                                  "face_type": shot.face_type, "colourspace": shot.colourspace},
                        {"landmarks": from_numpy(face.landmarks[None])})
    matrix = to_numpy(reply.arrays["matrices"])[0]
    np.testing.assert_allclose(matrix, face.matrix, atol=1e-4)
    out["align"] = to_numpy(reply.arrays["crops"])[0]
    out["align: convert"] = _swap_stage(frames, frame, matrix, face, shot.colourspace)
    return out


def _swap_stage(plate, frame: int, matrix: np.ndarray, face, colourspace: str) -> np.ndarray:
    """What convert's swap stage gives the model for one face at ``matrix`` (frame pixels)."""
    image = read_plate_frame(plate, frame, keep_half=True)  # as convert reads it
    model = RecordingModel(SIZE, "whole_face")
    placed = image.frame.place(FacePlacement(np.asarray(matrix, np.float64), face.landmarks))
    swap_frame(plate_rgb(image), [placed], model, "passthrough", ColourSpaces(colourspace),
               frame=frame)
    return model.fed[0][0]


def test_every_stage_cuts_the_crop_the_model_is_fed(shots, running, tmp_path):
    client, _ = running
    crops = {name: _crops(d, client, str(tmp_path / name)) for name, d in shots.items()}
    for name, by_stage in crops.items():
        fed = by_stage["convert"]
        assert fed.shape == (SIZE, SIZE, 3) and fed.dtype == np.float32
        assert 0.0 <= fed.min() and fed.max() <= 1.0 and fed.std() > 0.05  # a face, 0–1
        for stage in PATHS:
            crop = by_stage[stage]
            same = by_stage["align: convert"] if stage == "align" else fed
            assert crop.dtype == np.float32, (name, stage)
            assert np.array_equal(crop, same), \
                (name, stage, float(np.abs(crop.astype(np.float64) - same).max()))
    # The overscan copy stores the frame's pixels and more: the same crops.
    for stage in PATHS:
        np.testing.assert_allclose(crops["overscan"][stage], crops["plain"][stage], atol=1e-5,
                                   err_msg=stage)
