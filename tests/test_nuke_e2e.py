"""A compositor's shot through the four nodes, in the stand-in Nuke, with a real engine.

A moving sample plate (ACEScg EXR) goes Read → FaceDetect → FaceAlign → FaceSwap → FaceMerge
→ Write. Process fills the cache through the engine; the Write renders merged EXRs with the
facemask layer and provenance; an edited Roto from FaceAlign feeds FaceMerge's mask; a saved
script opened fresh and rendered like a farm job fills its own cache on demand.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke_standin"))
sys.path.insert(0, os.path.dirname(__file__))

from engine_helpers import face_chain, sample_and_model
from session import start

FRAMES = (1001, 1003)


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    return sample_and_model(tmp_path_factory.mktemp("shot"), frames=3, first=FRAMES[0])


def build(nuke, sample, model, socket, cache):
    """The compositor's graph, with the knobs an artist would set."""
    nodes = face_chain(nuke, sample, model, cache, socket,
                       out=os.path.join(os.path.dirname(cache), "out", "comp.####.exr"))
    nodes["FaceAlign"]["smoothing"].setValue(0.3)
    nodes["FaceMerge"]["blur"].setValue(2.0)
    return nodes


def read_exr(path):
    from faceplate.io.images import read_image

    return read_image(path)


def test_a_shot_through_the_four_nodes(shot, engine_socket, tmp_path):
    nuke = start()
    sample, model = shot
    nodes = build(nuke, sample, model, engine_socket, str(tmp_path / "cache"))
    from faceplate_nuke import actions

    assert "faceplate" in actions.connect(nodes["FaceDetect"])
    assert nodes["FaceDetect"]["engine_status"].value().startswith("faceplate ")
    cache = actions.process(nodes["FaceMerge"])
    merge = nodes["FaceMerge"]
    assert merge["show_result"].value() is True
    assert "3 frames cached" in merge["node_status"].value()
    assert merge.node("cache_read")["file"].value() == cache.pattern()
    history = nuke._state.progress_tasks[-1]._history  # the progress bar the artist saw
    assert {m.split(":")[0] for _, m in history} == {"plate", "detect", "align", "swap",
                                                     "merge"}
    assert history[-1] == (100, "merge: 3/3")

    # FaceSwap shows the raw swap (learned mask only): made only when FaceSwap is processed.
    swap_view = actions.process(nodes["FaceSwap"])
    raw = read_exr(swap_view.frame_file(1002))
    assert raw.metadata["faceplate/synthetic"] == "1"
    face, learned = raw.channel("facemask.face"), raw.channel("facemask.learned")
    assert face.max() > 0 and (face <= learned + 1e-3).all()  # the learned mask, nothing more
    assert np.median(np.abs(face - learned)[learned > 0.1]) < 1e-3

    # QC Report: the engine reports on the node's own cache, the verdict lands on the node.
    qc = actions.qc_report(merge)
    with open(qc["report"]) as fh:
        report = json.load(fh)
    assert [f["frame"] for f in report["frames"]] == list(range(FRAMES[0], FRAMES[1] + 1))
    assert report["merged"] == cache.pattern() and report["identity"] == "other"
    assert {c["check"] for c in report["checks"]} >= {"confidence", "flicker", "expression"}
    assert os.path.isfile(qc["page"])
    assert report["runs"][-1]["command"] == ("nuke (an unsaved script): FaceDetect1 → FaceAlign1 "
                                             "→ FaceSwap1 → FaceMerge1, Process 1001-1003")
    assert merge["node_status"].value().startswith(f"QC {report['verdict']}")

    nuke.execute(nodes["Write"], *FRAMES)
    for f in range(FRAMES[0], FRAMES[1] + 1):
        out = read_exr(str(tmp_path / "out" / f"comp.{f}.exr"))
        for c in ("R", "G", "B", "facemask.face", "facemask.learned", "facemask.hull"):
            assert c in out.channels
        assert "A" not in out.channels  # the plate has none: FaceMerge keeps its channels
        assert out.metadata["faceplate/synthetic"] == "1"
        assert out.metadata["faceplate/identities"]
        hull = out.channel("facemask.hull")
        # The hull matte covers the face of the plate where the sample put it.
        x, y = sample.to_plate(f, np.array([[217.5, 125.5]]))[0]
        assert hull[int(y), int(x)] > 0.9
        assert hull.mean() < 0.5
        plate = read_exr(sample.path(f))
        changed = np.abs(out.rgb() - plate.rgb()).max(axis=-1) > 1e-3
        assert changed[int(y), int(x)]
        assert not changed[out.channel("facemask.face") == 0].any()


