"""The artist's fix comes back: moved landmarks land in alignments.json for exactly those frames
(matrix recomputed by face.align, fixed keys kept, neighbours blended), and convert re-renders
only the frames whose alignment changed. Real files, the real CLI and convert pipeline."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from faceplate.cli import main
from faceplate.extract import alignments as alignments_io
from faceplate.extract.smooth import FIX_SIGMA
from faceplate.face.align import alignment_matrix
from faceplate.samples import make_shot, write_true_alignments

FIRST, FRAMES = 1001, 20
FIXED = 1010
REACH = int(np.ceil(3 * FIX_SIGMA * 0.5))  # frames a fix reaches at smoothing 0.5


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("sh020")
    return make_shot("astronaut", str(root / "plate"), frames=FRAMES, first=FIRST,
                     size=(320, 240), face_px=90.0)


def _shot(sample, folder) -> str:
    shot = str(folder)
    write_true_alignments(sample, shot)
    result = alignments_io.load(shot)
    result.smoothing = 0.5
    alignments_io.save(result, shot, merge=False)
    return shot


def _frames_json(shot: str) -> dict:
    with open(alignments_io.path_for(shot)) as fh:
        return json.load(fh)["frames"]


def test_imported_points_replace_those_frames_only(sample, tmp_path, capsys):
    shot = _shot(sample, tmp_path / "shot")
    before = _frames_json(shot)
    old = np.asarray(before[str(FIXED)][0]["landmarks"])
    jaw = {str(i): [round(float(old[i, 0]) + 6.0, 3), round(float(old[i, 1]) + 4.5, 3)]
           for i in range(5, 12)}
    height = sample.size[1]
    nose_up = {"30": [round(float(old[30, 0]), 3), round(height - float(old[30, 1]) + 3.0, 3)]}
    fixes = tmp_path / "fixes.json"
    fixes.write_text(json.dumps({"schema": "faceplate.fixes", "version": 1,
                                 "frames": {str(FIXED): [{"track": 0, "points": jaw}]}}))
    nuke_fix = tmp_path / "nuke_fix.json"  # the same frame's nose tip, in Nuke's y-up terms
    nuke_fix.write_text(json.dumps({"schema": "faceplate.fixes", "version": 1,
                                    "coordinates": "nuke",
                                    "frames": {str(FIXED): [{"track": 0, "points": nose_up}]}}))
    assert main(["alignments", shot, "--import-points", str(fixes), "--import-points",
                 str(nuke_fix), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    after = _frames_json(shot)
    fixed = after[str(FIXED)][0]
    new = np.asarray(fixed["landmarks"])
    assert fixed["fixed"] is True
    for key, xy in jaw.items():
        assert new[int(key)].tolist() == xy  # the artist's points, exactly
    assert np.isclose(new[30, 1], old[30, 1] - 3.0)  # y up 3 px in Nuke = 3 px up the image
    untouched = [i for i in range(68) if str(i) not in jaw and i != 30]
    assert np.array_equal(new[untouched], old[untouched])
    np.testing.assert_allclose(fixed["matrix"], alignment_matrix(new, "whole_face"), atol=1e-12)
    near = {f for f in range(FIXED - REACH, FIXED + REACH + 1)}
    for f in range(FIRST, FIRST + FRAMES):
        if f not in near:
            assert after[str(f)] == before[str(f)], f  # bit-identical
    # neighbours move toward the fix, less the further they are
    shift = [np.asarray(after[str(FIXED + d)][0]["landmarks"])[8, 0]
             - np.asarray(before[str(FIXED + d)][0]["landmarks"])[8, 0] for d in (0, 1, 3)]
    assert shift[0] == pytest.approx(6.0, abs=1e-3) and 6.0 > shift[1] > shift[2] > 0.0
    changed = report["changed_frames"]
    assert FIXED in changed and set(changed) <= near and len(changed) > 1
    for f in changed:  # each changed frame's matrix is face.align's for its new landmarks
        face = after[str(f)][0]
        np.testing.assert_allclose(face["matrix"], alignment_matrix(
            np.asarray(face["landmarks"]), "whole_face"), atol=1e-12)

    # a second fix nearby blends without moving the first one
    second = FIXED + 2
    lm = np.asarray(after[str(second)][0]["landmarks"])
    fixes.write_text(json.dumps({"schema": "faceplate.fixes", "version": 1, "frames": {
        str(second): [{"track": 0, "landmarks": np.round(lm - [0, 5.0], 3).tolist()}]}}))
    assert main(["alignments", shot, "--import-points", str(fixes)]) == 0
    again = _frames_json(shot)
    assert again[str(FIXED)] == after[str(FIXED)]
    assert again[str(second)][0]["fixed"] is True
    assert "frame(s) changed" in capsys.readouterr().out


def test_convert_rerenders_only_the_changed_frames(sample, tmp_path, capsys):
    from faceplate.convert.pipeline import convert_shot
    from faceplate.convert.swap import PassthroughModel

    shot = _shot(sample, tmp_path / "shot")
    out = str(tmp_path / "out" / "o.####.exr")
    plate = sample.pattern
    first = convert_shot(plate, shot, PassthroughModel(64), "plate", out)
    assert first.count("swapped") == FRAMES
    lm = np.asarray(_frames_json(shot)[str(FIXED)][0]["landmarks"])
    fixes = tmp_path / "fixes.json"
    fixes.write_text(json.dumps({"schema": "faceplate.fixes", "version": 1, "frames": {
        str(FIXED): [{"track": 0, "points": {"33": [round(lm[33, 0] + 4, 3),
                                                    round(lm[33, 1], 3)]}}]}}))
    assert main(["alignments", shot, "--import-points", str(fixes), "--json"]) == 0
    changed = json.loads(capsys.readouterr().out)["changed_frames"]
    again = convert_shot(plate, shot, PassthroughModel(64), "plate", out)
    redone = sorted(f.frame for f in again.frames if f.status == "swapped")
    assert redone == changed and FIXED in redone
    assert again.count("skipped") == FRAMES - len(changed)


def test_bad_fixes_are_refused_with_a_reason(sample, tmp_path, capsys):
    shot = _shot(sample, tmp_path / "shot")
    before = Path(alignments_io.path_for(shot)).read_text()
    cases = {
        "no face of track 4": {"frames": {str(FIXED): [{"track": 4, "points": {"8": [1, 2]}}]}},
        "point 70": {"frames": {str(FIXED): [{"track": 0, "points": {"70": [1, 2]}}]}},
        "moves no point": {"frames": {str(FIXED): [{"track": 0, "points": {}}]}},
    }
    for message, body in cases.items():
        path = tmp_path / "bad.json"
        path.write_text(json.dumps({"schema": "faceplate.fixes", "version": 1, **body}))
        assert main(["alignments", shot, "--import-points", str(path)]) == 2
        assert message in capsys.readouterr().err
    (tmp_path / "other.json").write_text(json.dumps({"schema": "faceplate.alignments"}))
    assert main(["alignments", shot, "--import-points", str(tmp_path / "other.json")]) == 2
    assert Path(alignments_io.path_for(shot)).read_text() == before  # nothing half-applied
    assert os.listdir(shot) == ["alignments.json"]
