"""Growing a model to the next size (``faceplate train --grow-to``): a tiny model grown
64 → 128 → 256 starts as the smaller one upscaled, survives kill -9 in each rung (mid-fade
included) to end with the weights of an unbroken run; a new model made to grow trains its first
size, grows and converts a plate; folders written before growth existed load and swap as they
did; what cannot grow says why."""

import functools
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from faceplate.errors import FaceplateError
from faceplate.model.card import ModelCard
from faceplate.model.network import AutoEncoder, grow
from faceplate.model.store import load_model
from faceplate.train.checkpoint import latest_checkpoint
from faceplate.train.trainer import TrainConfig, train
from safetensors.torch import load_file
from test_train import TINY
from test_train_data import sample_facesets

torch.set_num_threads(1)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# Each rung: 4 steps, fading in over the first 3, a checkpoint every 2 (the base ends at 4).
RUNG = {"max_steps": 4, "grow_to": 256, "fade_steps": 3, "checkpoint_every": 2}
# A child process that trains and kills itself (SIGKILL: no handler, no save) after the third
# step of the rung at the given size: its newest checkpoint is the rung's second step, mid-fade.
KILLER = """
import json, os, signal, sys
from faceplate.train.trainer import TrainConfig, train
kw, size = json.loads(sys.argv[1]), int(sys.argv[2])
card = os.path.join(kw["model_dir"], "card.json")
def listen(event):
    if event.done == 3 and json.load(open(card))["resolution"] == size:
        os.kill(os.getpid(), signal.SIGKILL)
train(TrainConfig(**kw), progress_listener=listen)
"""


def settings(model_dir, **kw) -> dict:
    return {"facesets": sample_facesets(), "model_dir": str(model_dir), **TINY,
            "batch_size": 2, "precision": "fp32", "preview_every": 0, "log_every": 2,
            "ema": 0.9, **kw}


@functools.cache
def base_model(root: str) -> str:
    """A tiny 64 px model trained 4 steps (copied by each test that grows it)."""
    folder = os.path.join(root, "base")
    train(TrainConfig(**settings(folder, max_steps=4)))
    return folder


@pytest.fixture
def base(tmp_path_factory):
    return base_model(str(tmp_path_factory.getbasetemp()))


def copy_of(base: str, folder) -> str:
    shutil.copytree(base, folder)
    return str(folder)


def weights(folder) -> dict:
    return load_file(os.path.join(folder, "model.safetensors"))


def test_a_grown_model_starts_as_the_smaller_one_upscaled():
    card = ModelCard.for_resolution(["a", "b"], 64, encoder_widths=[8, 16, 32, 32], latent=32,
                                    bridge=16, decoder_widths=[16, 8, 8], face_prior=True,
                                    iterations=7)
    torch.manual_seed(0)
    small = AutoEncoder(card)
    with torch.no_grad():
        for p in small.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    grown, state = grow(card, small.state_dict(), 8, fade_steps=10)
    assert (grown.ladder, grown.resolution, grown.grown_at, grown.fade()) == ([64, 128], 128, 7, 0)
    assert grown.fade(12) == 0.5 and grown.fade(30) == 1.0
    assert grown.to_dict()["version"] == 4 and card.to_dict()["version"] == 3
    big = AutoEncoder(grown)
    big.load_state_dict(state)
    x = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        face, mask = small(F.avg_pool2d(x, 2), 1)
        for fade in (0.0, 1.0):  # the new paths start at zero, so the fade changes nothing yet
            big.set_fade(fade)
            face2, mask2 = big(x, 1)
            for a, b in ((face, face2), (mask, mask2)):
                up = F.interpolate(torch.logit(a), scale_factor=2, mode="bilinear")
                torch.testing.assert_close(torch.logit(b), up, atol=1e-4, rtol=0)
    again, _ = grow(grown, state, 8, fade_steps=10)
    assert again.ladder == [64, 128, 256] and again.grow_widths == [8, 8]
    assert ModelCard.from_dict(again.to_dict()) == again


