"""Face sets for training: real bundled faces, decoded once, masks from the landmarks.

``sample_facesets()`` is shared by the training and evaluation tests: it writes a face-set
folder (the docs/architecture.md format) per sample identity, from the real photos moved
through small known similarity transforms, with dlib's 68 landmarks found once per photo.
"""

import atexit
import functools
import importlib.util
import json
import math
import os
import shutil
import tempfile

import cv2
import numpy as np
import pytest
from faceplate.samples import source_image
from faceplate.train.data import FaceSetError, face_mask, load_faceset, match_colour

IDENTITIES = ("grace_hopper", "astronaut")


def _landmarks(photo: np.ndarray) -> np.ndarray:
    import dlib

    models = importlib.util.find_spec("face_recognition_models").submodule_search_locations[0]
    predictor = dlib.shape_predictor(os.path.join(models, "models",
                                                  "shape_predictor_68_face_landmarks.dat"))
    rgb8 = (photo * 255).round().astype(np.uint8)
    box = max(dlib.get_frontal_face_detector()(rgb8, 1), key=lambda r: r.area())
    shape = predictor(rgb8, box)
    return np.array([[p.x, p.y] for p in shape.parts()], np.float32)


def write_faceset(folder: str, source: str, count: int = 24, size: int = 128,
                  seed: int = 0) -> None:
    """Aligned crops of ``source`` with per-face jitter (roll, scale, shift, exposure)."""
    photo = source_image(source)
    marks = _landmarks(photo)
    eyes = marks[42:48].mean(0) - marks[36:42].mean(0)
    roll = math.atan2(eyes[1], eyes[0])
    centre = marks.mean(0)
    extent = np.ptp(marks, axis=0).max() * 1.55
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    faces = []
    for i in range(count):
        a = roll + math.radians(rng.uniform(-4, 4))
        s = size / extent * (1 + rng.uniform(-0.04, 0.04))
        c, d = math.cos(a) * s, math.sin(a) * s
        m = np.array([[c, d, 0.0], [-d, c, 0.0]])
        m[:, 2] = size / 2 + rng.uniform(-2, 2, 2) - m[:, :2] @ centre
        crop = cv2.warpAffine(photo, m, (size, size), flags=cv2.INTER_CUBIC,
                              borderMode=cv2.BORDER_REFLECT101)
        crop = np.clip(crop * rng.uniform(0.92, 1.08), 0, 1)
        name = f"{i + 1:06d}.png"
        cv2.imwrite(os.path.join(folder, name), (crop[..., ::-1] * 255).round().astype(np.uint8))
        faces.append({"file": name, "source": f"{source}.photo", "frame": 1001 + i, "track": 0,
                      "landmarks": (marks @ m[:, :2].T + m[:, 2]).round(3).tolist()})
    with open(os.path.join(folder, "faceset.json"), "w") as fh:
        json.dump({"schema": "faceplate.faceset", "version": 1, "face_type": "whole_face",
                   "size": size, "faces": faces}, fh)


@functools.cache
def sample_facesets(count: int = 24) -> dict[str, str]:
    """identity → face-set folder, built once per test session."""
    root = tempfile.mkdtemp(prefix="faceplate-facesets-")
    atexit.register(shutil.rmtree, root, True)
    return {name: _build(root, name, count) for name in IDENTITIES}


def _build(root: str, name: str, count: int) -> str:
    folder = os.path.join(root, name)
    write_faceset(folder, name, count, seed=IDENTITIES.index(name))
    return folder


def test_faceset_is_decoded_at_model_resolution_with_masks_on_the_face():
    fs = load_faceset(sample_facesets()["grace_hopper"], "grace", 64)
    assert fs.pixels.shape == (24, 64, 64, 5) and fs.pixels.dtype == np.uint8
    assert len(fs.fingerprint) == 16
    train, held = fs.split()
    assert len(train) == 22 and list(held) == [9, 19]
    mask, region = fs.pixels[0, ..., 3] > 127, fs.pixels[0, ..., 4] > 127
    assert 0.3 < mask.mean() < 0.8  # the face fills much of a whole-face crop, not all of it
    assert region.sum() < mask.sum() and (mask | ~region).mean() > 0.97  # features lie inside
    # Eyes are in the upper half, and the nose tip is inside the mask.
    eyes_y = fs.landmarks[0, 36:48, 1].mean()
    assert eyes_y < 32 and mask[int(fs.landmarks[0, 30, 1]), int(fs.landmarks[0, 30, 0])]


