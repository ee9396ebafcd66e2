"""The same publish inside Nuke (the tests' stand-in `nuke`, real pyblish): the collector finds
the Write node under a Faceplate chain, takes model, identity and alignments from the nodes,
and the standard-library validators and integrator publish it — or stop it."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pyblish.api
import pyblish.util
import pytest
from faceplate.convert.provenance import Provenance
from faceplate.convert.settings import MergeSettings
from faceplate.io.images import write_image
from faceplate.model.card import ModelCard
from faceplate.model.store import create_model
from faceplate_client.layout import FACEMASK_CHANNELS

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke_standin"))

from session import start

FRAMES = range(1, 4)
CHANNELS = ["R", "G", "B", "A", *FACEMASK_CHANNELS]  # what convert writes


@pytest.fixture
def comp(tmp_path):
    """A Nuke script: Read → FaceDetect → FaceAlign → FaceSwap → FaceMerge → NoOp → Write, with
    FaceAlign's cache holding frames 1-3 and the Write's frames on disk (as a farm left them)."""
    nuke = start()
    from faceplate_nuke.stages import Run

    model = str(tmp_path / "model")
    card = create_model(model, ModelCard.for_resolution(
        ["A", "B"], 64, consent="A and B signed likeness releases (test)")).card
    read = nuke.createNode("Read")
    read["file"].setValue(str(tmp_path / "plate.####.exr"))
    read["first"].setValue(1)
    read["last"].setValue(3)
    previous, chain = read, {}
    for cls in ("FaceDetect", "FaceAlign", "FaceSwap", "FaceMerge", "NoOp", "Write"):
        chain[cls] = node = nuke.createNode(cls)
        node.setInput(0, previous)
        previous = node
        if node.knob("cache_folder") is not None:
            node["cache_folder"].setValue(str(tmp_path / "cache"))
    chain["FaceSwap"]["model"].setValue(model)
    chain["FaceSwap"]["identity"].setValue("B")
    chain["Write"]["file"].setValue(str(tmp_path / "out" / "comp.####.exr"))
    run = Run(chain["FaceMerge"], interactive=False)
    for f in FRAMES:
        run.cache("detect").prepare([f], new_version=False)
        run.cache("detect").record(f, run.key("detect", f), {"size": [64, 48],
                                                            "backend": "dlib"})
        run.cache("align").prepare([f], new_version=False)
        run.cache("align").record(f, run.key("align", f), {"faces": [{
            "bbox": [10, 8, 40, 44], "score": 0.99, "landmarks": [[0, 0]] * 68,
            "matrix": [[0.01, 0, -0.2], [0, 0.01, -0.1]], "track": 0}]})
        meta = Provenance(card.model_id, ["A", "B"], "B", card.consent, MergeSettings(), "t",
                          frame=f, matrices=[[[0.01, 0, -0.2], [0, 0.01, -0.1]]]).to_metadata()
        write_image(str(tmp_path / "out" / f"comp.{f:04d}.exr"),
                    np.full((48, 64, len(CHANNELS)), 0.25, np.float32), CHANNELS, meta)
    return nuke, chain


def _publish(root: str, **data) -> pyblish.api.Context:
    import faceplate_pyblish

    pyblish.api.deregister_all_plugins()
    pyblish.api.deregister_all_hosts()
    plugins = faceplate_pyblish.register("nuke")
    context = pyblish.api.Context()
    context.data.update(publishRoot=root, **data)
    pyblish.util.publish(context, plugins=pyblish.api.registered_plugins())
    assert {p.__name__ for p in plugins} >= {"ValidateModel", "IntegrateVersion"}
    return context


def _errors(context) -> dict[str, str]:
    return {r["plugin"].label: str(r["error"]) for r in context.data["results"] if r["error"]}


@pytest.fixture(autouse=True)
def _clean_pyblish():
    yield
    pyblish.api.deregister_all_plugins()
    pyblish.api.deregister_all_hosts()


def test_nuke_write_publishes(comp, tmp_path):
    context = _publish(str(tmp_path / "publish"))
    assert _errors(context) == {}
    (instance,) = list(context)
    assert instance.name == "Write1" and instance.data["frames"] == [1, 2, 3]
    version = instance.data["publishedDir"]
    assert version.endswith(os.path.join("Write1", "B", "v001"))
    with open(os.path.join(version, "manifest.json")) as fh:
        manifest = json.load(fh)
    assert sorted(manifest["files"]) == ["comp.0001.exr", "comp.0002.exr", "comp.0003.exr"]


def test_nuke_publish_stops_on_a_model_that_does_not_fit(comp, tmp_path):
    _, chain = comp
    chain["FaceAlign"]["face_type"].setValue("head")  # re-aligned: the model was not
    context = _publish(str(tmp_path / "publish"))
    errors = _errors(context)
    assert "Validate model fits the shot" in errors
    assert "aligned as 'head'" in errors["Validate model fits the shot"]
    assert not os.path.exists(tmp_path / "publish")


def test_disabled_and_unrelated_writes_are_not_collected(comp, tmp_path):
    nuke, chain = comp
    other = nuke.createNode("Write")
    other.setInput(0, nuke.toNode("Read1"))
    chain["Write"]["disable"].setValue(True)
    context = _publish(str(tmp_path / "publish"))
    assert list(context) == []
