"""An artist paints what covers the face on a few frames; the shot learns it, and the swapped
face goes behind the microphone on every frame."""

import functools
import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
from faceplate.convert.pipeline import convert_shot
from faceplate.convert.settings import MergeSettings
from faceplate.convert.swap import PassthroughModel
from faceplate.errors import FaceplateError
from faceplate.io.images import read_image
from faceplate.occlusion import store
from faceplate.occlusion.data import Labels, find_labels
from faceplate.occlusion.predict import predict_occlusion
from faceplate.occlusion.train import OcclusionTrainSettings, iou, train_occlusion
from faceplate.samples import make_shot, occluders, write_true_alignments

FRAMES = 10
LABELLED = (1001, 1004, 1007, 1010)
QUICK = OcclusionTrainSettings(size=64, width=8, steps=150, minutes=5, batch_size=6)


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("occluded"))
    sample = make_shot("astronaut", root, frames=FRAMES, size=(400, 240), face_px=110,
                       overlay=functools.partial(occluders, face_px=110))
    write_true_alignments(sample, root)
    labels = Labels(os.path.join(root, "plate_matte.####.exr"), LABELLED)
    result = train_occlusion(sample.pattern, root, labels, QUICK)
    pattern, written = predict_occlusion(sample.pattern, root)
    return SimpleNamespace(sample=sample, root=root, labels=labels, result=result,
                           pattern=pattern, written=written)


def _matte(path):
    return read_image(path).pixels[..., 0]


def test_training_keeps_a_version_with_its_labels_and_scores(shot):
    assert os.path.basename(shot.result.version) == "v001"
    card = store.read_card(shot.result.version)
    assert card.labels == shot.labels and card.steps == QUICK.steps and card.parent == ""
    assert card.label_iou > 0.5  # it learned the painted frames


def test_prediction_finds_the_occluders_on_frames_nobody_painted(shot):
    assert shot.written == shot.sample.frames
    scores = [iou(_matte(shot.pattern.replace("####", str(f))),
                  _matte(shot.labels.path(f)))
              for f in shot.sample.frames if f not in LABELLED]
    assert np.mean(scores) > 0.5, scores  # a short CPU run; bench/occlusion.py measures more


def test_on_painted_frames_the_artists_matte_wins(shot):
    for f in LABELLED:
        painted = _matte(shot.labels.path(f))
        np.testing.assert_allclose(_matte(shot.pattern.replace("####", str(f))), painted, atol=1e-3)


class GreenFace(PassthroughModel):
    """A swap anyone can see: every face becomes flat green."""

    def swap(self, crops, identity):
        faces, masks = super().swap(crops, identity)
        faces[:] = np.array([0.1, 0.8, 0.1], np.float32)
        return faces, masks


def test_the_swapped_face_goes_behind_the_occluder(shot, tmp_path):
    out = str(tmp_path / "o.####.exr")
    convert_shot(shot.sample.pattern, shot.root, GreenFace(128), "plate", out,
                 settings=MergeSettings(mask="occlusion", colour="none", blur=1))
    for f in shot.sample.frames:
        plate, merged = read_image(shot.sample.path(f)), read_image(out.replace("####", str(f)))
        occluder = merged.channel("facemask.occlusion")
        hull = merged.channel("facemask.hull")
        truth = _matte(shot.labels.path(f))
        change = np.abs(merged.rgb() - plate.rgb()).max(axis=-1)
        on_object = (truth > 0.99) & (hull > 0.99)
        bare = (truth == 0) & (hull > 0.99) & (occluder < 0.01)
        assert (change[bare] > 1e-3).mean() > 0.95  # the face around it is swapped
        if on_object.sum() > 20:  # the object stays in front: next to no face on it
            assert occluder[on_object].mean() > 0.8
            assert change[on_object].mean() < 0.15 * change[bare].mean()


def test_a_new_label_trains_a_new_version_from_the_last(shot):
    more = Labels(shot.labels.pattern, tuple(sorted(set(LABELLED) | {1005})))
    again = train_occlusion(shot.sample.pattern, shot.root, more, OcclusionTrainSettings(
        size=64, width=8, steps=5, minutes=1))
    assert os.path.basename(again.version) == "v002"
    assert store.read_card(again.version).parent == "v001"
    assert store.latest(shot.root) == again.version
    # The convert default follows the latest version, which has no mattes yet: say so.
    with pytest.raises(FaceplateError, match="occlusion predict"):
        convert_shot(shot.sample.pattern, shot.root, PassthroughModel(128), "plate",
                     os.path.join(shot.root, "x.####.exr"), settings=MergeSettings(mask="occlusion"))


def test_bad_labels_and_settings_say_what_to_do(shot, tmp_path):
    with pytest.raises(FaceplateError, match="no label frames"):
        find_labels(str(tmp_path / "none.####.exr"), None, "A")
    with pytest.raises(FaceplateError, match="missing frames 2000-2001"):
        find_labels(os.path.join(shot.root, "plate_matte.####.exr"), [1001, 2000, 2001], "A")
    with pytest.raises(FaceplateError, match="multiple of 8"):
        OcclusionTrainSettings(size=100)
    with pytest.raises(FaceplateError, match="between"):
        OcclusionTrainSettings(paste=2.0)
    with pytest.raises(FaceplateError, match="no occlusion model"):
        predict_occlusion(shot.sample.pattern, str(tmp_path))


def test_cli_trains_and_predicts(shot, tmp_path, capsys):
    from faceplate.cli import main

    assert main(["occlusion", "train", shot.root, "--labels", shot.labels.pattern,
                 "--label-frames", "1001,1010", "--steps", "3", "--size", "64", "--width", "8",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["labels"]["frames"] == [1001, 1010]
    assert main(["occlusion", "predict", shot.root, "--frames", "1001-1002"]) == 0
    assert "2 occlusion mattes" in capsys.readouterr().out
    # a user error is a message and exit status 2 (a traceback would fail the test here)
    assert main(["occlusion", "train", shot.root, "--labels", str(tmp_path / "x.####.exr")]) == 2
    assert "no label frames" in capsys.readouterr().err


def test_the_engine_trains_and_predicts_with_progress(shot, running):
    """What FaceMerge's Learn Occlusion asks of the engine, over a real socket."""
    from faceplate_client.protocol import EngineError

    client = running[0]
    events = []
    trained = client.call("occlusion_train", {
        "plate": shot.sample.pattern, "shot_dir": shot.root, "labels": shot.labels.pattern,
        "label_frames": "1001,1007", "steps": 4, "size": 64, "width": 8},
        on_progress=events.append)
    assert trained.params["steps"] == 4 and os.path.isdir(trained.params["version"])
    assert events and events[-1]["stage"] == "occlusion"
    predicted = client.call("occlusion_predict", {"plate": shot.sample.pattern,
                                                  "shot_dir": shot.root,
                                                  "frames": "1001-1003"})
    assert predicted.params["frames"] == [1001, 1002, 1003]
    with pytest.raises(EngineError, match="multiple of 8"):
        client.call("occlusion_train", {
            "plate": shot.sample.pattern, "shot_dir": shot.root,
            "labels": shot.labels.pattern, "label_frames": "1001", "size": 100})
