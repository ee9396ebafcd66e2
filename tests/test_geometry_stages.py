"""The stages after extraction on plates whose stored pixels are not the frame.

One sample shot is written three ways: as rendered (the stored pixels are the frame), with
overscan (data window (-16, -12, 352, 264) around the 320×240 display window, padded by
reflection: OpenCV's crops reflect the same way at a frame's edge) and as a cropped render
(a data window inside the frame, away from (0, 0)). The alignments are in frame pixels, so
the same ones serve every copy: stabilise, occlusion and coverage must give the same faces,
and what they write plate-sized must carry the plate's windows.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
from engine_helpers import write_windowed
from faceplate.coverage.store import shot_descriptors
from faceplate.extract import alignments as alignments_io
from faceplate.face.stmap import st_to_index
from faceplate.io.images import Geometry, read_geometry, read_image, read_matte
from faceplate.io.sequence import open_plate
from faceplate.occlusion.data import Labels, ShotFrames, labelled_crops
from faceplate.occlusion.predict import predict_occlusion
from faceplate.occlusion.train import OcclusionTrainSettings, train_occlusion
from faceplate.samples import make_shot, occluders, write_true_alignments
from faceplate.stabilise import stabilise_shot

PLATE = (320, 240)
DISPLAY = (0, 0, *PLATE)
WINDOWS = {"overscan": (-16, -12, 352, 264), "cropped": (40, 4, 260, 226)}
FACE_PX = 110.0
SIZE = 128


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("windows"))
    plain = os.path.join(root, "plain")
    sample = make_shot("astronaut", plain, frames=2, size=PLATE, face_px=FACE_PX,
                       overlay=functools.partial(occluders, face_px=FACE_PX))
    write_true_alignments(sample, plain)
    shot = alignments_io.load(plain)
    dirs, patterns = {"plain": plain}, {"plain": sample.pattern}
    for name, window in WINDOWS.items():
        d = dirs[name] = os.path.join(root, name)
        os.makedirs(d)
        patterns[name] = os.path.join(d, "plate.%04d.exr")
        for f in sample.frames:
            for source, copy in ((sample.path(f), patterns[name] % f),
                                 (os.path.join(plain, f"plate_matte.{f:04d}.exr"),
                                  os.path.join(d, f"plate_matte.{f:04d}.exr"))):
                image = read_image(source)
                write_windowed(copy, image.pixels, image.channels, window)
        # The same alignments (frame pixels) for the other copy of the plate.
        alignments_io.save(dataclasses.replace(shot, plate=patterns[name]), d, merge=False)
    return SimpleNamespace(sample=sample, shot=shot, dirs=dirs, patterns=patterns,
                           frames=sample.frames)


def _unit(matrix: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The unit-crop coordinates (u, v) of frame points."""
    m = np.asarray(matrix, np.float64)
    return m[0, 0] * x + m[0, 1] * y + m[0, 2], m[1, 0] * x + m[1, 1] * y + m[1, 2]


def test_stabilise_gives_the_frames_face_and_maps_with_the_plates_windows(shots, tmp_path):
    out = {name: str(tmp_path / name / "face.####.exr") for name in shots.dirs}
    summaries = {name: stabilise_shot(shots.dirs[name], out[name], size=SIZE)
                 for name in shots.dirs}
    assert all(not s.skipped for s in summaries.values())
    path = {name: {kind: getattr(summaries[name], kind).replace("####", "{:04d}")
                   for kind in ("out", "face_to_plate", "plate_to_face")} for name in out}
    for f in shots.frames:
        matrix = shots.shot.frames[f][0].matrix
        plain = {k: read_image(p.format(f)) for k, p in path["plain"].items()}
        for name, window in WINDOWS.items():
            this = {k: read_image(p.format(f)) for k, p in path[name].items()}
            x, y, w, h = window

            # face_to_plate: s, t of the frame as before; A says "on the stored pixels".
            st, st_plain = this["face_to_plate"].pixels, plain["face_to_plate"].pixels
            np.testing.assert_allclose(st[..., :3], st_plain[..., :3], atol=1e-6)
            px = st_to_index(st[..., :2], PLATE)
            on_stored = ((px[..., 0] >= x - 0.5) & (px[..., 0] <= x + w - 0.5)
                         & (px[..., 1] >= y - 0.5) & (px[..., 1] <= y + h - 0.5))
            assert (on_stored == (st[..., 3] == 1)).mean() > 0.999

            # The still face: the plain plate's wherever its cubic filter (two pixels each
            # way) reads only stored pixels: all of it with this overscan, which also holds
            # what OpenCV reflects at the frame's edge.
            core = ((px[..., 0] >= x + 2) & (px[..., 0] <= x + w - 3)
                    & (px[..., 1] >= y + 2) & (px[..., 1] <= y + h - 3))
            if name == "overscan":
                assert core.all()
            assert core.mean() > 0.6
            diff = np.abs(this["out"].pixels - plain["out"].pixels).max(axis=-1)
            assert diff[core].max() < 1e-3, (name, f, diff[core].max())

            # plate_to_face: over the plate's stored pixels (the face's box of them), in the
            # plate's frame, each pixel the crop coordinate of the frame point it shows.
            geometry = read_geometry(path[name]["plate_to_face"].format(f))
            (bx, by, bw, bh), display = geometry.data, geometry.display
            assert display == DISPLAY
            assert x <= bx and y <= by and bx + bw <= x + w and by + bh <= y + h
            xs, ys = np.meshgrid(np.arange(bx, bx + bw, dtype=np.float64),
                                 np.arange(by, by + bh, dtype=np.float64))
            u, v = _unit(matrix, xs, ys)
            inside = (np.abs(u - 0.5) <= 0.5) & (np.abs(v - 0.5) <= 0.5)
            expected = np.dstack([u * inside, (1 - v) * inside, 0 * u, inside])
            assert np.abs(this["plate_to_face"].pixels - expected).max() < 1e-5
            # ... and over the frame the same map as the plain plate's.
            frame_maps = [read_image(p["plate_to_face"].format(f), display_window=True).pixels
                          for p in (path["plain"], path[name])]
            both = (frame_maps[0][..., 3] > 0) & (frame_maps[1][..., 3] > 0)
            assert both.sum() > 5000
            assert np.abs(frame_maps[0] - frame_maps[1])[both].max() < 1e-5
            if name == "overscan" and f == 1002:  # the face reaches past the frame's top
                assert by < 0 and (this["plate_to_face"].pixels[:-by, :, 3] > 0).any()


