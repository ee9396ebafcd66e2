"""Extraction finds every face on hard frames: a head turned away when the shot opens, a
camera flash, a dissolve between two people's shots and a hard cut. Real faces (the bundled
photos), the real detectors; nothing is mocked."""

import cv2
import numpy as np
import pytest
from faceplate.extract import alignments
from faceplate.extract.backends.base import Detection
from faceplate.extract.backends.dlib_backend import DlibBackend, DlibCnnDetector
from faceplate.extract.cuts import find_cuts, signature
from faceplate.extract.pipeline import extract_shot
from faceplate.extract.resolve import BRIDGED_TRUST, Found, resolve
from faceplate.extract.select import Selection
from faceplate.extract.smooth import smooth_track
from faceplate.io.images import read_image
from faceplate.samples import (
    TURN_AWAY_YAWS,
    make_dissolve_shot,
    make_flash_shot,
    make_turn_away_shot,
    source_landmarks,
)


@pytest.fixture(scope="module")
def detectors():
    return DlibBackend(), DlibCnnDetector()


def _inside(box, point) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def test_a_head_turned_away_when_the_shot_opens_is_found_from_its_first_visible_frame(
        detectors, tmp_path):
    """The CNN's whole-frame search misses her on frame 1 (72°) and is not run again until
    frame 6; HOG sees her only from 48°. Tracking back from frame 6 finds 5 and 4 (64°, where
    dlib's CNN sees a face on the whole frame; beyond it sees none)."""
    backend, verifier = detectors
    shot = make_turn_away_shot(str(tmp_path / "plate"))
    summary = extract_shot(shot.pattern, str(tmp_path / "shot"), backend=backend,
                           verifier=verifier, preview=False)
    result = alignments.load(str(tmp_path / "shot"))
    visible = [f for f, yaw in zip(shot.frames, TURN_AWAY_YAWS) if yaw <= 64]
    assert all(result.faces(f) for f in visible), summary.report()
    assert summary.tracked_back >= 2 and len(result.tracks()) == 1 and not result.held_back


def test_a_flash_frame_is_bridged_not_dropped_and_is_no_cut(detectors, tmp_path):
    backend, verifier = detectors
    shot = make_flash_shot(str(tmp_path / "plate"))  # the flash is on frame 12
    summary = extract_shot(shot.pattern, str(tmp_path / "shot"), backend=backend,
                           verifier=verifier, preview=False)
    result = alignments.load(str(tmp_path / "shot"))
    assert summary.cuts == [] and summary.no_face == [], summary.report()
    assert len(result.tracks()) == 1 and summary.bridged == 1
    flashed, before, after = (result.faces(f)[0] for f in (12, 11, 13))
    assert flashed.bridged and not before.bridged and not after.bridged
    assert flashed.confidence <= BRIDGED_TRUST * min(before.confidence, after.confidence) + 1e-3
    assert result.track_info[flashed.track].confidence > 0.9  # not pulled down by the bridge
    # where the face really is: between its neighbours, on the shot's true path
    truth = shot.to_plate(12, source_landmarks("astronaut")).mean(axis=0)
    assert np.linalg.norm(flashed.landmarks.mean(axis=0) - truth) < 15
    # the mark survives the file and a review edit
    again = alignments.Alignments.from_json(result.to_json())
    assert again.faces(12)[0].bridged and not again.faces(11)[0].bridged


