"""A TD publishes a swapped shot with real pyblish: a good shot lands in a versioned folder with a
manifest of hashes; each broken shot is stopped by the validator that owns the problem, and
nothing of it is published."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import numpy as np
import pytest
from faceplate.cli import main
from faceplate.convert.provenance import Provenance
from faceplate.convert.settings import MergeSettings
from faceplate.extract import alignments as al
from faceplate.farm.job import ShotJob
from faceplate.io.images import read_image, write_image
from faceplate.model.card import ModelCard
from faceplate.model.store import create_model
from faceplate.publish.run import publish
from faceplate_client.layout import FACEMASK_CHANNELS

FRAMES = range(1001, 1005)
CHANNELS = ["R", "G", "B", "A", *FACEMASK_CHANNELS]  # what convert writes
CHECK = {  # validator labels, as the report names them
    "model": "Validate model fits the shot",
    "consent": "Validate model consent note",
    "coverage": "Validate alignments cover the frame range",
    "complete": "Validate output frames exist and are whole",
    "channels": "Validate colour and facemask channels",
    "provenance": "Validate provenance metadata",
    "decode": "Validate output frames decode",
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("model") / "m")
    card = ModelCard.for_resolution(["A", "B"], 64, face_type="whole_face",
                                    consent="A and B signed likeness releases (test)")
    create_model(folder, card)
    return folder


def _metadata(card: ModelCard, frame: int) -> dict:
    prov = Provenance(card.model_id, list(card.identities), "B", card.consent, MergeSettings(),
                      job="test", plate=f"plate.{frame:04d}.exr", frame=frame,
                      matrices=[[[0.01, 0.0, -0.2], [0.0, 0.01, -0.1]]])
    return prov.to_metadata()


@pytest.fixture
def shot(tmp_path, model_dir):
    """A shot as the farm leaves it: alignments, job file, and four converted frames."""
    shot_dir = tmp_path / "sh010"
    card = ModelCard.load(os.path.join(model_dir, "card.json"))
    record = al.FaceRecord((10.0, 8.0, 40.0, 44.0), 0.99, np.zeros((68, 2)),
                           np.array([[0.01, 0.0, -0.2], [0.0, 0.01, -0.1]]))
    al.save(al.Alignments(str(tmp_path / "plate.%04d.exr"), "ACEScg", "dlib", "whole_face",
                          (64, 48), 0.5, {f: [record] for f in FRAMES}), str(shot_dir))
    rng = np.random.default_rng(0)
    for f in FRAMES:
        write_image(str(tmp_path / f"plate.{f}.exr"), rng.random((48, 64, 3), np.float32),
                    ["R", "G", "B"])
        write_image(str(tmp_path / "out" / f"swap.{f}.exr"),
                    rng.random((48, 64, len(CHANNELS)), dtype=np.float32), CHANNELS, _metadata(card, f))
    ShotJob(str(shot_dir), str(tmp_path / "plate.####.exr"), model_dir, "B",
            str(tmp_path / "out" / "swap.####.exr"), "1001-1004", name="sh010").save()
    return shot_dir


def _rewrite(path, channels=None, metadata=None):
    """Rewrite a frame keeping its pixels: only some channels, or other metadata."""
    img = read_image(str(path))
    keep = channels or img.channels
    pixels = np.stack([img.channel(c) for c in keep], axis=-1)
    meta = img.metadata if metadata is None else metadata
    write_image(str(path), pixels, keep, {k: v for k, v in meta.items() if "/" in k})


def _failed(report) -> dict[str, str]:
    return {f.plugin: f.message for f in report.failures}


def test_good_shot_publishes_versioned_with_manifest(shot, tmp_path):
    root = tmp_path / "publish"
    report = publish([str(shot)], str(root))
    assert report.ok, report.failures
    version = root / "sh010" / "B" / "v001"
    assert report.published == {"sh010": str(version)}
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["frames"] == "1001-1004" and manifest["model"]["consent"].startswith("A and B")
    review = ["review.png"] if not report.warnings else []  # best effort, see below
    assert sorted(manifest["files"]) == review + [f"swap.{f}.exr" for f in FRAMES]
    for name, entry in manifest["files"].items():
        data = (version / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        source = shot / "review" if name == "review.png" else tmp_path / "out"
        assert data == (source / name).read_bytes()
        assert not os.access(version / name, os.W_OK) or os.geteuid() == 0
        assert (os.stat(version / name).st_mode & 0o222) == 0  # published files are read-only
    # Every step ran in pyblish's order: collect, validate, extract, check frames, integrate.
    assert report.ran[0].startswith("Collect") and report.ran[-1].startswith("Integrate")
    # Publishing again makes the next version, never touching the first.
    assert publish([str(shot)], str(root)).published["sh010"].endswith("v002")
    assert not [n for n in os.listdir(root / "sh010" / "B") if n.startswith(".staging")]


def test_review_sheet_is_published_beside_the_frames(shot, tmp_path):
    report = publish([str(shot)], str(tmp_path / "publish"))
    assert report.ok, report.failures
    if report.warnings:  # the sheet is drawn by faceplate.contact_sheet (the demo's)
        pytest.skip(f"contact sheet unavailable here: {report.warnings}")
    sheet = read_image(os.path.join(report.published["sh010"], "review.png"))
    # One row per sampled frame (4), five labelled tiles across (plate … matte).
    assert sheet.height > 4 * 192 and sheet.width > 5 * 192 and sheet.pixels.std() > 0.05


@pytest.mark.parametrize("case, check, words", [
    ("missing frame", "complete", "frames 1003 are missing"),
    ("missing channel", "channels", "frames 1002 lack channels facemask.learned"),
    ("no provenance", "provenance", "frames 1004 have no provenance"),
    ("other model's frames", "provenance", "were made by model"),
    ("truncated frame", "complete", "frame 1001 is incomplete"),
])
def test_broken_output_is_caught_by_its_validator(shot, tmp_path, case, check, words):
    out = tmp_path / "out"
    if case == "missing frame":
        os.remove(out / "swap.1003.exr")
    elif case == "missing channel":
        _rewrite(out / "swap.1002.exr", channels=[c for c in CHANNELS if c != "facemask.learned"])
    elif case == "no provenance":
        _rewrite(out / "swap.1004.exr", metadata={})
    elif case == "other model's frames":
        other = ModelCard.for_resolution(["A", "B"], 64, consent="x")
        _rewrite(out / "swap.1001.exr", metadata=_metadata(other, 1001))
    elif case == "truncated frame":
        data = (out / "swap.1001.exr").read_bytes()
        (out / "swap.1001.exr").write_bytes(data[: len(data) - 200])
    report = publish([str(shot)], str(tmp_path / "publish"))
    failed = _failed(report)
    expected = {CHECK[check]} | ({CHECK["decode"]} if case == "truncated frame" else set())
    assert set(failed) - {"Integrate versioned publish"} == expected, failed
    assert words in failed[CHECK[check]]
    assert "not published" in failed["Integrate versioned publish"]
    assert not report.published and not (tmp_path / "publish" / "sh010" / "B").exists() or \
        not os.listdir(tmp_path / "publish" / "sh010" / "B")


@pytest.mark.parametrize("case, check, words", [
    ("face type", "model", "face type 'whole_face' but the shot was aligned as 'head'"),
    ("resolution", "model", "works at 64 px, not the 128 px"),
    ("identity", "model", "has no identity 'C'"),
    ("no consent", "consent", "carries no consent note"),
    ("uncovered frames", "coverage", "lack frames 1003-1004"),
])
def test_failed_input_validator_stops_before_extraction(shot, tmp_path, model_dir, case, check,
                                                        words):
    resolution = None
    job = ShotJob.load(str(shot))
    if case in ("no consent", "identity"):
        copy = str(tmp_path / "model_copy")
        shutil.copytree(model_dir, copy)
        if case == "no consent":
            card = ModelCard.load(os.path.join(copy, "card.json"))
            card.consent = ""
            card.save(os.path.join(copy, "card.json"))
        job.model_dir = copy
        job.identity = "C" if case == "identity" else job.identity
        job.save()
    elif case in ("face type", "uncovered frames"):
        data = al.load(str(shot))
        if case == "face type":
            data.face_type = "head"
        else:
            data.frames = {f: r for f, r in data.frames.items() if f < 1003}
        al.save(data, str(shot), merge=False)
    elif case == "resolution":
        resolution = 128
    report = publish([str(shot)], str(tmp_path / "publish"), render=True, resolution=resolution)
    failed = _failed(report)
    assert set(failed) == {CHECK[check]}, failed
    assert words in failed[CHECK[check]]
    # pyblish stopped at validation: no render, no frame checks, no integration.
    assert not [r for r in report.ran if r.startswith(("Render", "Integrate"))]
    assert not [r for r in report.ran if "output frames" in r]
    assert not report.published


def test_missing_job_file_is_a_clear_collector_failure(tmp_path):
    report = publish([str(tmp_path / "nowhere")], str(tmp_path / "publish"))
    assert not report.ok
    assert "faceplate_job.json" in report.failures[0].message


def test_cli_exit_codes_and_messages(shot, tmp_path, capsys):
    root = str(tmp_path / "publish")
    assert main(["publish", str(shot), "--to", root]) == 0
    assert "published sh010" in capsys.readouterr().out
    os.remove(tmp_path / "out" / "swap.1002.exr")
    assert main(["publish", str(shot), "--to", root, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert any("1002" in f["message"] for f in report["failures"])
