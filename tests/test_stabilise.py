"""ST maps (Nuke's convention) and ``faceplate stabilise``: the still face and maps both ways.

The shot's alignments come from the sample's exact transforms (not a detector), so the test is
about the geometry: a round trip plate → stabilised → plate lands within half a pixel.
"""

from __future__ import annotations

import json
import math
import os

import cv2
import numpy as np
import pytest
from faceplate.cli import main
from faceplate.errors import FaceplateError
from faceplate.extract import alignments as alignments_io
from faceplate.face.align import invert, transform_points, warp_from_crop_box, warp_to_crop
from faceplate.face.meanface import MEAN_FACE
from faceplate.face.stmap import apply_stmap, face_to_plate, index_to_st, plate_to_face
from faceplate.io.images import read_image
from faceplate.samples import make_shot
from faceplate.stabilise import stabilise_shot
from faceplate_client.protocol import EngineError

PLATE = (320, 240)


def _matrix(angle_deg: float = 12.0, scale: float = 1 / 120, centre=(170.0, 110.0)):
    """A plate → unit crop similarity: a face ~120 px wide, rolled, centred at ``centre``."""
    a = math.radians(angle_deg)
    lin = scale * np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    return np.hstack([lin, (np.array([0.5, 0.5]) - lin @ np.asarray(centre))[:, None]])


def test_the_convention_is_nukes_s_right_t_up_from_pixel_centres():
    # Plate 64×64 onto a 64 px crop one-to-one: face_to_plate is the identity ST map.
    unit = np.array([[1 / 64, 0, 0.5 / 64], [0, 1 / 64, 0.5 / 64]])
    st = face_to_plate(unit, 64, (64, 64))
    assert st[0, 0, :2] == pytest.approx([0.5 / 64, 1 - 0.5 / 64])  # top-left: t near 1
    assert st[63, 63, :2] == pytest.approx([1 - 0.5 / 64, 0.5 / 64])
    assert (st[..., 2] == 1).all()
    np.testing.assert_allclose(st[..., :2], index_to_st(
        np.stack(np.meshgrid(np.arange(64.0), np.arange(64.0)), -1), (64, 64)), atol=1e-6)
    # plate_to_face holds the unit crop coordinate (t flipped): the face centre is (0.5, 0.5).
    m = _matrix()
    placed, (x0, y0, _, _) = plate_to_face(m, 128, PLATE)
    cx, cy = transform_points(np.array([[0.5, 0.5]]), invert(m))[0]
    s, t = placed[round(cy) - y0, round(cx) - x0, :2]
    u, v = transform_points(np.array([[round(cx), round(cy)]], float), m)[0]
    assert (s, t) == pytest.approx((u, 1 - v), abs=1e-6)


def test_maps_agree_with_the_engines_warps_and_round_trip_within_half_a_pixel():
    m, size = _matrix(), 128
    rng = np.random.default_rng(1)
    plate = cv2.GaussianBlur(rng.random((PLATE[1], PLATE[0], 3), np.float32), (0, 0), 3)
    crop = apply_stmap(plate, face_to_plate(m, size, PLATE))
    inner = (slice(4, -4), slice(4, -4))
    assert np.abs(crop - warp_to_crop(plate, m, size, cv2.INTER_LINEAR))[inner].max() < 2e-3
    placed, (x0, y0, x1, y1) = plate_to_face(m, size, PLATE)
    back = apply_stmap(crop, placed)
    ref, box = warp_from_crop_box(crop, m, PLATE, cv2.INTER_LINEAR)
    assert box == (x0, y0, x1, y1)
    core = cv2.erode(placed[..., 2], np.ones((7, 7), np.uint8)) > 0
    assert np.abs(back - ref)[core].max() < 2e-3

    # Round trip of the plate's own coordinates: plate → stabilised → plate.
    xs, ys = np.meshgrid(np.arange(PLATE[0], dtype=np.float32),
                         np.arange(PLATE[1], dtype=np.float32))
    coords = np.dstack([xs, ys])
    returned = apply_stmap(apply_stmap(coords, face_to_plate(m, size, PLATE)), placed)
    error = np.linalg.norm(returned - coords[y0:y1, x0:x1], axis=-1)[core]
    assert core.sum() > 5000 and error.max() < 0.5


def _shot(root: str, *, faceless: int | None = None):
    """A moving sample plate and alignments from its exact transforms (face ≈ 100 px)."""
    sample = make_shot("astronaut", os.path.join(root, "plate"), frames=4, size=PLATE,
                       face_px=100.0)
    # The source photo's face: centre and width as the sample knows them.
    from faceplate.samples import SOURCES

    src = SOURCES["astronaut"]
    cx, cy = src["centre"]
    to_unit = np.array([[1.3 / src["face_width"] / 1.55, 0, 0], [0, 1.3 / src["face_width"]
                                                                / 1.55, 0]])
    to_unit[:, 2] = np.array([0.5, 0.45]) - to_unit[:, :2] @ np.array([cx, cy])
    frames = {}
    for f in sample.frames:
        src_to_plate = np.vstack([sample.matrices[f], [0, 0, 1]])
        m = to_unit @ np.linalg.inv(src_to_plate)
        lm = transform_points(MEAN_FACE * 0.8 + 0.1, invert(m))
        x0, y0 = lm.min(axis=0)
        x1, y1 = lm.max(axis=0)
        frames[f] = [] if f == faceless else [
            alignments_io.FaceRecord((x0, y0, x1, y1), 0.99, lm, m, 0)]
    alignments_io.save(alignments_io.Alignments(
        sample.pattern, sample.colourspace, "truth", "whole_face", PLATE, 0.0, frames), root)
    return sample, frames


