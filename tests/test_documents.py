"""One rule for every JSON document Faceplate reads (``faceplate_client.documents``), one writer
of ``alignments.json`` for the engine and the Nuke nodes, and one meaning of "complete"."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from faceplate_client import documents, layout
from faceplate_client.documents import DocumentError, Problem, read_document


def _write(path, data) -> str:
    path.write_text(json.dumps(data))
    return str(path)


# ------------------------------------------------------------------------------- the rule

def test_the_schema_must_match_and_a_newer_version_is_refused_with_what_to_do(tmp_path):
    path = _write(tmp_path / "a.json", {"schema": "faceplate.model", "version": 1})
    with pytest.raises(DocumentError, match=r"a.json is not a Faceplate alignments file "
                                            r"\(its schema is 'faceplate.model'\)") as err:
        read_document(path, layout.ALIGNMENTS_SCHEMA)
    assert err.value.problem is Problem.NOT_THIS_KIND
    path = _write(tmp_path / "a.json", {"schema": layout.ALIGNMENTS_SCHEMA, "version": 7})
    with pytest.raises(DocumentError, match=r"a.json was written by a newer Faceplate "
                                            r"\(alignments file version 7\); this one reads up "
                                            r"to version 1: upgrade Faceplate") as err:
        read_document(path, layout.ALIGNMENTS_SCHEMA)
    assert err.value.problem is Problem.NEWER


def test_older_versions_are_read_as_they_are_and_no_version_is_version_1(tmp_path):
    old = {"schema": layout.MODEL_SCHEMA, "version": 1, "kept": True}
    assert read_document(old, layout.MODEL_SCHEMA) is old  # the caller migrates
    bare = {"schema": layout.FIXES_SCHEMA, "frames": {}}
    assert read_document(bare, layout.FIXES_SCHEMA)["version"] == 1
    assert "version" not in bare  # the caller's dict is left alone
    assert read_document({"schema": "x.y", "version": 3}, "x.y", 3)["version"] == 3
    for bad in (0, -1, "2", 1.5, True, None):
        with pytest.raises(DocumentError, match="is damaged: its version") as err:
            read_document({"schema": "x.y", "version": bad}, "x.y", 3)
        assert err.value.problem is Problem.DAMAGED


def test_files_that_are_missing_unreadable_or_not_objects_say_so(tmp_path):
    with pytest.raises(DocumentError, match="model card not found") as err:
        read_document(str(tmp_path / "none.json"), layout.MODEL_SCHEMA)
    assert err.value.problem is Problem.MISSING
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(DocumentError, match="cannot read farm job description") as err:
        read_document(str(tmp_path / "bad.json"), layout.JOB_SCHEMA)
    assert err.value.problem is Problem.UNREADABLE
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(DocumentError, match="not a JSON object") as err:
        read_document(str(tmp_path / "list.json"), layout.JOB_SCHEMA)
    assert err.value.problem is Problem.NOT_THIS_KIND
    with pytest.raises(DocumentError, match="this document is not a Faceplate face set index"):
        read_document([], layout.FACESET_SCHEMA)  # type: ignore[arg-type]
    assert isinstance(err.value, ValueError)  # layout.read_document's callers catch ValueError


def test_the_host_sides_reader_follows_the_same_rule(tmp_path):
    from faceplate_pyblish import shot

    path = _write(tmp_path / layout.ALIGNMENTS_FILE,
                  {"schema": layout.ALIGNMENTS_SCHEMA, "version": 2, "frames": {}})
    with pytest.raises(ValueError, match="written by a newer Faceplate"):
        layout.read_document(path, "alignments file", layout.ALIGNMENTS_SCHEMA)
    with pytest.raises(shot.PublishError, match="written by a newer Faceplate"):
        shot.alignments(str(tmp_path))
    assert layout.read_document(path, "any file")["version"] == 2  # no schema: unchecked


# ----------------------------------------------------------------------- every engine reader

def _readers(tmp_path):
    """(reader of a folder or file, the file it reads, a document it accepts) per kind."""
    from faceplate.coverage import store as coverage
    from faceplate.extract import alignments, faceset, fixes
    from faceplate.farm.job import ShotJob
    from faceplate.model.card import ModelCard
    from faceplate.occlusion import store as occlusion
    from faceplate.qc.shot_report import read_report
    from faceplate.shot_log import runs

    shot = tmp_path / "shot"
    shot.mkdir()
    blank = alignments.Alignments("/p.%04d.exr", "sRGB", "dlib", "whole_face", (64, 64))
    version = shot / "occlusion" / "v001"
    version.mkdir(parents=True)
    return {
        "alignments file": (lambda: alignments.load(str(shot)), shot / "alignments.json",
                            blank.to_json()),
        "model card": (lambda: ModelCard.load(str(shot / "card.json")), shot / "card.json",
                       ModelCard.for_resolution(["a", "b"], 64).to_dict()),
        "face set index": (lambda: faceset.load_faceset(str(shot)), shot / "faceset.json",
                           faceset.FaceSet(str(shot), "whole_face", 64).to_json()),
        "fix file": (lambda: fixes.read_fix_file(str(shot / "fix.json"), blank),
                     shot / "fix.json", {"schema": layout.FIXES_SCHEMA, "frames": {}}),
        "farm job description": (lambda: ShotJob.load(str(shot)), shot / layout.JOB_FILE,
                                 {"schema": layout.JOB_SCHEMA, "version": 1,
                                  "shot_dir": str(shot), "plate": "/p.####.exr",
                                  "model_dir": "/m", "identity": "a", "output": "/o.####.exr",
                                  "frames": "1-2"}),
        "occlusion model card": (lambda: occlusion.read_card(str(version)),
                                 version / "occlusion.json",
                                 {"schema": layout.OCCLUSION_SCHEMA, "version": 1, "size": 64,
                                  "width": 8, "face_type": "whole_face", "steps": 1,
                                  "seconds": 1.0, "loss": 0.1, "label_iou": 0.9,
                                  "labels": {"pattern": "/l.####.exr", "frames": [1],
                                             "channel": "A"}}),
        "run log": (lambda: runs(str(shot)), shot / layout.RUNS_FILE,
                    {"schema": layout.RUNS_SCHEMA, "version": 1, "runs": []}),
        "QC report": (lambda: read_report(str(shot)), shot / layout.REPORT_JSON,
                      {"schema": layout.REPORT_SCHEMA, "version": 1, "verdict": "pass"}),
        "coverage sidecar": (lambda: coverage._load(str(shot / "coverage.json")),
                             shot / "coverage.json",
                             {"schema": layout.COVERAGE_SCHEMA, "version": 1,
                              "descriptor_version": coverage.VERSION, "faces": {"k": {}}}),
    }


def test_every_engine_reader_reads_its_document_and_refuses_another_or_a_newer_one(tmp_path):
    from faceplate.errors import FaceplateError

    readers = _readers(tmp_path)
    assert set(readers) == {k.what for k in documents.KINDS.values()}
    for what, (read, path, good) in readers.items():
        path.write_text(json.dumps(good))
        assert read() is not None, what
        path.write_text(json.dumps({**good, "schema": "faceplate.other"}))
        if what == "coverage sidecar":  # a cache: whatever it refuses is recomputed
            assert read() == {}
            path.write_text(json.dumps({**good, "version": 2}))
            assert read() == {}
            continue
        with pytest.raises(FaceplateError, match=f"is not a Faceplate {what}"):
            read()
        newest = documents.KINDS[good["schema"]].version
        path.write_text(json.dumps({**good, "version": newest + 1}))
        with pytest.raises(FaceplateError, match=rf"written by a newer Faceplate \({what} "
                                                 rf"version {newest + 1}\); this one reads up "
                                                 rf"to version {newest}: upgrade Faceplate"):
            read()


def test_an_older_model_card_still_loads_and_the_versions_are_spelt_once():
    from faceplate.extract import alignments, faceset
    from faceplate.farm import job
    from faceplate.model.card import VERSION, ModelCard

    card = ModelCard.for_resolution(["a", "b"], 64).to_dict()
    for old in (1, 2):
        old_card = {k: v for k, v in card.items() if k not in ("face_prior", "decoder_blocks")}
        assert ModelCard.from_dict({**old_card, "version": old}).decoder_blocks == 0
    assert (VERSION, alignments.VERSION, faceset.VERSION, job.VERSION) == (
        layout.MODEL_VERSION, layout.ALIGNMENTS_VERSION, layout.FACESET_VERSION,
        layout.JOB_VERSION)


# ----------------------------------------------------------------------- alignments.json

def test_the_engine_and_the_nodes_write_alignments_through_one_writer(tmp_path):
    """The Nuke nodes build the document from their cached faces (plain JSON values) with the
    same function the engine uses: the same faces give the same file, byte for byte."""
    from faceplate.extract import alignments

    rng = np.random.default_rng(0)

    def record(track, confidence=None, fixed=False):
        return alignments.FaceRecord((1.0, 2.0, 30.5, 40.25), 0.98765, rng.random((68, 2)) * 60,
                                     rng.random((2, 3)), track, confidence, fixed)

    result = alignments.Alignments(
        "/p.%04d.exr", "ACEScg", "dlib", "whole_face", (64, 48), 0.5,
        frames={10: [record(0, 0.91234)], 9: [record(1, fixed=True)], 11: []},
        track_info={1: alignments.TrackInfo(0.5, 1), 0: alignments.TrackInfo(0.9, 1)},
        held_back={12: [record(2, 0.1)]}, cuts=[11])
    engine_path = alignments.save(result, str(tmp_path / "engine"), merge=False)
    # What the Nuke side holds: each face as JSON values, tracks as the track_faces reply has
    # them (string keys), frames as strings, extra keys it keeps for itself.
    as_json = json.loads(json.dumps(result.to_json()))
    nuke_faces = {f: [dict(face, descriptor=[0.0]) for face in faces]
                  for f, faces in as_json["frames"].items()}
    host = documents.alignments_document(
        plate="/p.%04d.exr", colourspace="ACEScg", backend="dlib", face_type="whole_face",
        size=[64, 48], smoothing=0.5, frames=nuke_faces, tracks=as_json["tracks"],
        held_back=as_json["held_back"], cuts=[11])
    os.makedirs(tmp_path / "nuke")
    nuke_path = documents.write_alignments(str(tmp_path / "nuke" / "alignments.json"), host)
    with open(engine_path, "rb") as a, open(nuke_path, "rb") as b:
        assert a.read() == b.read()
    with open(nuke_path) as fh:
        written = json.load(fh)
    assert list(written["frames"]) == ["9", "10", "11"] and list(written["tracks"]) == ["0", "1"]
    assert "descriptor" not in written["frames"]["9"][0]
    assert written["frames"]["9"][0]["fixed"] is True and "confidence" not in \
        written["frames"]["9"][0]
    assert alignments.load(nuke_path).frames[10][0].confidence == pytest.approx(0.9123, abs=1e-4)


def test_optional_alignments_fields_are_left_out_when_empty():
    doc = documents.alignments_document(plate="/p", colourspace="", backend="", face_type="face",
                                        size=(2, 2), smoothing=0, frames={"1": []},
                                        tracks={}, held_back={}, cuts=[])
    assert set(doc) == {"schema", "version", "plate", "colourspace", "backend", "face_type",
                        "size", "smoothing", "frames"}
    assert read_document(doc, layout.ALIGNMENTS_SCHEMA) is doc


# ----------------------------------------------------------------------- complete frames

def test_a_cut_exr_is_incomplete_by_the_header_check_and_the_full_decode(tmp_path):
    from faceplate.io.images import is_complete_image, write_image
    from faceplate_client.exr import read_exr

    path = str(tmp_path / "f.exr")
    write_image(path, np.random.default_rng(1).random((64, 48, 3), np.float32),
                ["R", "G", "B"], compression="zip")
    assert read_exr(path).complete is True and is_complete_image(path)
    with open(path, "rb") as fh:
        data = fh.read()
    cut = str(tmp_path / "cut.exr")
    with open(cut, "wb") as fh:
        fh.write(data[:len(data) - 200])
    assert read_exr(cut).complete is False and not is_complete_image(cut)
    assert not is_complete_image(str(tmp_path / "missing.exr"))
