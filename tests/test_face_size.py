"""How large the model draws a face against the plate: `--preset auto` sizes the model from the
shot's faces and says why, and convert warns (once) when a face is upscaled more than 2x,
writing the scale into every swapped frame's metadata."""

import json
import logging
import os

import numpy as np
import pytest
from faceplate.cli import main
from faceplate.convert.face_size import (
    SOFT_BELOW,
    face_px,
    face_scale,
    facesets_face_px,
    median_face_px,
    shot_face_scale,
    shots_face_px,
    soft_warning,
)
from faceplate.convert.pipeline import convert_shot
from faceplate.convert.settings import MergeSettings
from faceplate.convert.swap import PassthroughModel
from faceplate.convert.writer import read_provenance
from faceplate.extract import alignments as alignments_io
from faceplate.samples import make_shot, write_true_alignments
from faceplate.train.config import TrainConfig
from faceplate.train.presets import choose_preset


def unit_matrix(side: float, angle: float = 0.3) -> np.ndarray:
    """Plate pixels → the unit crop of a face whose crop covers ``side`` px, rolled."""
    c, s = np.cos(angle) / side, np.sin(angle) / side
    return np.array([[c, -s, 0.1], [s, c, -0.2]])


def test_the_face_size_is_the_crops_side_on_the_plate_whatever_its_roll():
    assert face_px(unit_matrix(150.0)) == pytest.approx(150.0)
    assert median_face_px([unit_matrix(s) for s in (140, 150, 400)]) == pytest.approx(150.0)
    assert median_face_px([]) is None
    assert face_scale(64, unit_matrix(256.0)) == pytest.approx(0.25)
    assert soft_warning(128, [0.9, 1.2]) is None
    text = soft_warning(64, [0.9, 0.25])
    assert text is not None and "under half" in text and "4.0x" in text and "256 px" in text


def test_auto_picks_the_largest_size_at_or_under_the_face_the_device_and_budget_afford():
    # A web clip's 150 px face on a CPU: 128 px, for any budget from 5 minutes (or none).
    for budget in (600.0, 3600.0, None):
        assert choose_preset("cpu", budget, 150.0)[0] == "standard"
    assert choose_preset("cpu", 180.0, 150.0)[0] == "fast"  # a 3-minute budget: 64 px
    assert choose_preset("cpu", 3600.0, 90.0)[0] == "fast"  # a small face: no larger model
    assert choose_preset("cpu", 5 * 3600.0, 300.0)[0] == "high"
    assert choose_preset("cpu", 3600.0, 1000.0)[0] == "standard"  # a 2K plate's face on a CPU
    assert choose_preset("cuda", 3600.0, 1000.0)[0] == "high"
    assert choose_preset("cuda", None, 1000.0)[0] == "production"
    assert choose_preset("cuda", 9 * 3600.0, 300.0)[0] == "high"
    name, why = choose_preset("cpu", 600.0, 1000.0)
    assert "faces of 1000 px" in why and "upscaled 7.8x" in why
    # Unknown size: as before (64 px on a CPU under 4 hours), and it says what is missing.
    name, why = choose_preset("cpu", 600.0)
    assert name == "fast" and "--shot or --face-size" in why


@pytest.fixture(scope="module")
def large_face_shot(tmp_path_factory):
    root = tmp_path_factory.mktemp("sh020")
    sample = make_shot("astronaut", str(root / "plate"), frames=2, size=(640, 400),
                       face_px=160.0)
    return sample, write_true_alignments(sample, str(root / "shot"))


def test_train_reads_the_face_size_from_the_shot_and_says_what_it_chose(large_face_shot,
                                                                         caplog):
    _, shot = large_face_shot
    size = shots_face_px([shot])
    frames = alignments_io.load(shot).frames
    assert size == pytest.approx(np.median([face_px(f[0].matrix) for f in frames.values()]))
    assert 128 <= size < 512
    caplog.set_level(logging.INFO)
    config = TrainConfig.from_preset("auto", facesets={"a": "x", "b": "y"}, model_dir="m",
                                     device="cpu", time_budget_s=600.0, face_size=size)
    assert config.preset == "standard" and config.resolution == 128
    assert f"preset auto: standard (faces of {size:.0f} px on the plate, CPU" in caplog.text


def test_train_with_no_preset_and_no_shot_sizes_the_model_from_the_face_sets(large_face_shot,
                                                                            tmp_path, caplog):
    """Extraction records each face's size on its plate in the face set, so `faceplate train`
    (or the train op, as Nuke calls it) with nothing but face sets draws a 160 px face at
    128 px on a CPU; a set made before it recorded sizes keeps the old choice and says so."""
    sample, _ = large_face_shot
    faceset = str(tmp_path / "faces")
    assert main(["extract", sample.pattern, "-o", str(tmp_path / "shot"), "--backend", "dlib",
                 "--select", "index:0", "--no-preview", "--faceset", faceset]) == 0
    recorded = facesets_face_px([faceset])
    assert recorded == pytest.approx(shots_face_px([str(tmp_path / "shot")]), rel=0.01)
    assert 128 <= recorded < 512
    caplog.set_level(logging.INFO)
    config = TrainConfig.from_preset("auto", facesets={"a": faceset, "b": faceset},
                                     model_dir="m", device="cpu", time_budget_s=600.0)
    assert config.preset == "standard" and config.resolution == 128
    assert f"faces of {recorded:.0f} px on the plate" in caplog.text
    # A face set index from before: no sizes, so the faces' size is unknown.
    index = os.path.join(faceset, "faceset.json")
    with open(index) as fh:
        doc = json.load(fh)
    for face in doc["faces"]:
        face.pop("plate_px")
    with open(index, "w") as fh:
        json.dump(doc, fh)
    assert facesets_face_px([faceset]) is None
    old = TrainConfig.from_preset("auto", facesets={"a": faceset, "b": faceset}, model_dir="m",
                                  device="cpu", time_budget_s=600.0)
    assert old.preset == "fast" and "size is unknown" in caplog.text


def test_convert_warns_once_and_stamps_each_frame_when_the_face_is_upscaled(large_face_shot,
                                                                             tmp_path, caplog):
    sample, shot = large_face_shot
    out = str(tmp_path / "o.####.exr")
    with caplog.at_level(logging.WARNING):
        summary = convert_shot(sample.pattern.replace("%04d", "####"), shot,
                               PassthroughModel(64), "plate", out,
                               settings=MergeSettings(mask="hull"))
    assert summary.count("swapped") == 2
    said = [r for r in caplog.records if "under half their size on the plate" in r.getMessage()]
    assert len(said) == 1
    qc = summary.to_dict()["face_scale"]
    assert qc["min"] < SOFT_BELOW and "warning" in qc
    expected = shot_face_scale(64, alignments_io.load(shot), sample.frames)
    assert qc["median"] == expected["median"]
    for frame in sample.frames:
        meta = read_provenance(out.replace("####", str(frame)))
        scale = float(meta["faceplate/face_scale"])
        matrix = alignments_io.load(shot).frames[frame][0].matrix
        assert scale == pytest.approx(face_scale(64, matrix), abs=1e-3) and scale < SOFT_BELOW