def test_a_knob_change_recomputes_only_its_stage(shot, engine_socket, tmp_path):
    nuke = start()
    sample, model = shot
    nodes = build(nuke, sample, model, engine_socket, str(tmp_path / "cache"))
    from faceplate_nuke import actions
    from faceplate_nuke.stages import Run

    actions.process(nodes["FaceMerge"])
    run = Run(nodes["FaceMerge"])
    stamps = {s: {f: os.stat(run.cache(s).sidecar(f)).st_mtime_ns
                  for f in range(FRAMES[0], FRAMES[1] + 1)}
              for s in ("plate", "detect", "align", "swap", "merge")}
    nodes["FaceMerge"]["erode"].setValueAt(3.0, 1002)  # animated: only frame 1002 changes
    nodes["FaceMerge"]["erode"].setValueAt(0.0, 1001)
    nodes["FaceMerge"]["erode"].setValueAt(0.0, 1003)
    cache = actions.process(nodes["FaceMerge"])
    run = Run(nodes["FaceMerge"])
    after = {s: {f: os.stat(run.cache(s).sidecar(f)).st_mtime_ns
                 for f in range(FRAMES[0], FRAMES[1] + 1)}
             for s in ("plate", "detect", "align", "swap", "merge")}
    for s in ("plate", "detect", "align", "swap"):
        assert after[s] == stamps[s], s
    assert [f for f in after["merge"] if after["merge"][f] != stamps["merge"][f]] == [1002]
    assert cache.versions() == [1, 2]  # a new version: Nuke's Read sees the change at once
    assert nodes["FaceMerge"].node("cache_read")["file"].value() == cache.pattern(2)


def test_plate_match_knobs_change_only_the_merge(shot, engine_socket, tmp_path):
    """FaceMerge's Plate match tab: its knobs are merge settings, so changing grain re-merges
    from the cached swaps and nothing before; the merged frames carry the face's motion in
    Nuke's forward/backward layers and what plate match did in their metadata."""
    nuke = start()
    sample, model = shot
    nodes = build(nuke, sample, model, engine_socket, str(tmp_path / "cache"))
    from faceplate_nuke import actions
    from faceplate_nuke.stages import Run

    merge = nodes["FaceMerge"]
    assert merge["grain"].value() == "auto" and merge["soften"].value() == "auto"
    assert float(merge["shutter"].value()) == 180.0
    actions.process(merge)
    run = Run(merge)
    stages = ("plate", "detect", "align", "swap", "merge")
    frames = range(FRAMES[0], FRAMES[1] + 1)
    stamps = {s: {f: os.stat(run.cache(s).sidecar(f)).st_mtime_ns for f in frames}
              for s in stages}
    middle = read_exr(run.cache("merge").frame_file(1002))
    for c in ("forward.u", "forward.v", "backward.u", "backward.v"):
        assert c in middle.channels
    matte = middle.channel("facemask.face")
    inside = matte > 0.5 * matte.max()
    assert np.abs(middle.channel("forward.u")[inside]).max() > 0.1  # the sample face moves
    (record,) = json.loads(middle.metadata["faceplate/plate_match"])
    assert {"grain", "softness", "motion"} <= set(record)

    merge["grain"].setValue("off")
    actions.process(merge)
    run = Run(merge)
    after = {s: {f: os.stat(run.cache(s).sidecar(f)).st_mtime_ns for f in frames}
             for s in stages}
    for s in stages[:-1]:
        assert after[s] == stamps[s], s
    assert all(after["merge"][f] != stamps["merge"][f] for f in frames)
    (record,) = json.loads(read_exr(run.cache("merge").frame_file(1002))
                           .metadata["faceplate/plate_match"])
    assert "grain" not in record and "softness" in record


