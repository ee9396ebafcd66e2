"""A TD builds a training set from a plate, then tidies it: sharpest first, misfits set aside."""

import json
import os
import shutil

import cv2
import numpy as np
import pytest
from faceplate.cli import main
from faceplate.errors import FaceplateError
from faceplate.extract.curate import (
    blur_score,
    drop_outliers,
    shape_distance,
    sort_faceset,
    yaw_score,
)
from faceplate.extract.faceset import FaceEntry, load_faceset
from faceplate.face.align import mean_face
from faceplate.face.meanface import MIRROR
from faceplate.io.images import read_image, write_image
from faceplate.samples import make_shot


@pytest.fixture(scope="module")
def faceset_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("curate")
    shot = make_shot("grace_hopper", str(root / "plate"), frames=8, size=(640, 360),
                     face_px=130.0, ext="png", colourspace="sRGB Encoded Rec.709 (sRGB)")
    out = str(root / "set")
    code = main(["extract", shot.pattern, "-o", str(root / "faces"), "--backend", "dlib",
                 "--select", "index:0", "--faceset", out, "--faceset-size", "128",
                 "--sort", "yaw", "--drop-outliers", "--no-preview"])
    assert code == 0
    return out


def _copy(src, tmp_path):
    dst = str(tmp_path / "set")
    shutil.copytree(src, dst)
    return dst


def test_misfit_faces_are_moved_aside_not_deleted(faceset_dir, tmp_path):
    root = _copy(faceset_dir, tmp_path)
    fs = load_faceset(root)
    count = len(fs)
    assert count >= 6
    assert max(shape_distance(e.landmarks, fs.face_type) for e in fs.entries) < 0.2
    # A crop whose landmarks are scrambled (a misdetection) joins the set.
    shutil.copy(fs.path(0), os.path.join(root, "999999.png"))
    scrambled = np.random.default_rng(0).permutation(fs.entries[0].landmarks)
    fs.entries.append(FaceEntry("999999.png", "plate", 9999, 0, scrambled))
    fs.save_index()
    rejected = drop_outliers(load_faceset(root))
    assert [e.file for e in rejected] == ["999999.png"]
    assert os.path.isfile(os.path.join(root, "rejected", "999999.png"))
    assert not os.path.exists(os.path.join(root, "999999.png"))
    assert len(load_faceset(root)) == count


def test_sorting_by_blur_puts_a_soft_crop_last(faceset_dir, tmp_path):
    root = _copy(faceset_dir, tmp_path)
    fs = load_faceset(root)
    soft = fs.entries[0].file
    image = read_image(fs.path(0))
    write_image(fs.path(0), cv2.GaussianBlur(image.pixels, (0, 0), 4.0), image.channels,
                pixel_type="uint8")
    sort_faceset(fs, "blur")
    reloaded = load_faceset(root)
    assert reloaded.entries[-1].file == soft
    scores = [blur_score(reloaded.image(i)) for i in range(len(reloaded))]
    assert scores == sorted(scores, reverse=True)
    with open(os.path.join(root, "faceset.json")) as fh:
        assert [f["file"] for f in json.load(fh)["faces"]] == [e.file for e in reloaded.entries]
    with pytest.raises(FaceplateError, match="blur"):
        sort_faceset(reloaded, "age")


def test_yaw_reads_which_way_the_nose_points(faceset_dir):
    frontal = mean_face("whole_face") * 256
    assert abs(yaw_score(frontal)) < 0.5
    turned = frontal.copy()
    turned[27:36, 0] += 20  # the nose moves towards one cheek
    mirrored = (turned * [-1, 1])[MIRROR]  # the same head turned the other way
    assert yaw_score(turned) > 10 and yaw_score(mirrored) < -10
    fs = load_faceset(faceset_dir)  # written with --sort yaw: most frontal first
    yaws = [abs(yaw_score(e.landmarks)) for e in fs.entries]
    assert yaws == sorted(yaws)
