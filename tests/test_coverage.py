"""Will this face set cover this shot? Descriptors against known poses and expressions, and a
face set missing a pose range flags exactly the shot frames in that range."""

import json
import os
import shutil

import numpy as np
import pytest
from faceplate.cli import main
from faceplate.coverage.curate import balanced, without_duplicates
from faceplate.coverage.descriptors import (
    MEAN_FACE_3D,
    RIGID,
    describe,
    expression,
    head_pose,
    lighting,
    pose_angles,
    rotation,
)
from faceplate.coverage.store import SIDECAR, faceset_descriptors, shot_descriptors
from faceplate.extract.faceset import load_faceset
from faceplate.face.meanface import MEAN_FACE
from faceplate.samples import make_posed_shot, make_shot, posed_landmarks

SRGB = "sRGB Encoded Rec.709 (sRGB)"


def project(yaw=0.0, pitch=0.0, roll=0.0, distance=10.0, focal=1000.0):
    """68 image landmarks of the 3D mean face in a known pose (a pinhole camera)."""
    model = MEAN_FACE_3D - MEAN_FACE_3D[RIGID].mean(axis=0)
    cam = model @ rotation(yaw, pitch, roll).T + [0.0, 0.0, distance]
    return cam[:, :2] / cam[:, 2:] * focal + [640.0, 360.0]


@pytest.mark.parametrize("yaw,pitch,roll", [(0, 0, 0), (30, 0, 0), (-35, 10, 0), (0, 20, 0),
                                            (0, -25, 0), (20, -10, 15), (-10, 5, -30)])
def test_head_pose_reads_a_rotated_mean_face(yaw, pitch, roll):
    assert np.allclose(pose_angles(rotation(yaw, pitch, roll)), (yaw, pitch, roll), atol=1e-6)
    for distance in (5.0, 40.0):  # strong and weak perspective
        got = head_pose(project(yaw, pitch, roll, distance))[:3]
        assert np.allclose(got, (yaw, pitch, roll), atol=1.5), (distance, got)


def test_pose_signs_follow_the_screen():
    frontal = project()
    right, up = project(yaw=20), project(pitch=20)
    assert right[30, 0] - right[27, 0] > frontal[30, 0] - frontal[27, 0]  # nose to screen right
    assert up[30, 1] - up[39, 1] < frontal[30, 1] - frontal[39, 1]  # nose tip rises
    assert head_pose(right)[0] > 15 and head_pose(up)[1] > 15


def test_expression_measures_are_in_interocular_units_and_survive_a_head_turn():
    face = MEAN_FACE * 300.0 + 100.0
    io = float(np.linalg.norm(face[36:42].mean(0) - face[42:48].mean(0)))

    def measure(points):
        yaw, pitch, _, scale = head_pose(points)
        return expression(points, yaw, pitch, scale)

    closed = measure(face)
    opened = measure(posed_landmarks(face, mouth=0.3))
    assert opened["mouth_open"] - closed["mouth_open"] == pytest.approx(0.3, abs=0.03)
    turned = measure(posed_landmarks(face, yaw=30.0, mouth=0.3))
    assert turned["mouth_open"] == pytest.approx(opened["mouth_open"], rel=0.12)
    assert turned["smile"] == pytest.approx(closed["smile"], rel=0.12)
    wink = face.copy()
    wink[[37, 38]] = wink[[41, 40]]  # the right eye's upper lid meets the lower
    winked = measure(wink)
    assert winked["eye_right"] < 0.01
    assert winked["eye_left"] == pytest.approx(closed["eye_left"], rel=1e-3)
    raised = face.copy()
    raised[17:27, 1] -= 0.1 * io
    assert measure(raised)["brow"] - closed["brow"] == pytest.approx(0.1, abs=0.02)


def test_lighting_reads_the_key_side_and_exposure():
    size = 128
    crop_landmarks = MEAN_FACE * 80 + 24
    x = (np.arange(size) - size / 2) / 40.0
    linear = 0.18 * np.exp2(0.8 * x)[None, :, None] * np.ones((size, size, 3))

    def encode(v):
        return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(v, 1 / 2.4) - 0.055)

    key_x, key_y, exposure = lighting(encode(linear).astype(np.float32), crop_landmarks)
    assert key_x == pytest.approx(0.8, abs=0.1) and abs(key_y) < 0.05
    assert exposure == pytest.approx(0.0, abs=0.2)
    brighter = lighting(encode(2 * linear).astype(np.float32), crop_landmarks)
    assert brighter[2] - exposure == pytest.approx(1.0, abs=0.02)
    flipped = lighting(encode(linear[:, ::-1]).astype(np.float32), crop_landmarks)
    assert flipped[0] == pytest.approx(-key_x, abs=0.15)


def _extract(plate, shot_dir, faceset=None):
    args = ["extract", plate, "-o", shot_dir, "--backend", "dlib", "--select", "index:0",
            "--smoothing", "0", "--no-preview"]
    if faceset:
        args += ["--faceset", faceset, "--faceset-size", "128"]
    assert main(args) == 0


