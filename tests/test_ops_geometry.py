"""The per-frame ops speak frame pixels whatever a plate stores: a Nuke Write renders the bbox as
the EXR data window and the format as the display window, so FaceDetect, FaceAlign, FaceSwap
and FaceMerge hand the engine overscan plates, cropped renders and plain frames alike. The
astronaut sample frame, written three ways with OpenImageIO (plain, 16×12 px of overscan, a
data window cropped inside the frame), must give the same landmarks, the same matrices and the
same merged face, placed where the frame has it; the inline merge says where its pixels sit.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import tiny_model, write_windowed
from faceplate.io.images import read_geometry, read_image
from faceplate.samples import make_shot
from faceplate.server.arrays import from_numpy, to_numpy

W, H = 320, 240
FULL = (0, 0, W, H)
WINDOWS = {"plain": FULL, "overscan": (-16, -12, W + 32, H + 24), "cropped": (8, 6, 300, 226)}
COMMON = {"colourspace": "ACEScg"}


@pytest.fixture(scope="module")
def plates(tmp_path_factory):
    """{kind: plate path} of one astronaut frame, and a tiny model."""
    root = tmp_path_factory.mktemp("geometry")
    sample = make_shot("astronaut", str(root / "shot"), frames=1, size=(W, H), face_px=110.0)
    rgb = read_image(sample.path(sample.frames[0])).rgb()
    paths = {kind: write_windowed(str(root / f"{kind}.exr"), rgb, ("R", "G", "B"), data)
             for kind, data in WINDOWS.items()}
    for kind, path in paths.items():  # what the test means to hand the engine
        assert read_image(path).frame.data == WINDOWS[kind]
    return paths, tiny_model(str(root / "model"))


@pytest.fixture(scope="module")
def detected(plates, running):
    client = running[0]
    return {kind: client.call("detect", {**COMMON, "path": path, "backend": "dlib",
                                         "verify": False})
            for kind, path in plates[0].items()}


def test_detect_answers_frame_pixels_and_the_frame_size(detected):
    plain = detected["plain"].params
    assert len(plain["faces"]) == 1
    for kind, reply in detected.items():
        assert reply.params["size"] == [W, H], kind
        assert len(reply.params["faces"]) == 1, kind
        face = reply.params["faces"][0]
        # dlib's points are whole pixels and its boxes step by HOG cells (8 px): on pixels
        # shifted by the overscan a point may round the other way, a box move by a cell.
        offset = np.asarray(face["landmarks"]) - plain["faces"][0]["landmarks"]
        assert np.abs(offset.mean(axis=0)).max() < 0.5, f"{kind}: landmarks moved by " \
            f"{offset.mean(axis=0).round(2)} px from the plain plate's"
        assert np.abs(offset).max() <= 1.0, kind
        np.testing.assert_allclose(face["bbox"], plain["faces"][0]["bbox"], atol=10.0,
                                   err_msg=kind)
        np.testing.assert_allclose(to_numpy(reply.arrays["landmarks"])[0], face["landmarks"],
                                   atol=1e-3, err_msg=kind)


@pytest.fixture(scope="module")
def placed(plates, detected, running):
    """The plain plate's landmarks (frame pixels), aligned on every plate with crops."""
    client = running[0]
    landmarks = to_numpy(detected["plain"].arrays["landmarks"])
    aligned = {kind: client.call("align", {**COMMON, "path": path, "size": 64},
                                 {"landmarks": from_numpy(landmarks)})
               for kind, path in plates[0].items()}
    return landmarks, aligned


def test_align_gives_frame_matrices_and_cuts_the_same_crops(placed):
    _, aligned = placed
    plain = to_numpy(aligned["plain"].arrays["matrices"])
    crop = to_numpy(aligned["plain"].arrays["crops"])
    for kind, reply in aligned.items():
        np.testing.assert_allclose(to_numpy(reply.arrays["matrices"]), plain, atol=1e-9,
                                   err_msg=kind)
        # the same crop: the face lies inside every data window
        np.testing.assert_allclose(to_numpy(reply.arrays["crops"]), crop, atol=1e-4,
                                   err_msg=kind)


def test_swap_and_merge_place_the_face_in_the_frame(plates, placed, running, tmp_path):
    client = running[0]
    paths, model = plates
    landmarks, aligned = placed
    placement = {"matrices": aligned["plain"].arrays["matrices"],
                 "landmarks": from_numpy(landmarks)}
    swap = {**COMMON, "model": model, "identity": "other"}
    swapped = {kind: client.call("swap", {**swap, "path": paths[kind]}, placement)
               for kind in ("plain", "overscan")}
    # The untrained model hardly looks at its crop (cut 16 px off, its faces move by about
    # 1e-4), so the same crop must give the same faces well within that.
    np.testing.assert_allclose(to_numpy(swapped["overscan"].arrays["faces"]),
                               to_numpy(swapped["plain"].arrays["faces"]), atol=2e-5)

    arrays = {**placement, "faces": swapped["plain"].arrays["faces"],
              "masks": swapped["plain"].arrays["masks"]}
    merge = {**COMMON, "model": model, "identity": "other", "frame": 1, "mask": "hull",
             "colour": "none"}
    written = {}
    for kind in ("plain", "overscan", "cropped"):
        out = str(tmp_path / f"merged_{kind}.exr")
        client.call("merge", {**merge, "path": paths[kind], "output": out}, arrays)
        assert read_geometry(out).data == WINDOWS[kind], kind
        written[kind] = read_image(out, display_window=True)
    plain = written["plain"].channel("facemask.face")
    assert plain.max() > 0.5  # it merged a face
    for kind in ("overscan", "cropped"):
        face = written[kind].channel("facemask.face")
        np.testing.assert_allclose(face, plain, atol=1e-3, err_msg=kind)
    inside = plain > 0.5  # the merged colour, over the face, is the plain plate's
    np.testing.assert_allclose(written["overscan"].rgb()[inside],
                               written["plain"].rgb()[inside], atol=2e-2)

    inline = client.call("merge", {**merge, "path": paths["overscan"]}, arrays)
    assert inline.params["data_window"] == list(WINDOWS["overscan"])
    assert inline.params["display_window"] == list(FULL)
    rgba, layers = to_numpy(inline.arrays["rgba"]), to_numpy(inline.arrays["layers"])
    assert rgba.shape[:2] == layers.shape[:2] == (H + 24, W + 32)  # the stored pixels
    matte = layers[12:12 + H, 16:16 + W, inline.params["channels"].index("facemask.face")
                   - rgba.shape[-1]]
    np.testing.assert_allclose(matte, plain, atol=1e-3)
