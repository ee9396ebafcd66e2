"""Extraction on moving shots of real faces, checked against exactly known ground truth.

Ground truth: dlib's landmarks on the pristine photo, carried into each frame by the shot's
known source → plate matrix. Errors are normalised by the inter-ocular distance (NME).
"""

import json
import os
import shutil

import cv2
import numpy as np
import OpenImageIO as oiio
import pytest
from faceplate.cli import main
from faceplate.errors import ExitCode
from faceplate.extract import alignments
from faceplate.extract.backends.dlib_backend import DlibBackend
from faceplate.extract.faceset import METADATA_KEY, load_faceset
from faceplate.extract.pipeline import extract_shot
from faceplate.extract.smooth import interocular
from faceplate.face.align import alignment_matrix, mean_face
from faceplate.io.colour import NETWORK_SPACE, ColourSpaces
from faceplate.io.images import read_image, write_image
from faceplate.samples import SOURCES, make_shot, source_image

FRAMES = 12


@pytest.fixture(scope="module")
def backend():
    return DlibBackend()


@pytest.fixture(scope="module")
def shots(tmp_path_factory, backend):
    """Per source: the shot, its extraction summary and ground-truth landmarks per frame."""
    root = tmp_path_factory.mktemp("shots")
    out = {}
    for name in ("astronaut", "grace_hopper"):
        shot = make_shot(name, str(root / name / "plate"), frames=FRAMES)
        still = backend.detect(source_image(name))[0].landmarks
        summary = extract_shot(shot.pattern, str(root / name / "faces"), backend=backend)
        truth = {f: shot.to_plate(f, still) for f in shot.frames}
        out[name] = (shot, summary, truth)
    return out


def _matching_face(faces, truth):
    """The record for the real face (sample plates also hold mirrored copies at the borders)."""
    return min(faces, key=lambda r: np.linalg.norm(r.landmarks.mean(axis=0) - truth.mean(axis=0)))


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_landmarks_follow_the_moving_face(shots, name):
    shot, summary, truth = shots[name]
    assert summary.exit_code == 0 and summary.backend == "dlib"
    result = alignments.load(summary.shot_dir)
    nme = []
    for frame in shot.frames:
        face = _matching_face(result.faces(frame), truth[frame])
        nme.append(np.linalg.norm(face.landmarks - truth[frame], axis=1).mean()
                   / interocular(truth[frame]))
    print(f"{name}: NME mean {np.mean(nme):.4f} max {np.max(nme):.4f} over {len(nme)} frames, "
          f"jitter {summary.jitter_raw:.4f} -> {summary.jitter_smoothed:.4f}")
    assert np.mean(nme) < 0.07 and np.max(nme) < 0.12
    # The real face keeps one track through the shot.
    tracks = {_matching_face(result.faces(f), truth[f]).track for f in shot.frames}
    assert len(tracks) == 1
    # And there is a picture to look at.
    sheet = read_image(summary.preview)
    assert summary.preview.endswith("preview.png") and sheet.width > 4 * 100


def test_alignments_file_round_trips_and_matches_its_landmarks(shots):
    _, summary, _ = shots["astronaut"]
    with open(summary.alignments_path) as fh:
        on_disk = json.load(fh)
    loaded = alignments.load(summary.shot_dir)
    assert loaded.to_json() == on_disk
    assert on_disk["schema"] == "faceplate.alignments" and on_disk["version"] == 1
    assert loaded.colourspace == "ACEScg" and loaded.size == (960, 540)
    for faces in loaded.frames.values():
        for face in faces:
            np.testing.assert_allclose(face.matrix,
                                       alignment_matrix(face.landmarks, loaded.face_type),
                                       rtol=1e-4, atol=1e-5)  # landmarks stored to 1/1000 px


def test_rerun_of_a_frame_range_updates_only_those_frames(shots, tmp_path, backend):
    shot, summary, _ = shots["astronaut"]
    shot_dir = str(tmp_path / "faces")
    shutil.copytree(summary.shot_dir, shot_dir)
    before = alignments.load(shot_dir).to_json()["frames"]
    rerun = extract_shot(shot.pattern, shot_dir, frames="1003-1004", backend=backend,
                         smoothing=0.0, preview=False)
    assert rerun.frames == [1003, 1004]
    after = alignments.load(shot_dir).to_json()["frames"]
    assert sorted(after) == sorted(before)
    changed = {k for k in before if before[k] != after[k]}
    assert changed and changed <= {"1003", "1004"}
    assert not [p for p in os.listdir(shot_dir) if p.endswith(".tmp")]


def test_faceset_holds_aligned_crops_that_say_where_they_came_from(shots, tmp_path, backend):
    shot, _, _ = shots["grace_hopper"]
    root = str(tmp_path / "set")
    extract_shot(shot.pattern, str(tmp_path / "faces"), frames="1001-1003", backend=backend,
                 select="index:0", faceset_dir=root, faceset_size=128, preview=False)
    fs = load_faceset(root)
    assert (fs.face_type, fs.size, len(fs)) == ("whole_face", 128, 3)
    image = fs.image(0)
    assert image.shape == (128, 128, 3) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    # Aligned: every crop's landmarks sit close to the mean face.
    for entry in fs.entries:
        offset = np.linalg.norm(entry.landmarks - mean_face("whole_face") * 128, axis=1).mean()
        assert offset < 0.05 * 128
    spec = oiio.ImageInput.open(fs.path(0))
    meta = json.loads(spec.spec().getattribute(METADATA_KEY))
    spec.close()
    assert meta["frame"] == fs.entries[0].frame and meta["source"].endswith("plate.%04d.exr")
    # Re-running the same frames replaces those crops instead of adding more.
    extract_shot(shot.pattern, str(tmp_path / "faces"), frames="1002-1003", backend=backend,
                 select="index:0", faceset_dir=root, faceset_size=128, preview=False)
    assert len(load_faceset(root)) == 3


