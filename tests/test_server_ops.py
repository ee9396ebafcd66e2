"""The four nodes' ops and the whole-shot jobs on a real engine, on a real face: inline and
path forms agree with each other and with the stages run here; models load, evict and unload
within the memory budget; a shot converts with streamed progress and provenance on disk."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from engine_helpers import running_engine
from faceplate.convert.writer import OUTPUT_CHANNELS
from faceplate.extract.backends import get_backend
from faceplate.io.colour import ColourSpaces
from faceplate.io.images import read_image
from faceplate.samples import make_shot
from faceplate.server.arrays import from_numpy, to_numpy
from faceplate.train.checkpoint import latest_checkpoint
from faceplate_client import protocol as p

FRAMES = 4


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    root = tmp_path_factory.mktemp("ops")
    sample = make_shot("astronaut", str(root), frames=FRAMES, size=(320, 240), face_px=110)
    return sample, root


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> str:
    from faceplate.model.card import ModelCard
    from faceplate.model.store import create_model

    card = ModelCard.for_resolution(["astronaut", "other"], 64, encoder_widths=[8, 16, 32],
                                    latent=32, bridge=16, decoder_widths=[16, 8],
                                    consent="test fixture: public-domain NASA photo")
    folder = str(tmp_path_factory.mktemp("model") / "model")
    create_model(folder, card)
    return folder


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """One engine for the tests that need no special settings."""
    with running_engine(tmp_path_factory.mktemp("shared")) as client:
        yield client


def test_one_frame_through_detect_align_swap_merge_inline_and_by_path(shot, model_dir, client,
                                                                      tmp_path):
    sample, _ = shot
    plate = sample.path(sample.frames[0])
    image = read_image(plate)
    by_path = client.call("detect", {"path": plate, "backend": "dlib"})
    inline = client.call("detect", {"backend": "dlib", "colourspace": "ACEScg"},
                         {"image": from_numpy(image.pixels)})
    assert len(by_path.params["faces"]) == 1
    assert by_path.params["faces"] == inline.params["faces"]
    landmarks = to_numpy(by_path.arrays["landmarks"])
    here = get_backend("dlib").detect(
        np.clip(ColourSpaces("ACEScg").to_network(image.rgb()), 0, 1))
    np.testing.assert_allclose(landmarks[0], here[0].landmarks, atol=1e-3)

    aligned = client.call("align", {"path": plate, "size": 64},
                          {"landmarks": from_numpy(landmarks)})
    matrices = to_numpy(aligned.arrays["matrices"])
    assert to_numpy(aligned.arrays["crops"]).shape == (1, 64, 64, 3)

    placement = {"matrices": from_numpy(matrices), "landmarks": from_numpy(landmarks)}
    swapped = client.call("swap", {"path": plate, "model": model_dir,
                                   "identity": "other"}, placement)
    faces = to_numpy(swapped.arrays["faces"])
    assert faces.shape == (1, 64, 64, 3) and 0 <= faces.min() <= faces.max() <= 1
    # the crops form of swap gives the same faces from align's crops
    again = client.call("swap", {"model": model_dir, "identity": "other"},
                        {"crops": aligned.arrays["crops"]})
    np.testing.assert_allclose(to_numpy(again.arrays["faces"]), faces, atol=2e-2)

    arrays = {**placement, "faces": swapped.arrays["faces"],
              "masks": swapped.arrays["masks"]}
    common = {"model": model_dir, "identity": "other", "frame": sample.frames[0],
              "mask": "hull", "colour": "none"}
    out = str(tmp_path / "merged.exr")
    written = client.call("merge", {**common, "path": plate, "output": out}, arrays)
    merged = client.call("merge", {**common, "colourspace": "ACEScg"},
                         {**arrays, "image": from_numpy(image.pixels)})
    on_disk = read_image(out)
    # The plate is RGB: the output keeps its channels, no alpha, in the file and inline alike.
    assert sorted(on_disk.channels) == sorted(merged.params["channels"])
    assert merged.params["channels"] == [c for c in OUTPUT_CHANNELS if c != "A"]
    assert on_disk.metadata["faceplate/synthetic"] == "1"
    assert on_disk.metadata["faceplate/identities"] == "astronaut,other"
    assert written.params["metadata"]["faceplate/to_identity"] == "other"
    rgba = to_numpy(merged.arrays["rgba"])
    stored = on_disk.rgb()
    np.testing.assert_allclose(stored, rgba, atol=2e-3 * max(1, rgba.max()))
    matte = to_numpy(merged.arrays["layers"])[..., 0]
    assert matte.max() > 0.5  # it merged a face
    outside = matte == 0
    np.testing.assert_array_equal(rgba[..., :3][outside], image.rgb()[outside])


def test_models_load_evict_within_the_budget_and_unload(model_dir, tmp_path):
    import shutil

    second = str(tmp_path / "second")
    shutil.copytree(model_dir, second)
    with running_engine(tmp_path, "--model-memory", "1") as client:  # 1 MB: room for one
        loaded = client.call("load", {"model": model_dir})
        assert loaded.params["card"]["identities"] == ["astronaut", "other"]
        client.call("load", {"model": second})
        status = client.status()
        assert [m["path"] for m in status["models"]] == [loaded.params["model"].replace(
            model_dir, second)]
        assert client.call("unload", {"model": second}).params["unloaded"] is True
        assert client.status()["models"] == []
        with pytest.raises(p.EngineError) as err:
            client.call("load", {"model": str(tmp_path / "missing")})
        assert err.value.code == p.FAILED and "not found" in err.value.message


@pytest.fixture(scope="module")
def extracted(client, shot, tmp_path_factory):
    """The sample shot extracted by the engine, with a face set: (shot_dir, reply, events)."""
    sample, _ = shot
    shot_dir = tmp_path_factory.mktemp("extracted")
    events: list[dict] = []
    reply = client.call("extract_shot", {
        "plate": sample.pattern.replace("%04d", "####"), "shot_dir": str(shot_dir),
        "backend": "dlib", "faceset_dir": str(shot_dir / "faceset"), "faceset_size": 64},
        on_progress=events.append)
    return shot_dir, reply, events


def test_a_shot_extracts_and_converts_through_the_engine_with_progress(shot, model_dir, client,
                                                                       extracted, tmp_path):
    sample, _ = shot
    plate = sample.pattern.replace("%04d", "####")
    shot_dir, reply, extract_events = extracted
    assert reply.params["faces"] == FRAMES
    assert extract_events and extract_events[-1]["done"] >= FRAMES
    events: list[dict] = []
    out = str(tmp_path / "out" / "swap.####.exr")
    job = {"plate": plate, "shot_dir": str(shot_dir), "model": model_dir,
           "identity": "other", "out": out, "settings": {"mask": "hull"}}
    converted = client.call("convert_shot", job, on_progress=events.append)
    assert converted.params["swapped"] == FRAMES
    assert events[-1]["done"] == events[-1]["total"] == FRAMES
    rerun = client.call("convert_shot", job)
    assert rerun.params["skipped"] == FRAMES  # resent after a restart, it redoes nothing
    for frame in sample.frames:
        meta = read_image(out.replace("####", str(frame))).metadata
        assert meta["faceplate/synthetic"] == "1" and meta["faceplate/consent"]


def test_training_through_the_engine_streams_progress_cancels_saved_and_resumes(
        client, extracted, tmp_path):
    faceset = str(extracted[0] / "faceset")
    tiny = {"resolution": 64, "encoder_widths": [8, 16, 32], "latent": 32, "bridge": 16,
            "decoder_widths": [16, 8], "batch_size": 2, "checkpoint_every": 1}
    params = {"facesets": {"astronaut": faceset, "twin": faceset}, "model_dir": str(tmp_path / "model"),
              "consent": "test fixture: public-domain NASA photo",
              "max_steps": 10_000, "overrides": tiny}

    class Enough(Exception):
        pass

    def stop_after_two(event):
        if event.get("done", 0) >= 2:
            raise Enough

    with pytest.raises(Enough):  # the artist presses Cancel: the engine stops and saves
        client.call("train", params, on_progress=stop_after_two)
    deadline = time.monotonic() + 60
    while client.status()["queue"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.status()["queue"] == []
    # Where the cancel caught it: a busy machine runs a few more tiny steps before it lands.
    saved = latest_checkpoint(str(tmp_path / "model" / "checkpoints"))
    assert saved is not None and saved.step >= 2
    events = []
    resumed = client.call("train", {**params, "max_steps": saved.step + 2},
                          on_progress=events.append)
    assert resumed.params["steps"] == saved.step + 2 and resumed.params["steps_this_run"] == 2
    assert events and os.path.isfile(tmp_path / "model" / "card.json")
