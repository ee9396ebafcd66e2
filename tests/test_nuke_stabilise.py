"""FaceAlign's Export Stabilised in the stand-in Nuke, with a real engine on a real socket.

Read → FaceDetect → FaceAlign on a moving sample plate; Export Stabilised writes the still face
and ST maps through the engine and builds Read → RotoPaint → Premult → STMap → Merge over the
plate. A stroke painted on the still face lands on the moving plate where the face is, and
every other plate pixel comes through bit-identical.
"""

from __future__ import annotations

import json
import os
import sys

import cv2
import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke_standin"))
sys.path.insert(0, os.path.dirname(__file__))

from session import start

FRAMES = (1001, 1004)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    from faceplate.samples import make_shot

    # Twelve frames of motion, four of them used: a face moves as in a real shot, frame to frame.
    return make_shot("astronaut", str(tmp_path_factory.mktemp("plate")), frames=12,
                     first=FRAMES[0], size=(320, 240), face_px=110.0)


def test_export_stabilised_builds_the_paint_back_graph(sample, engine_socket, tmp_path):
    from faceplate.face.align import invert, transform_points
    from faceplate.io.images import read_image, write_image

    nuke = start()
    read = nuke.createNode("Read")
    read["file"].setValue(sample.pattern.replace("%04d", "####"))
    read["first"].setValue(FRAMES[0])
    read["last"].setValue(FRAMES[1])
    detect = nuke.createNode("FaceDetect")
    detect.setInput(0, read)
    detect["detector"].setValue("dlib")
    align = nuke.createNode("FaceAlign")
    align.setInput(0, detect)
    for node in (detect, align):
        node["engine_address"].setValue(engine_socket)
        node["cache_folder"].setValue(str(tmp_path / "cache"))
    from faceplate_nuke import actions
    from faceplate_nuke.errors import NodeError

    with pytest.raises(NodeError, match="stabilised folder"):
        actions.export_stabilised(align)
    align["stabilise_folder"].setValue(str(tmp_path / "stab"))
    align["stabilise_size"].setValue(128)
    align["export_stabilised"].execute()  # the artist presses Export Stabilised
    (stmap,) = nuke.allNodes("STMap")
    (merge,) = nuke.allNodes("Merge2")
    premult = stmap.input(0)
    map_read = stmap.input(1)
    face_read = premult.input(0).input(0)
    assert premult.Class() == "Premult" and premult.input(0).Class() == "RotoPaint"
    assert merge.input(0) is read and merge.input(1) is stmap
    assert face_read["file"].value() == str(tmp_path / "stab" / "face.####.exr")
    assert map_read["file"].value() == str(tmp_path / "stab" / "plate_to_face.####.exr")
    assert face_read["raw"].value() and map_read["raw"].value()
    assert (face_read["first"].value(), face_read["last"].value()) == FRAMES
    assert nuke._state.progress_tasks[-1]._history[-1] == (100, "stabilise: 4/4")

    # The artist paints a bright dot on the still face, at the same crop spot on every frame
    # (the stand-in's RotoPaint has no strokes, so the painted face is written beside it).
    painted = tmp_path / "painted"
    painted.mkdir()
    for f in range(FRAMES[0], FRAMES[1] + 1):
        face = read_image(str(tmp_path / "stab" / f"face.{f}.exr"))
        rgba = np.dstack([face.pixels, np.zeros((128, 128), np.float32)])
        cv2.circle(rgba, (64, 76), 3, (4.0, 0.0, 4.0, 1.0), -1)
        write_image(str(painted / f"face.{f}.exr"), rgba, ["R", "G", "B", "A"],
                    face.metadata, pixel_type="float")
    face_read["file"].setValue(str(painted / "face.####.exr"))

    write = nuke.createNode("Write")
    write.setInput(0, merge)
    write["channels"].setValue("rgba")
    write["file"].setValue(str(tmp_path / "out" / "fixed.####.exr"))
    write["create_directories"].setValue(True)
    nuke.execute(write, *FRAMES)
    with open(os.path.join(actions.Run(align).cache("align").version_dir(),
                           "alignments.json")) as fh:
        alignments = json.load(fh)
    spots = []
    for f in range(FRAMES[0], FRAMES[1] + 1):
        out = read_image(str(tmp_path / "out" / f"fixed.{f}.exr"))
        plate = read_image(sample.path(f)).rgb()
        changed = np.abs(out.rgb() - plate).max(axis=-1) > 0
        ys, xs = np.nonzero(changed)
        matrix = np.asarray(alignments["frames"][str(f)][0]["matrix"])
        spot = transform_points(np.array([[64.5 / 128, 76.5 / 128]]), invert(matrix))[0]
        assert np.hypot(xs.mean() - spot[0], ys.mean() - spot[1]) < 0.5  # the paint's centre
        assert changed.sum() < 200  # only the stroke: the face itself is not pasted back
        assert out.channel("A")[changed].max() > 0.9
        spots.append(spot)
    assert np.ptp(np.asarray(spots), axis=0).max() > 5  # the plate moved; the paint followed