def _frame(face_px, size=(640, 360)):
    """A frame holding Grace Hopper's face about ``face_px`` wide in its centre, on black."""
    src = SOURCES["grace_hopper"]
    s = face_px / src["face_width"]
    cx, cy = src["centre"]
    m = np.array([[s, 0, size[0] / 2 - s * cx], [0, s, size[1] / 2 - s * cy]])
    return cv2.warpAffine(source_image("grace_hopper"), m, size, flags=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def troubled_plate(tmp_path_factory):
    """Frames 1–7: good, unreadable, NaN pixels, no face, small face, depth only, good."""
    root = tmp_path_factory.mktemp("troubled")
    good = _frame(150)
    path = str(root / "plate.%04d.exr")
    write_image(path % 1, good, ["R", "G", "B"])
    (root / "plate.0002.exr").write_bytes(b"\x76\x2f\x31\x01 truncated by a failed copy")
    nan = good.copy()
    nan[:20, :40] = np.nan
    write_image(path % 3, nan, ["R", "G", "B"], pixel_type="float")
    from skimage import data

    write_image(path % 4, cv2.resize(data.coffee().astype(np.float32) / 255, (640, 360)),
                ["R", "G", "B"])
    write_image(path % 5, _frame(100), ["R", "G", "B"])
    write_image(path % 6, good[..., :1], ["Z"])
    write_image(path % 7, good, ["R", "G", "B"])
    return path


def test_bad_frames_are_reported_and_the_shot_continues(troubled_plate, tmp_path, backend):
    summary = extract_shot(troubled_plate, str(tmp_path / "faces"), backend=backend,
                           colourspace=NETWORK_SPACE, min_face=120, preview=False)
    print(summary.report())
    assert summary.exit_code == ExitCode.FRAMES_SKIPPED  # frames skipped win over no face
    assert set(summary.errors) == {2, 6}
    assert "cannot read" in summary.errors[2] and "R, G, B" in summary.errors[6]
    assert summary.no_face == [4, 5]
    assert "NaN" in summary.warnings[3][0] and "minimum" in summary.warnings[5][0]
    found = alignments.load(str(tmp_path / "faces")).frames
    assert [f for f in sorted(found) if found[f]] == [1, 3, 7]
    assert 2 not in found  # a failed frame keeps whatever an earlier run found


def test_cli_exit_status_says_whether_every_frame_had_a_face(troubled_plate, tmp_path, capsys):
    common = [troubled_plate, "-o", str(tmp_path / "faces"), "--backend", "dlib",
              "--colourspace", NETWORK_SPACE, "--detect-size", "640", "--min-face", "120",
              "--no-preview"]
    assert main(["extract", *common, "--frames", "1,7"]) == ExitCode.OK == 0
    capsys.readouterr()
    assert main(["extract", *common, "--frames", "1,4", "--json"]) == ExitCode.NO_FACE == 1
    report = json.loads(capsys.readouterr().out)
    assert report["no_face"] == [4] and report["exit_code"] == 1
    assert main(["extract", *common, "--frames", "1-2"]) == ExitCode.FRAMES_SKIPPED == 3
    out, err = capsys.readouterr()
    assert "frame 2: skipped: cannot read" in err and "skipped 1 frame(s)" in out
    assert main(["extract", *common, "--face-type", "whole_face", "--smoothing", "3"]) \
        == ExitCode.COULD_NOT_RUN == 2
    assert "between 0 and 1" in capsys.readouterr().err


def test_video_plates_are_extracted_frame_by_frame(shots, tmp_path, backend):
    """A video (MJPEG here; OpenCV reads what FFmpeg reads) numbered from frame 1."""
    shot, _, truth = shots["astronaut"]
    video = str(tmp_path / "plate.avi")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"MJPG"), 24, shot.size)
    to_display = ColourSpaces(shot.colourspace)
    for frame in shot.frames[:4]:
        rgb = to_display.to_network(read_image(shot.path(frame)).rgb())
        writer.write(np.clip(rgb[..., ::-1] * 255 + 0.5, 0, 255).astype(np.uint8))
    writer.release()
    summary = extract_shot(video, str(tmp_path / "faces"), backend=backend, preview=False)
    assert summary.frames == [1, 2, 3, 4] and summary.exit_code == 0
    result = alignments.load(str(tmp_path / "faces"))
    assert result.colourspace == NETWORK_SPACE  # video is display-referred by default
    for i, frame in enumerate(shot.frames[:4], start=1):
        face = _matching_face(result.faces(i), truth[frame])
        nme = np.linalg.norm(face.landmarks - truth[frame], axis=1).mean() / interocular(
            truth[frame])
        assert nme < 0.08
