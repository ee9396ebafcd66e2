"""The artist's fix comes back: moved landmarks land in alignments.json for exactly those frames
(matrix recomputed by face.align, fixed keys kept, neighbours blended), and convert re-renders
only the frames whose alignment changed. Real files, the real CLI and convert pipeline."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from faceplate.cli import main
from faceplate.extract import alignments as alignments_io
from faceplate.extract.smooth import FIX_SIGMA
from faceplate.face.align import alignment_matrix
from faceplate.samples import make_shot, write_true_alignments

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke_standin"))
sys.path.insert(0, os.path.dirname(__file__))
from engine_helpers import face_chain, sample_and_model
from session import PLUGIN  # the stand-in Nuke's plug-in path, where faceplate_nuke is

if PLUGIN not in sys.path:
    sys.path.insert(0, PLUGIN)

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
    """Without temporal smoothing exactly the changed frames and their neighbours re-render
    (a face's motion blur and vectors come from the frames either side); with it (the default)
    also the frames within its reach, whose smoothed colour and matte weigh the changed ones."""
    from faceplate.convert.pipeline import convert_shot
    from faceplate.convert.settings import MergeSettings
    from faceplate.convert.swap import PassthroughModel
    from faceplate.convert.temporal import reach

    shot = _shot(sample, tmp_path / "shot")
    plate = sample.pattern
    outs = {name: str(tmp_path / name / "o.####.exr") for name in ("still", "steady")}
    settings = {"still": MergeSettings(temporal=0.0), "steady": MergeSettings()}
    for name, out in outs.items():
        first = convert_shot(plate, shot, PassthroughModel(64), "plate", out,
                             settings=settings[name])
        assert first.count("swapped") == FRAMES
    lm = np.asarray(_frames_json(shot)[str(FIXED)][0]["landmarks"])
    fixes = tmp_path / "fixes.json"
    fixes.write_text(json.dumps({"schema": "faceplate.fixes", "version": 1, "frames": {
        str(FIXED): [{"track": 0, "points": {"33": [round(lm[33, 0] + 4, 3),
                                                    round(lm[33, 1], 3)]}}]}}))
    assert main(["alignments", shot, "--import-points", str(fixes), "--json"]) == 0
    changed = json.loads(capsys.readouterr().out)["changed_frames"]
    frames = sorted(int(f) for f in _frames_json(shot))
    near = max(reach(MergeSettings().temporal), 1)
    expected = {"still": [f for f in frames if any(abs(f - c) <= 1 for c in changed)],
                "steady": [f for f in frames if any(abs(f - c) <= near for c in changed)]}
    for name, out in outs.items():
        again = convert_shot(plate, shot, PassthroughModel(64), "plate", out,
                             settings=settings[name])
        redone = sorted(f.frame for f in again.frames if f.status == "swapped")
        assert redone == expected[name] and FIXED in redone, name
        assert again.count("skipped") == FRAMES - len(redone), name


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


# -- the same round trip through (stand-in) Nuke and a real engine -------------------------

NUKE_FIRST, NUKE_FRAMES, NUKE_FIXED = 1001, 14, 1007


@pytest.fixture(scope="module")
def nuke_shot(tmp_path_factory):
    return sample_and_model(tmp_path_factory.mktemp("nukeshot"), frames=NUKE_FRAMES,
                            first=NUKE_FIRST)


def _graph(sample, model, socket, cache):
    from session import start

    nuke = start()
    nodes = face_chain(nuke, sample, model, cache, socket)
    nodes["FaceAlign"]["smoothing"].setValue(0.5)
    return nuke, nodes


def _stamps(run, stage):
    cache = run.cache(stage)
    return {f: os.stat(cache.sidecar(f)).st_mtime_ns for f in run.bounds}


def _nuke_alignments(run) -> dict:
    with open(run.write_alignments(run.cache("align"))) as fh:
        return json.load(fh)


def test_a_moved_roto_comes_back_into_only_those_frames(nuke_shot, engine_socket, tmp_path):
    from faceplate_nuke import actions
    from faceplate_nuke.errors import NodeError
    from faceplate_nuke.stages import Run

    sample, model = nuke_shot
    nuke, nodes = _graph(sample, model, engine_socket, str(tmp_path / "cache"))
    align, merge = nodes["FaceAlign"], nodes["FaceMerge"]
    actions.process(merge)
    run = Run(merge)
    before = _nuke_alignments(run)
    assert all(len(before["frames"][str(f)]) == 1 for f in run.bounds), "dlib missed the face"
    stamps = {s: _stamps(run, s) for s in ("detect", "swap", "merge")}

    roto_node = actions.export_roto(align)
    assert align["fix_source"].value() == roto_node.name()
    height = before["size"][1]
    jaw = roto_node["curves"].toElement("face0/jaw")
    view = nuke.views()[0]
    moved = {}
    for i in range(5, 12):  # the artist drags the chin 6 px right and 4 px down
        at = jaw[i].center.getPosition(NUKE_FIXED)
        jaw[i].center.addPositionKey(NUKE_FIXED, (at.x + 6.0, at.y - 4.0), view)
        moved[i] = (at.x + 6.0, height - (at.y - 4.0))
    fixes = actions.import_fix(align)
    assert [(f["frame"], f["track"], sorted(map(int, f["points"]))) for f in fixes] == \
        [(NUKE_FIXED, 0, list(range(5, 12)))]

    run = Run(merge)
    after = _nuke_alignments(run)
    face = after["frames"][str(NUKE_FIXED)][0]
    new, old = np.asarray(face["landmarks"]), np.asarray(
        before["frames"][str(NUKE_FIXED)][0]["landmarks"])
    assert face["fixed"] is True
    for i, xy in moved.items():
        np.testing.assert_allclose(new[i], xy, atol=1e-3)
    others = [i for i in range(68) if i not in moved]
    np.testing.assert_allclose(new[others], old[others], atol=1e-3)
    np.testing.assert_allclose(face["matrix"], alignment_matrix(new, "whole_face"), atol=1e-9)
    changed = {f for f in run.bounds if after["frames"][str(f)] != before["frames"][str(f)]}
    assert NUKE_FIXED in changed and changed <= set(range(NUKE_FIXED - REACH,
                                                          NUKE_FIXED + REACH + 1))
    assert len(changed) < len(run.bounds)

    # Process redoes swap on the changed frames only, merge on them and their neighbours (a
    # face's motion blur and vectors come from the frames either side); detection is untouched
    actions.process(merge)
    run = Run(merge)
    assert _stamps(run, "detect") == stamps["detect"]
    near = {g for f in changed for g in (f - 1, f, f + 1) if g in run.bounds}
    for stage, expected in (("swap", changed), ("merge", near)):
        now = _stamps(run, stage)
        assert {f for f in now if now[f] != stamps[stage][f]} == expected, stage

    # the Roto was re-keyed to the blended alignments: nothing is left to import
    neighbour = np.asarray(after["frames"][str(NUKE_FIXED + 1)][0]["landmarks"])
    at = roto_node["curves"].toElement("face0/jaw")[8].center.getPosition(NUKE_FIXED + 1)
    np.testing.assert_allclose((at.x, height - at.y), neighbour[8], atol=1e-6)
    with pytest.raises(NodeError, match="no point of"):
        actions.import_fix(align)

    # a re-align (another smoothing) keeps the fix: it is kept with the script's knobs
    align["smoothing"].setValue(0.4)
    actions.process(align)
    again = _nuke_alignments(Run(merge))["frames"][str(NUKE_FIXED)][0]
    np.testing.assert_allclose(np.asarray(again["landmarks"])[8], moved[8], atol=1e-3)

    # a Tracker moves the whole face by the similarity of its five points
    align["smoothing"].setValue(0.5)
    tracker = actions.export_tracker(align)
    table = tracker["tracks"]
    frame = NUKE_FIXED + 4
    for t in range(5):
        for column, shift in ((2, 3.0), (3, -2.0)):  # 3 px right, 2 px down (y up in Nuke)
            table.setValueAt(table.getValueAt(frame, t * 31 + column) + shift, frame,
                             t * 31 + column)
    (fix,) = actions.import_fix(align)
    assert fix["rigid"] is True and fix["frame"] == frame
    shifted = _nuke_alignments(Run(merge))
    delta = np.asarray(shifted["frames"][str(frame)][0]["landmarks"]) - np.asarray(
        after["frames"][str(frame)][0]["landmarks"])
    np.testing.assert_allclose(delta, np.tile([3.0, 2.0], (68, 1)), atol=1e-2)


def test_review_knobs_do_what_the_cli_does(nuke_shot, engine_socket, tmp_path, capsys):
    import shutil

    from faceplate_nuke import actions
    from faceplate_nuke.stages import Run

    sample, model = nuke_shot
    _, nodes = _graph(sample, model, engine_socket, str(tmp_path / "cache"))
    align = nodes["FaceAlign"]
    actions.process(align)
    run = Run(align)
    start = run.write_alignments(run.cache("align"))
    cli = tmp_path / "cli"
    cli.mkdir()
    shutil.copy(start, cli / "alignments.json")

    align["review_track"].setValue(0)
    align["review_frames"].setValue("1003-1004")
    actions.drop_frames(align)
    actions.hold_track(align)
    assert main(["alignments", str(cli), "--drop-frames", "0:1003-1004", "--hold", "0"]) == 0
    nuke_result = alignments_io.load(Run(align).write_alignments(Run(align).cache("align")))
    cli_result = alignments_io.load(str(cli))
    for ours, theirs in ((nuke_result.frames, cli_result.frames),
                         (nuke_result.held_back, cli_result.held_back)):
        assert sorted(ours) == sorted(theirs)
        for f in ours:
            assert [r.track for r in ours[f]] == [r.track for r in theirs[f]]
            for a, b in zip(ours[f], theirs[f]):
                np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-3)
    assert nuke_result.track_info == cli_result.track_info
    assert not any(nuke_result.frames.values()) and 1003 not in nuke_result.held_back

    actions.restore_track(align)
    restored = _nuke_alignments(Run(align))
    assert [int(f) for f, v in restored["frames"].items() if not v] == [1003, 1004]
    assert align["node_status"].value().endswith(f"on {NUKE_FRAMES} frames")

    read = actions.write_sheet(align)
    assert os.path.isfile(read["file"].value()) and read["file"].value().endswith(".png")

    actions.clear_edits(align)
    assert all(_nuke_alignments(Run(align))["frames"][str(f)] for f in Run(align).bounds)


def test_edit_alignments_refuses_bad_edits_and_keeps_the_file(sample, running, tmp_path):
    from faceplate_client.protocol import EngineError

    shot = _shot(sample, tmp_path / "shot")
    path = alignments_io.path_for(shot)
    before = Path(path).read_text()
    client = running[0]
    bad = {
        "unknown edit": [{"action": "explode"}],
        "no track 7": [{"action": "drop_track", "track": 7}],
        "non-empty list 'fixes'": [{"action": "fix", "fixes": []}],
        "point 99": [{"action": "fix", "fixes": [{"frame": FIXED, "track": 0,
                                                   "points": {"99": [1.0, 2.0]}}]}],
        "mistypes": [{"action": "merge", "keep": "0", "other": 1}],
    }
    for message, edits in bad.items():
        with pytest.raises(EngineError, match=message):
            client.call("edit_alignments", {"path": path, "edits": edits})
    with pytest.raises(EngineError, match="absolute path"):
        client.call("edit_alignments", {"path": "shot/alignments.json", "edits": []})
    with pytest.raises(EngineError, match="is not an alignments.json"):
        client.call("edit_alignments", {"path": str(tmp_path / "x.json"), "edits": []})
    assert Path(path).read_text() == before
    reply = client.call("edit_alignments", {"path": shot, "edits": [
        {"action": "drop_frames", "track": 0, "frames": [FIXED]}]})
    assert reply.params["changed"] == [FIXED]
    assert alignments_io.load(shot).faces(FIXED) == []