def test_stabilise_writes_a_still_face_and_maps_that_put_paint_back(tmp_path, capsys):
    sample, frames = _shot(str(tmp_path), faceless=1003)
    out = str(tmp_path / "stab" / "face.####.exr")
    code = main(["stabilise", str(tmp_path), "-o", out, "--size", "128", "--only-faces",
                 "--json"])
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert code == 0 and summary["ranges"] == "1001-1002,1004"
    assert summary["no_face_ranges"] == "1003" and summary["track"] == 0
    assert "stabilise" in captured.err  # progress on stderr
    stab = tmp_path / "stab"
    assert not (stab / "face.1003.exr").exists()
    faces = {}
    for f in (1001, 1002, 1004):
        face = read_image(str(stab / f"face.{f}.exr"))
        assert face.channels == ["R", "G", "B"] and face.pixels.shape == (128, 128, 3)
        meta = face.metadata
        assert meta["faceplate/frame"] == str(f) and meta["faceplate/track"] == "0"
        assert meta["faceplate/plate"] == sample.pattern
        assert meta["faceplate/colourspace"] == "ACEScg"
        np.testing.assert_allclose(json.loads(meta["faceplate/matrix"]), frames[f][0].matrix,
                                   atol=1e-8)
        plate = read_image(sample.path(f)).rgb()
        # The face file is the plate through face_to_plate, in the plate's (linear) values.
        to_plate = read_image(str(stab / f"face_to_plate.{f}.exr"))
        assert to_plate.channels == ["R", "G", "B", "A"]
        assert to_plate.metadata["faceplate/stmap"].startswith("nuke-stmap")
        assert np.abs(apply_stmap(plate, to_plate.pixels, cv2.INTER_CUBIC)
                      - face.pixels)[8:-8, 8:-8].max() < 0.02
        faces[f] = face.pixels
        # A paint stroke on the still face (a bright dot at the nose) lands on the moving plate.
        paint = np.zeros((128, 128, 4), np.float32)
        cv2.circle(paint, (64, 70), 4, (5.0, 0.0, 0.0, 1.0), -1)
        from_plate = read_image(str(stab / f"plate_to_face.{f}.exr"), display_window=True)
        assert from_plate.pixels.shape == (PLATE[1], PLATE[0], 4)
        landed = apply_stmap(paint, from_plate.pixels)
        ys, xs = np.nonzero(landed[..., 3] > 0.5)
        nose = transform_points(np.array([[64.5 / 128, 70.5 / 128]]),
                                invert(frames[f][0].matrix))[0]
        assert np.hypot(xs.mean() - nose[0], ys.mean() - nose[1]) < 0.5
    # Still: the face barely changes although the plate moves, rolls and pushes in.
    assert np.abs(faces[1001] - faces[1004])[16:-16, 16:-16].mean() < 0.02
    plate_motion = np.abs(read_image(sample.path(1001)).rgb()
                          - read_image(sample.path(1004)).rgb()).mean()
    assert plate_motion > 0.03


def test_without_only_faces_every_frame_is_written_and_bad_input_is_a_clear_error(
        tmp_path, capsys):
    _shot(str(tmp_path), faceless=1002)
    out = str(tmp_path / "s" / "hero.####.exr")
    summary = stabilise_shot(str(tmp_path), out, size=64)
    assert summary.to_dict()["ranges"] == "1001-1004" and summary.ledger.no_face == [1002]
    blank = read_image(str(tmp_path / "s" / "hero.1002.exr"))
    assert blank.metadata["faceplate/status"] == "no face" and not blank.pixels.any()
    assert (tmp_path / "s" / "hero_to_plate.1002.exr").exists()
    assert (tmp_path / "s" / "plate_to_hero.1001.exr").exists()
    for args, words in (
            (["stabilise", str(tmp_path / "nowhere"), "-o", out], "no alignments"),
            (["stabilise", str(tmp_path), "-o", out, "--track", "3"], "no track 3"),
            (["stabilise", str(tmp_path), "-o", str(tmp_path / "face.png")], "EXR sequence"),
            (["stabilise", str(tmp_path), "-o", out, "--size", "9"], "outside"),
            (["stabilise", str(tmp_path), "-o", out, "--frames", "5-6"], "none of frames")):
        assert main(args) == 2
        assert words in capsys.readouterr().err
    with pytest.raises(FaceplateError, match="alignments were made on"):
        stabilise_shot(str(tmp_path), out, size=64, plate=_other_size_plate(tmp_path))


def _other_size_plate(tmp_path) -> str:
    other = make_shot("astronaut", str(tmp_path / "big"), frames=4, size=(400, 300))
    return other.pattern


def test_the_engine_op_writes_the_same_sequence_with_progress(running, tmp_path):
    _shot(str(tmp_path))
    client = running[0]
    events = []
    reply = client.call("stabilise_shot", {"shot_dir": str(tmp_path),
                                           "out": str(tmp_path / "e" / "face.####.exr"),
                                           "size": 64, "frames": "1002-1003"},
                        on_progress=events.append)
    with pytest.raises(EngineError, match="no track 5"):
        client.call("stabilise_shot", {"shot_dir": str(tmp_path), "track": 5,
                                       "out": str(tmp_path / "e" / "face.####.exr")})
    assert reply.params["ranges"] == "1002-1003" and reply.params["first"] == 1002
    assert events and events[-1]["done"] == 2
    assert read_image(str(tmp_path / "e" / "face.1003.exr")).metadata["faceplate/frame"] == "1003"