NEUTRAL = [{"yaw": y, "pitch": p} for y, p in [(-8, 0), (0, -4), (6, 2), (0, 3)]]
UP_OPEN = [{"yaw": y, "pitch": p, "mouth": m} for y, p, m in [(0, 22, 0.35), (4, 25, 0.4),
                                                         (-4, 24, 0.3), (0, 20, 0.38)]]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A shot: 4 neutral frames, 4 looking up with the mouth open, 4 neutral (rolled and
    framed differently); a face set without the up/open faces, and one with them."""
    root = tmp_path_factory.mktemp("coverage")
    shot_poses = ([dict(p, roll=5) for p in NEUTRAL] + [dict(p, roll=-5) for p in UP_OPEN]
                  + [dict(p, roll=-8, yaw=p["yaw"] + 2) for p in NEUTRAL])
    shot = make_posed_shot("astronaut", str(root / "plate"), shot_poses, face_px=150)
    _extract(shot.pattern, str(root / "shot"))
    narrow = make_posed_shot("astronaut", str(root / "narrow_plate"),
                             NEUTRAL + [{"yaw": y} for y in (-15, -4, 4, 15)], face_px=170)
    _extract(narrow.pattern, str(root / "narrow_faces"), str(root / "narrow"))
    full = make_posed_shot("astronaut", str(root / "full_plate"),
                           [dict(p, pitch=p["pitch"] - 2) for p in UP_OPEN], face_px=170)
    _extract(full.pattern, str(root / "full_faces"), str(root / "up_open"))
    shutil.copytree(root / "narrow", root / "full")
    assert main(["extract", full.pattern, "-o", str(root / "full_faces2"), "--backend", "dlib",
                 "--select", "index:0", "--smoothing", "0", "--no-preview",
                 "--faceset", str(root / "full"), "--faceset-size", "128"]) == 0
    return root, shot, shot_poses


def test_descriptors_match_the_known_poses_of_a_sample_shot(data):
    root, shot, poses = data
    faces = shot_descriptors(str(root / "shot"))
    assert [f.frame for f in faces] == shot.frames
    got = {f.frame: f.descriptor for f in faces}
    base = got[1002]  # yaw 0, pitch -4, roll 5: the photo's own pose is the reference
    for frame, pose in zip(shot.frames, poses):
        d = got[frame]
        assert d.roll - base.roll == pytest.approx(pose["roll"] - 5, abs=2.0), frame
        assert d.yaw - base.yaw == pytest.approx(pose["yaw"], abs=5.0), frame
        opened = pose.get("mouth", 0) > 0
        assert (d.mouth_open - base.mouth_open > 0.15) == opened, frame
    up = [got[f].pitch - base.pitch for f in shot.frames[4:8]]
    assert min(up) > 15


def test_roll_follows_the_moving_sample_shot(tmp_path):
    """samples.make_shot rolls the face by a known in-plane angle each frame."""
    from faceplate.samples import motion

    shot = make_shot("grace_hopper", str(tmp_path / "plate"), frames=6, size=(640, 360),
                     face_px=150.0, ext="png", colourspace=SRGB)
    _extract(shot.pattern, str(tmp_path / "shot"))
    faces = shot_descriptors(str(tmp_path / "shot"))
    truth = [motion(i / 5, 150.0, (640, 360))["roll_deg"] for i in range(6)]
    rolls = [f.descriptor.roll for f in faces]
    offset = np.mean(np.subtract(rolls, truth))  # the photo's own head tilt
    assert np.allclose(np.subtract(rolls, truth), offset, atol=2.0), (rolls, truth)


def test_a_face_set_without_a_pose_range_flags_exactly_those_frames(data, capsys):
    root, shot, _ = data
    report = str(root / "narrow_report.json")
    code = main(["coverage", "--shot", str(root / "shot"), "--faceset",
                 f"astro={root / 'narrow'}", "--report", report])
    out = capsys.readouterr().out
    assert code == 1
    with open(report) as fh:
        result = json.load(fh)
    gaps = result["identities"]["astro"]["gaps"]
    flagged = sorted(f for g in gaps for f in g["frames"])
    assert flagged == shot.frames[4:8]
    assert "looking up more than" in gaps[0]["reason"] and "mouth open" in gaps[0]["reason"]
    assert f"frames {shot.frames[4]}–{shot.frames[7]}" in out
    assert os.path.getsize(report.replace(".json", ".png")) > 20_000
    # The sidecars hold one descriptor per face and are reused, not recomputed.
    sidecar = root / "shot" / SIDECAR
    before = os.stat(sidecar).st_mtime_ns
    assert len(json.loads(sidecar.read_text())["faces"]) == len(shot.frames)
    assert main(["coverage", "--shot", str(root / "shot"), "--faceset",
                 f"astro={root / 'narrow'}", "--report", report, "--no-picture"]) == 1
    assert os.stat(sidecar).st_mtime_ns == before


def test_a_re_extracted_frame_is_measured_again(data, tmp_path):
    root, _, _ = data
    copy = tmp_path / "shot"
    shutil.copytree(root / "shot", copy)
    shot_descriptors(str(copy))
    doc = json.loads((copy / "alignments.json").read_text())
    first = doc["frames"]["1005"][0]
    doc["frames"]["1005"] = doc["frames"]["1002"]  # frame 1005 now holds 1002's neutral face
    (copy / "alignments.json").write_text(json.dumps(doc))
    before = json.loads((copy / SIDECAR).read_text())["faces"]
    got = {f.frame: f.descriptor for f in shot_descriptors(str(copy))}
    after = json.loads((copy / SIDECAR).read_text())["faces"]
    assert [k for k in before if before[k] != after[k]] == ["1005/0"]
    assert got[1005].mouth_open < before["1005/0"]["mouth_open"] - 0.15
    assert first["landmarks"] != doc["frames"]["1005"][0]["landmarks"]


def test_a_full_face_set_covers_the_shot(data, capsys):
    root, _, _ = data
    code = main(["coverage", "--shot", str(root / "shot"), "--faceset",
                 f"astro={root / 'full'}", "--json", "--no-picture"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["covered"]
    assert result["identities"]["astro"]["gaps"] == []
    assert result["identities"]["astro"]["covered"] == 12


def test_flips_count_unless_training_does_not_flip(data, capsys):
    """A set holding only faces turned one way covers the other way through flips (the flip
    also moves the key light to the other side: light is left out here)."""
    root, _, _ = data
    right = make_posed_shot("astronaut", str(root / "right_plate"),
                            [{"yaw": y} for y in (18, 22, 26)], face_px=150)
    _extract(right.pattern, str(root / "right_shot"))
    left = make_posed_shot("astronaut", str(root / "left_plate"),
                           [{"yaw": -y} for y in (18, 22, 26)], face_px=170)
    _extract(left.pattern, str(root / "left_faces"), str(root / "left"))
    args = ["coverage", "--shot", str(root / "right_shot"), "--faceset", f"a={root / 'left'}",
            "--no-picture", "--json", "--light-step", "100"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args + ["--no-mirror"]) == 1
    reason = json.loads(capsys.readouterr().out)["identities"]["a"]["gaps"][0]["reason"]
    assert "turned right more than" in reason


def test_curation_spreads_the_pick_and_drops_duplicates(data, tmp_path, capsys):
    root, _, _ = data
    full = load_faceset(str(root / "full"))
    descs = faceset_descriptors(full)
    pick = balanced(descs, 3)
    assert len(pick) == 3
    assert any(descs[i].mouth_open > 0.3 for i in pick)  # the open mouths are not left out
    assert any(descs[i].mouth_open < 0.2 for i in pick)
    assert without_duplicates(descs + descs[:4]) == without_duplicates(descs)
    out = str(tmp_path / "picked")
    assert main(["coverage", "--faceset", f"astro={root / 'full'}", "--select", "5",
                 "--out", out]) == 0
    picked = load_faceset(out)
    assert len(picked) == 5 and picked.size == full.size
    assert os.path.isfile(os.path.join(out, SIDECAR))
    assert main(["coverage", "--faceset", f"astro={root / 'full'}", "--select", "5",
                 "--out", out]) == 2
    assert "already holds a face set" in capsys.readouterr().err


def test_train_reports_coverage_first_and_can_refuse(data, tmp_path, capsys):
    root, _, _ = data
    args = ["train", "--faceset", f"a={root / 'narrow'}", "--faceset", f"b={root / 'up_open'}",
            "-m", str(tmp_path / "model"), "--consent", "same person, public-domain sample",
            "--shot", str(root / "shot"), "--preset", "demo", "--steps", "1",
            "--preview-every", "0"]
    assert main(args + ["--require-coverage"]) == 2
    err = capsys.readouterr().err
    assert "no face of a looking up more than" in err and "do not cover" in err
    assert not os.path.exists(tmp_path / "model" / "model.safetensors")
    assert main(args) == 0
    assert "coverage of shot" in capsys.readouterr().err
    assert os.path.isfile(tmp_path / "model" / "model.safetensors")


def test_describe_handles_any_crop_size():
    crop = np.full((256, 256, 3), 0.5, np.float32)
    lm = MEAN_FACE * 160 + 48
    a = describe(lm, crop, lm)
    b = describe(lm / 2, crop[::2, ::2], lm / 2 - 0.25)
    assert a.exposure == pytest.approx(b.exposure, abs=0.01)
    assert a.yaw == pytest.approx(b.yaw, abs=0.5)


def test_a_shot_or_faceset_that_is_missing_is_a_clear_error(tmp_path, capsys):
    assert main(["coverage", "--shot", str(tmp_path), "--faceset", f"a={tmp_path}"]) == 2
    assert "not a face set" in capsys.readouterr().err