def test_growth_resumes_after_kill_9_in_every_rung_to_the_same_weights(base, tmp_path):
    straight = copy_of(base, tmp_path / "straight")
    result = train(TrainConfig(**settings(straight, **RUNG)))
    assert result.ladder == [64, 128, 256] and result.steps == 12
    assert result.steps_this_run == 8 and result.stopped_by == "max_steps"
    card = json.loads((tmp_path / "straight" / "card.json").read_text())
    assert (card["version"], card["resolution"], card["ladder"], card["grown_at"]) == \
        (4, 256, [64, 128, 256], 8)
    assert card["fade_steps"] == 3 and card["iterations"] == 12

    killed = copy_of(base, tmp_path / "killed")
    kw = json.dumps(settings(killed, **RUNG))
    for size, mid_fade in ((128, 6), (256, 10)):  # the same command each time
        proc = subprocess.run([sys.executable, "-c", KILLER, kw, str(size)], check=False,
                              env=ENV, capture_output=True, text=True, timeout=120)
        assert proc.returncode == -9, proc.stderr[-2000:]
        newest = latest_checkpoint(os.path.join(killed, "checkpoints"))
        card = ModelCard.from_dict(newest.meta["card"])
        assert (newest.step, card.resolution, card.fade(newest.step)) == (mid_fade, size, 2 / 3)
    again = train(TrainConfig(**settings(killed, **RUNG)))
    assert again.steps == 12 and again.ladder == [64, 128, 256]
    a, b = weights(straight), weights(killed)
    assert a.keys() == b.keys() and any("rungs.1" in k for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # Done: the same command again trains nothing more.
    assert train(TrainConfig(**settings(killed, **RUNG))).steps_this_run == 0


def test_a_new_model_made_to_grow_trains_its_first_size_then_grows_and_converts(tmp_path):
    from faceplate.convert.pipeline import convert_shot
    from faceplate.convert.settings import MergeSettings
    from faceplate.samples import make_shot, write_true_alignments

    folder = str(tmp_path / "m")
    result = train(TrainConfig(**settings(folder, max_steps=1, grow_to=128, fade_steps=0)))
    assert (result.steps, result.steps_this_run, result.ladder) == (2, 2, [64, 128])
    model = load_model(folder, device="cpu")
    assert (model.card.grown_at, model.network.encoder.fade) == (1, 1.0)
    sample = make_shot("astronaut", str(tmp_path / "plate"), frames=1, size=(320, 240),
                       face_px=100.0)
    shot = write_true_alignments(sample, str(tmp_path / "shot"))
    summary = convert_shot(sample.pattern.replace("%04d", "####"), shot, model,
                           "grace_hopper", str(tmp_path / "o.####.exr"),
                           settings=MergeSettings(mask="hull"))
    assert summary.count("swapped") == 1


def test_a_folder_from_before_growth_loads_swaps_and_trains_as_it_did(base, tmp_path):
    folder = copy_of(base, tmp_path / "old")
    card = json.loads((tmp_path / "old" / "card.json").read_text())
    assert card["version"] == 3  # a model never grown is still written as version 3
    for key in ("ladder", "grow_widths", "grown_at", "fade_steps"):
        card.pop(key)
    with open(os.path.join(folder, "card.json"), "w") as fh:
        json.dump(card, fh)
    model = load_model(folder, device="cpu")
    assert model.card.ladder == [] and not any("rungs" in k for k in model.network.state_dict())
    # The network as it was written before growth: heads plus prior, through a sigmoid.
    net = model.network
    crops = np.random.default_rng(0).random((2, 64, 64, 3), dtype=np.float32)
    with torch.no_grad():
        dec = net.decoders[1]
        x = dec.body(net.encoder(torch.from_numpy(crops).permute(0, 3, 1, 2)))
        face = torch.sigmoid(dec.face(x) + dec.prior[:3]).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(model.swap(crops, 1)[0], face)
    assert train(TrainConfig(**settings(folder, max_steps=5))).steps == 5  # resumes as before


def test_what_cannot_grow_says_why(base, tmp_path):
    folder = copy_of(base, tmp_path / "m")
    for kw, words in (({"grow_to": 128}, "for --steps or --time"),
                      ({"grow_to": 192, "max_steps": 1}, "from 64 px it grows to 128, 256, 512"),
                      ({"grow_to": 64, "max_steps": 1}, "already 64 px")):
        with pytest.raises(FaceplateError, match=words):
            train(TrainConfig(**settings(folder, **kw)))
    with pytest.raises(FaceplateError, match="from 64 px it grows to 128, 256, 512"):
        train(TrainConfig(**settings(tmp_path / "new", grow_to=96, max_steps=1)))
    sets = dict(sample_facesets())
    heads = shutil.copytree(sets["astronaut"], tmp_path / "heads")
    index = json.loads((heads / "faceset.json").read_text())
    (heads / "faceset.json").write_text(json.dumps({**index, "face_type": "head"}))
    sets["astronaut"] = str(heads)
    with pytest.raises(FaceplateError, match="face set astronaut=.* is head"):
        train(TrainConfig(**{**settings(folder, grow_to=128, max_steps=1), "facesets": sets}))
    train(TrainConfig(**settings(folder, grow_to=128, max_steps=1)))
    with pytest.raises(FaceplateError, match="128 px: a model only grows"):
        train(TrainConfig(**settings(folder, grow_to=64, max_steps=1)))
    assert json.loads((tmp_path / "m" / "card.json").read_text())["ladder"] == [64, 128]