def test_roto_export_matches_the_alignments_and_masks_the_merge(shot, engine_socket, tmp_path):
    import json

    nuke = start()
    sample, model = shot
    nodes = build(nuke, sample, model, engine_socket, str(tmp_path / "cache"))
    from faceplate_nuke import actions
    from faceplate_nuke.roto import REGIONS

    nodes["FaceAlign"]["export_roto"].execute()  # the artist presses Export Roto
    (roto,) = nuke.allNodes("Roto")
    path = os.path.join(actions.Run(nodes["FaceAlign"]).cache("align").version_dir(),
                        "alignments.json")
    with open(path) as fh:
        alignments = json.load(fh)
    height = alignments["size"][1]
    layer = roto["curves"].rootLayer[0]
    shapes = {s.name: s for s in layer}
    assert set(shapes) == set(REGIONS)
    for frame, faces in alignments["frames"].items():
        landmarks = faces[0]["landmarks"]
        for name, indices in REGIONS.items():
            for point, i in zip(shapes[name], indices):
                p = point.center.getPosition(int(frame))
                assert p.x == pytest.approx(landmarks[i][0], abs=1e-4)
                assert p.y == pytest.approx(height - landmarks[i][1], abs=1e-4)

    # The artist's Roto becomes FaceMerge's mask.
    merge = nodes["FaceMerge"]
    merge.setInput(1, roto)
    merge["mask_source"].setValue("image")
    merge["mask_channel"].setValue("A")
    cache = actions.process(merge)
    out = read_exr(cache.frame_file(1002))
    roto_alpha = roto._render(1002)[0][..., 0]
    face = out.channel("facemask.face")
    import cv2

    near = cv2.dilate((roto_alpha > 0).astype(np.uint8), np.ones((13, 13), np.uint8))
    assert face[near == 0].max() < 1e-3  # blended only inside the Roto (and its 2 px feather)
    assert face[roto_alpha > 0.99].mean() > 0.5


def test_a_farm_render_of_a_fresh_script_fills_the_cache(shot, engine_socket, tmp_path):
    nuke = start()
    sample, model = shot
    build(nuke, sample, model, engine_socket, str(tmp_path / "cache"))
    script = str(tmp_path / "comp.nk")
    nuke.scriptSaveAs(script)

    nuke = start()  # a farm machine: nuke -x comp.nk, nothing processed, cache empty
    nuke.scriptOpen(script)
    write = nuke.toNode("Write1")
    nuke.execute(write, *FRAMES)
    for f in range(FRAMES[0], FRAMES[1] + 1):
        out = read_exr(str(tmp_path / "out" / f"comp.{f}.exr"))
        assert "facemask.hull" in out.channels
        assert out.metadata["faceplate/synthetic"] == "1"
    merge = nuke.toNode("FaceMerge1")
    assert merge["show_result"].value() is True
    assert os.path.isfile(merge.node("cache_read")["file"].evaluate(1002))


def test_td_renders_a_script_from_the_command_line(shot, engine_socket, tmp_path, capsys):
    """What `nuke -t faceplate_nuke/td.py --script comp.nk --frames 1001-1003` runs."""
    nuke = start()
    sample, model = shot
    build(nuke, sample, model, engine_socket, str(tmp_path / "cache"))
    script = str(tmp_path / "comp.nk")
    nuke.scriptSaveAs(script)

    nuke = start()
    from faceplate_nuke import td

    assert td.main(["--script", script, "--frames", "1001-1003"]) == 0
    assert "rendered Write1 for 1001-1003" in capsys.readouterr().out
    assert [n.name() for n in td.faceplate_nodes()] == ["FaceDetect1", "FaceAlign1",
                                                       "FaceSwap1", "FaceMerge1"]
    for f in range(FRAMES[0], FRAMES[1] + 1):
        assert "facemask.face" in read_exr(str(tmp_path / "out" / f"comp.{f}.exr")).channels
    assert nuke.toNode("FaceAlign1")["node_status"].value() == "3 faces on 3 frames"