def test_face_mask_covers_the_forehead_above_the_brows():
    lm = load_faceset(sample_facesets()["astronaut"], "a", 128).landmarks[0]
    mask = face_mask(lm, 128)
    brow_x, brow_y = lm[19].round().astype(int)
    assert mask[brow_y - 6, brow_x] == 255


def test_colour_matching_moves_one_set_toward_the_other():
    sets = sample_facesets()
    a = load_faceset(sets["grace_hopper"], "g", 64)
    b = load_faceset(sets["astronaut"], "a", 64)
    before = np.abs(a.rgb().mean((0, 1, 2)) - b.rgb().mean((0, 1, 2))).sum()
    match_colour(a, b)
    after = np.abs(a.rgb().mean((0, 1, 2)) - b.rgb().mean((0, 1, 2))).sum()
    assert after < before * 0.8


def test_bad_faceset_folders_say_what_to_do(tmp_path):
    with pytest.raises(FaceSetError, match="x=.*faceplate extract"):
        load_faceset(str(tmp_path), "x", 64)
    head = {"schema": "faceplate.faceset", "version": 1, "face_type": "whole_face", "size": 64}
    (tmp_path / "faceset.json").write_text(json.dumps({**head, "faces": []}))
    with pytest.raises(FaceSetError, match="holds no faces"):
        load_faceset(str(tmp_path), "x", 64)
    (tmp_path / "faceset.json").write_text(json.dumps({**head, "faces": [
        {"file": "gone.png", "source": "p", "frame": 1, "landmarks": [[0, 0]] * 68}]}))
    with pytest.raises(FaceSetError, match="missing"):
        load_faceset(str(tmp_path), "x", 64)
    (tmp_path / "faceset.json").write_text("{")
    with pytest.raises(FaceSetError, match="cannot read face set index"):
        load_faceset(str(tmp_path), "x", 64)


def test_a_faceset_written_by_extraction_loads(tmp_path):
    from faceplate.extract.faceset import write_faceset as write_extracted

    src = load_faceset(sample_facesets()["astronaut"], "a", 128)
    write_extracted(str(tmp_path), "whole_face", 128,
                    [(src.rgb()[i], "plate.%04d.exr", 1001 + i, 0, src.landmarks[i])
                     for i in range(3)])
    fs = load_faceset(str(tmp_path), "a", 64)
    assert fs.pixels.shape == (3, 64, 64, 5) and fs.face_type == "whole_face"
    np.testing.assert_allclose(fs.landmarks, src.landmarks[:3] / 2, atol=1e-3)
    assert np.abs(fs.rgb()[0] - cv2.resize(src.rgb()[0], (64, 64),
                                           interpolation=cv2.INTER_AREA)).mean() < 0.01


def test_holdout_is_a_share_or_a_count_spread_through_the_set():
    from faceplate.train.data import held_out

    assert list(np.nonzero(held_out(24))[0]) == [9, 19]  # the default: every 10th face
    assert list(np.nonzero(held_out(40, 0.25))[0]) == list(range(3, 40, 4))  # every 4th
    count = np.nonzero(held_out(100, 7))[0]
    assert len(count) == 7 and np.diff(count).min() >= 14  # 7 faces, spread out
    assert not held_out(19, 0.5).any() and not held_out(100, 0).any()  # small set, or none
    assert held_out(30, 0.99).sum() == 29 and held_out(30, 500).sum() == 29  # one trains
    with pytest.raises(FaceSetError, match="negative"):
        held_out(30, -1)