def test_a_dissolve_keeps_each_person_one_id_and_a_hard_cut_splits_tracks(detectors,
                                                                          tmp_path):
    backend, verifier = detectors
    edit = make_dissolve_shot(str(tmp_path / "plate"))
    summary = extract_shot(edit.pattern.replace("%04d", "####"), str(tmp_path / "shot"),
                           backend=backend, verifier=verifier, preview=False)
    result = alignments.load(str(tmp_path / "shot"))
    assert summary.cuts == edit.cuts, summary.report()  # the dissolve is no cut
    ids: dict[str, set[int]] = {}
    for f in edit.frames:
        faces = result.faces(f)
        assert faces, f"frame {f}: no face"
        for r in faces:  # every kept face is a real one, and whose
            who = [n for n, _, b in edit.faces[f] if _inside(b, r.landmarks.mean(axis=0))]
            assert who, f"frame {f}: a non-face kept at {r.bbox}"
            ids.setdefault(who[0], set()).add(r.track)
        for name, opacity, box in edit.faces[f]:  # each face at half opacity or more
            if opacity >= 0.5:
                assert any(_inside(box, r.landmarks.mean(axis=0)) for r in faces), (f, name)
    assert len(ids["astronaut"]) == 1 and len(ids["grace_hopper"]) == 1
    assert ids["astronaut"] != ids["grace_hopper"]
    # no track runs across the hard cut by overlap: the astronaut after it is re-identified,
    # and nothing is smoothed across it
    last, first = edit.cuts[0] - 1, edit.cuts[0]
    assert {r.track for r in result.faces(last)} == ids["grace_hopper"]
    assert {r.track for r in result.faces(first)} == ids["astronaut"]


@pytest.mark.parametrize("dissolve", [1, 2, 6])
def test_the_cut_detector_tells_a_dissolve_and_a_flash_from_a_hard_cut(tmp_path, dissolve):
    edit = make_dissolve_shot(str(tmp_path / "edit"), dissolve=dissolve)
    flashed = make_flash_shot(str(tmp_path / "flash"), frames=6, flash_at=(3,))

    def cuts(pattern, frames):
        sigs = {f: signature(cv2.resize(read_image(pattern % f).rgb(), (64, 36),
                                        interpolation=cv2.INTER_AREA)) for f in frames}
        return find_cuts(sigs, {f: (1, 1) for f in frames}, 0.5)

    assert cuts(edit.pattern, edit.frames) == edit.cuts
    assert cuts(flashed.pattern, flashed.frames) == []


def _face(x: float, confidence: float = 0.9) -> Detection:
    landmarks = source_landmarks("astronaut") - source_landmarks("astronaut").mean(axis=0) \
        + (x, 200.0)
    return Detection((x - 50, 150, x + 50, 250), 0.9, landmarks, confidence)


def test_bridging_fills_one_or_two_missed_frames_within_a_shot_only():
    """Frames 1–10 hold a face moving 10 px a frame; the track misses 4 (one frame), 7–8
    (two) and, after a cut at 10, frames 11–13 are empty (too long a gap, and a cut)."""
    found = {f: [Found(d := _face(100 + 10 * f), 0, d.landmarks)]
             for f in range(1, 11) if f not in (4, 7, 8)}
    found.update({f: [] for f in (4, 7, 8, 11, 12, 13)})
    found[14] = [Found(d := _face(240), 0, d.landmarks)]
    resolved = resolve(found, [10], face_type="whole_face", smoothing=0.5,
                       selection=Selection.parse("all"), min_confidence=0.5)
    assert resolved.bridged == 3
    assert [f for f, v in resolved.frames.items() if any(r.bridged for r in v)] == [4, 7, 8]
    assert all(not resolved.frames[f] for f in (11, 12, 13))
    bridged = resolved.frames[4][0]
    assert bridged.confidence == pytest.approx(BRIDGED_TRUST * 0.9)
    assert abs((bridged.bbox[0] + bridged.bbox[2]) / 2 - 140) < 1e-6
    assert resolved.tracks[0].confidence == pytest.approx(0.9)  # measured faces only
    assert resolved.tracks[0].frames == 11


def test_the_smoother_carries_an_untrusted_frame_from_its_neighbours():
    """A profile frame whose landmarks the model guessed (shifted 30 px) and that the trust
    weighs little ends up where the track's good frames put it."""
    frames = list(range(1, 12))
    base = source_landmarks("astronaut")
    pts = np.stack([base + (5.0 * f, 0.0) for f in frames])
    pts[5] += (30.0, -20.0)
    weights = np.ones(len(frames))
    weights[5] = 0.05
    carried = smooth_track(frames, pts, 0.5, weights=weights)
    plain = smooth_track(frames, pts, 0.5)
    truth = base + (5.0 * frames[5], 0.0)
    assert np.abs(carried[5] - truth).max() < 3.0 < np.abs(plain[5] - truth).max()
