"""One tracker, one smoother: FaceAlign in (stand-in) Nuke and ``faceplate extract`` give the
same alignments for the same detections, because FaceAlign asks a real engine on a real socket
(the ``track_faces`` op over its cached detections, no pixels) instead of tracking itself."""

from __future__ import annotations

import json
import os
import shutil
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke_standin"))
sys.path.insert(0, os.path.dirname(__file__))

from faceplate.io.colour import NETWORK_SPACE
from session import start

FIRST = 1


@pytest.fixture(scope="module")
def plate(tmp_path_factory):
    """Astronaut (1–6), a cut to Grace Hopper in the same place (7–12), PNG plates."""
    from faceplate.samples import make_shot

    root = tmp_path_factory.mktemp("plate")
    frame = FIRST
    for k, name in enumerate(("astronaut", "grace_hopper")):
        part = make_shot(name, str(root / f"part{k}"), frames=6, size=(480, 270), face_px=110.0,
                         colourspace=NETWORK_SPACE, ext="png", seed=k)
        for f in part.frames:
            shutil.copy(part.path(f), str(root / f"plate.{frame:04d}.png"))
            frame += 1
    return str(root / "plate.####.png"), frame - 1


def _nuke_alignments(pattern, last, socket, cache, **knobs):
    nuke = start()
    read = nuke.createNode("Read")
    read["file"].setValue(pattern)
    read["first"].setValue(FIRST)
    read["last"].setValue(last)
    detect = nuke.createNode("FaceDetect")
    detect.setInput(0, read)
    align = nuke.createNode("FaceAlign")
    align.setInput(0, detect)
    for node in (detect, align):
        node["engine_address"].setValue(socket)
        node["cache_folder"].setValue(cache)
    detect["detector"].setValue("dlib")
    detect["input_colourspace"].setValue(NETWORK_SPACE)  # the PNG plates' own space
    align["smoothing"].setValue(0.5)
    for name, value in knobs.items():
        align[name].setValue(value)
    from faceplate_nuke import actions

    cache_dir = actions.process(align)
    with open(os.path.join(cache_dir.version_dir(), "alignments.json")) as fh:
        return json.load(fh)


def test_nuke_and_the_cli_give_the_same_alignments(plate, engine_socket, tmp_path):
    from faceplate.cli import main
    from faceplate.extract import alignments

    pattern, last = plate
    nuke = _nuke_alignments(pattern, last, engine_socket, str(tmp_path / "cache"))
    # The CLI with a whole-frame search on every frame: the same detections FaceDetect made.
    assert main(["extract", pattern, "-o", str(tmp_path / "cli"), "--backend", "dlib",
                 "--redetect-every", "1", "--smoothing", "0.5", "--no-preview"]) == 0
    cli = alignments.load(str(tmp_path / "cli"))
    assert nuke["cuts"] == cli.cuts == [7]
    for frame in range(FIRST, last + 1):
        ours = nuke["frames"][str(frame)]
        theirs = cli.faces(frame)
        assert len(ours) == len(theirs) == 1, frame
        a, b = ours[0], theirs[0]
        assert a["track"] == b.track
        assert np.allclose(a["bbox"], b.bbox, atol=1e-3)
        assert np.abs(np.asarray(a["landmarks"]) - b.landmarks).max() < 1e-2, frame
        assert np.abs(np.asarray(a["matrix"]) - b.matrix).max() < 1e-5, frame
        assert abs(a["confidence"] - b.confidence) < 1e-3
    # one person, one id; a different person after the cut gets another
    assert len({nuke["frames"][str(f)][0]["track"] for f in range(1, 7)}) == 1
    assert nuke["frames"]["1"][0]["track"] != nuke["frames"]["7"][0]["track"]
    assert set(nuke["tracks"]) == {str(t) for t in cli.track_info}


def test_reference_selection_runs_in_the_engine(plate, engine_socket, tmp_path):
    from faceplate.io.images import write_image
    from faceplate.samples import source_image

    pattern, last = plate
    reference = str(tmp_path / "grace.png")
    write_image(reference, source_image("grace_hopper"), ["R", "G", "B"])
    nuke = _nuke_alignments(pattern, last, engine_socket, str(tmp_path / "cache"),
                            select_mode="reference", reference_image=reference)
    kept = {f: v for f, v in nuke["frames"].items() if v}
    assert sorted(int(f) for f in kept) == list(range(7, 13))  # Grace Hopper's frames only


def test_track_faces_checks_its_input_and_copes_with_old_caches(running):
    from faceplate.server.arrays import from_numpy
    from faceplate_client.protocol import EngineError

    client = running[0]

    def call(params, **arrays):
        return client.call("track_faces", params, {k: from_numpy(v) for k, v in arrays.items()})

    box = np.array([[100, 100, 200, 200]], np.float32)
    points = np.random.default_rng(0).uniform(100, 200, (1, 68, 2)).astype(np.float32)
    with pytest.raises(EngineError, match="counts add up to 2 faces"):
        call({"frames": [1, 2], "counts": [1, 1]}, boxes=box, scores=np.ones(1, np.float32),
             landmarks=points)
    with pytest.raises(EngineError, match="'smoothing' must be between 0 and 1"):
        call({"frames": [1], "counts": [1], "smoothing": 3.0}, boxes=box,
             scores=np.ones(1, np.float32), landmarks=points)
    empty = call({"frames": [1, 2], "counts": [0, 0]}, boxes=np.zeros((0, 4), np.float32),
                 scores=np.zeros(0, np.float32), landmarks=np.zeros((0, 68, 2), np.float32))
    assert empty.params["faces"] == [] and empty.params["cuts"] == []
    # detections cached before confidence and descriptors existed: rated here, not re-identified
    reply = call({"frames": [1], "counts": [1]}, boxes=box, scores=np.full(1, 0.9, np.float32),
                 landmarks=points, descriptors=np.full((1, 128), np.nan, np.float32))
    (frame, index, track, confidence, held), = reply.params["faces"]
    assert (frame, index, track) == (1, 0, 0) and held == 1 and confidence < 0.5  # random points