def test_occlusion_crops_labels_and_mattes_follow_the_plates_windows(shots):
    frames = tuple(shots.frames)
    crops = {}
    for name in ("plain", "overscan"):
        reader = ShotFrames(open_plate(shots.patterns[name], list(frames)), shots.shot, 64)
        labels = Labels(os.path.join(shots.dirs[name], "plate_matte.####.exr"), frames)
        crops[name] = labelled_crops(reader, labels)
    for plain, overscan in zip(crops["plain"], crops["overscan"]):
        assert plain.shape == overscan.shape
        assert np.abs(plain.astype(int) - overscan.astype(int)).max() <= 1
    assert crops["plain"][1].max() == 255  # the labels do hold the occluders

    # A model trained (briefly) on the plain plate predicts the same matte on every copy;
    # frame 1001 is labelled (the artist's frame-sized matte), 1002 predicted.
    labels = Labels(os.path.join(shots.dirs["plain"], "plate_matte.####.exr"), (frames[0],))
    trained = train_occlusion(shots.patterns["plain"], shots.dirs["plain"], labels,
                              OcclusionTrainSettings(size=64, width=8, steps=3, minutes=1,
                                                     batch_size=2))
    mattes = {}
    for name in shots.dirs:
        if name != "plain":
            shutil.copytree(os.path.dirname(trained.version),
                            os.path.join(shots.dirs[name], "occlusion"))
        pattern, written = predict_occlusion(shots.patterns[name], shots.dirs[name])
        assert written == list(frames)
        mattes[name] = {f: pattern.replace("####", f"{f:04d}") for f in frames}

    for f in frames:
        plain = read_image(mattes["plain"][f])
        assert plain.frame == Geometry.plain(*PLATE)
        plain = plain.pixels[..., 0]
        assert plain.max() > 0.1  # something to compare
        for name, window in WINDOWS.items():
            path = mattes[name][f]
            plate = read_image(shots.patterns[name] % f).frame
            assert read_geometry(path) == plate == Geometry(window, DISPLAY)
            # convert reads it back onto the plate's stored pixels, as they are
            back = read_matte(path, "A", plate)
            assert back.shape == (window[3], window[2])
            np.testing.assert_array_equal(back, read_image(path).pixels[..., 0])
            # over the frame: the plain plate's matte
            x, y, w, h = window
            fx0, fy0 = max(x, 0), max(y, 0)
            fx1, fy1 = min(x + w, PLATE[0]), min(y + h, PLATE[1])
            ours = back[fy0 - y:fy1 - y, fx0 - x:fx1 - x]
            theirs = plain[fy0:fy1, fx0:fx1]
            if name == "cropped" and f != frames[0]:
                continue  # this face's crop reaches past the cropped render: not the same
            assert np.abs(ours - theirs).max() < 2e-3, (name, f)
            if f == frames[0]:  # the artist's frame-sized matte, nothing in the overscan
                assert back.sum() == pytest.approx(ours.sum())


def test_coverage_descriptors_agree(shots):
    descriptors = {name: {(s.frame, s.track): s.descriptor.to_json()
                          for s in shot_descriptors(shots.dirs[name])} for name in shots.dirs}
    for name in WINDOWS:
        for key, plain in descriptors["plain"].items():
            if name == "cropped" and key[0] != shots.frames[0]:
                continue  # this face's crop reaches past the cropped render
            assert descriptors[name][key] == pytest.approx(plain, abs=2e-4), (name, key)