def test_errors_show_on_the_node(shot, engine_socket, tmp_path):
    from faceplate_nuke.errors import NodeError

    sample, model = shot
    nuke = start(gui=True)
    nodes = build(nuke, sample, "/no/such/model", engine_socket, str(tmp_path / "cache"))
    from faceplate_nuke import actions

    assert actions.process(nodes["FaceMerge"]) is None  # GUI: a message, not a traceback
    assert "model" in nuke._state.messages[-1]
    assert nodes["FaceMerge"]["node_status"].value().startswith("error: ")

    nuke = start(gui=False)  # nuke -t: the TD's script gets the error
    nodes = build(nuke, sample, model, engine_socket, str(tmp_path / "cache2"))
    nodes["FaceSwap"]["identity"].setValue("nobody")
    with pytest.raises(NodeError, match="no identity 'nobody'"):
        actions.process(nodes["FaceMerge"])
    with pytest.raises(RuntimeError, match="FaceSwap1, frame 1001: .*no identity"):
        nuke.execute(nodes["Write"], *FRAMES)


@pytest.mark.slow
def test_face_sets_and_training_from_faceAlign(shot, engine_socket, tmp_path):
    """Two FaceAlign nodes export face sets; one trains a model on both, with progress and
    the latest preview in a Read node."""
    from faceplate.samples import make_shot

    nuke = start()
    sample, _ = shot
    other = make_shot("grace_hopper", str(tmp_path / "other"), frames=3, first=FRAMES[0],
                      size=(320, 240), face_px=110.0)
    from faceplate_nuke import actions

    aligns: list = []
    shots: list[str] = []
    for i, plate in enumerate((sample, other)):
        nodes = build(nuke, plate, "", engine_socket, str(tmp_path / f"cache{i}"))
        align = nodes["FaceAlign"]
        align["faceset_folder"].setValue(str(tmp_path / f"faceset{i}"))
        if i == 1:  # the second set is checked against the first node's shot
            align["coverage_shot"].setValue(shots[0])
        assert actions.export_faceset(align) == str(tmp_path / f"faceset{i}")
        assert os.path.isfile(tmp_path / f"faceset{i}" / "faceset.json")
        own = os.path.dirname(actions.Run(align).write_alignments(actions.Run(align).cache("align")))
        shots.append(own)
        # Its coverage of the shot: the report, a picture beside the node, the verdict.
        with open(tmp_path / f"faceset{i}" / "coverage_report.json") as fh:
            report = json.load(fh)
        assert report["shot"] == shots[0]
        picture = nuke.toNode(f"{align.name()}_coverage")
        assert picture is not None and os.path.isfile(picture["file"].value())
        assert align["node_status"].value().startswith(("covered: ", "gaps: "))
        if i == 0:  # a set exported from the shot's own range covers it
            assert report["covered"] and align["node_status"].value().startswith("covered: ")
        aligns.append(align)
    align = aligns[0]
    align["train_model"].setValue(str(tmp_path / "model"))
    align["train_identity"].setValue("astronaut")
    align["train_other"].setValue(str(tmp_path / "faceset1"))
    align["train_other_identity"].setValue("grace")
    align["train_preset"].setValue("demo")
    align["train_iterations"].setValue(10)  # the demo preset logs a loss every 10 steps
    with pytest.raises(Exception, match="consent"):  # no consent note, no model
        actions.train(align)
    align["train_consent"].setValue("test fixture: public-domain sample photos")
    result = actions.train(align)
    assert result["steps"] == 10
    assert nuke._state.progress_tasks[-1]._history[-1][0] == 100  # training progress shown
    with open(tmp_path / "model" / "card.json") as fh:
        assert "public-domain" in fh.read()  # the consent note travels with the model
    preview = nuke.toNode(f"{align.name()}_preview")
    assert preview is not None and os.path.isfile(preview["file"].value())
