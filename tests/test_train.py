"""Training a small model on real faces: it learns, it resumes exactly, it survives kills and
damage, and what it writes for people to look at shows the right things."""

import atexit
import csv
import functools
import json
import os
import pathlib
import shutil
import tempfile
import threading

import cv2
import numpy as np
import pytest
import torch
from faceplate.errors import FaceplateError
from faceplate.train.checkpoint import CheckpointError, latest_checkpoint
from faceplate.train.data import load_faceset
from faceplate.train.trainer import TrainConfig, learning_rate, train
from safetensors.torch import load_file
from test_train_data import sample_facesets

torch.set_num_threads(1)

TINY = {"resolution": 64, "encoder_widths": [16, 32, 64, 128], "latent": 128, "bridge": 32,
        "decoder_widths": [32, 16, 16], "batch_size": 4, "learning_rate": 1e-3,
        "consent": "Public sample photos shipped with scikit-image and matplotlib."}


def config(model_dir, **kw) -> TrainConfig:
    return TrainConfig(facesets=sample_facesets(), model_dir=str(model_dir), **{**TINY, **kw})


def weights(model_dir) -> dict:
    return load_file(os.path.join(model_dir, "model.safetensors"))


def read_png(path) -> np.ndarray:
    return cv2.imread(str(path))[..., ::-1].astype(np.float32) / 255.0


@functools.cache
def trained_model():
    """One small run shared by the checks on learning, previews, the plot and evaluation."""
    root = tempfile.mkdtemp(prefix="faceplate-trained-")
    atexit.register(shutil.rmtree, root, True)
    folder = pathlib.Path(root) / "model"
    # From noise (no face prior), so the falling loss shows the loop learning the faces.
    result = train(config(folder, max_steps=120, preview_every=60, checkpoint_every=60,
                          log_every=10, face_prior=False))
    return folder, result


@pytest.fixture
def trained():
    return trained_model()


def test_loss_falls_clearly_within_a_few_hundred_steps(trained):
    folder, result = trained
    assert result.steps == 120 and result.stopped_by == "max_steps"
    with open(folder / "loss.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == list(range(10, 121, 10))
    for name in sample_facesets():
        first, last = float(rows[0][f"loss_{name}"]), float(rows[-1][f"loss_{name}"])
        assert last < 0.7 * first, (name, first, last)
    card = (folder / "card.json").read_text()
    assert '"iterations": 120' in card and "scikit-image" in card
    assert sorted(os.listdir(folder / "checkpoints")) == ["step_00000060", "step_00000120"]


def test_preview_shows_faces_reconstructions_and_masks_in_place(trained):
    folder, _ = trained
    sheet = read_png(folder / "preview.png")
    assert sorted(os.listdir(folder / "previews")) == [
        "preview_00000060.png", "preview_00000120.png"]
    tile, label = 128, 22  # 64 px crops shown at 128; a label band above each identity
    assert sheet.shape == (2 * (label + 3 * tile), 5 * tile, 3)
    for block, name in enumerate(sample_facesets()):
        top = block * (label + 3 * tile) + label
        fs = load_faceset(sample_facesets()[name], name, 64)
        face_mask = cv2.resize(fs.pixels[0, ..., 3], (tile, tile)) > 127
        row = sheet[top:top + tile]
        face, recon, swap, mask, swap_mask = (row[:, i * tile:(i + 1) * tile] for i in range(5))
        # The reconstruction follows the face inside the mask better than the other identity.
        err_own = np.abs(recon - face)[face_mask].mean()
        err_swap = np.abs(swap - face)[face_mask].mean()
        assert err_own < 0.12 and err_own < err_swap, (name, err_own, err_swap)
        # The learned masks are bright on the face and dark outside it.
        for m in (mask, swap_mask):
            assert m[face_mask].mean() > 0.6 and m[~face_mask].mean() < 0.35
        # The label band carries text (light pixels on the dark band).
        assert sheet[top - label:top].max() > 0.6 and np.median(sheet[top - label:top]) < 0.2


def test_loss_plot_draws_one_falling_line_per_identity(trained):
    folder, _ = trained
    plot = read_png(folder / "loss.png")
    assert plot.shape[:2] == (400, 700)
    colours = {"C0": (0.122, 0.467, 0.706), "C1": (1.0, 0.498, 0.055)}
    for rgb in colours.values():
        hit = np.all(np.abs(plot - rgb) < 0.08, axis=-1)
        ys, xs = np.nonzero(hit)
        assert len(xs) > 200  # a drawn line, not a legend swatch alone
        left, right = xs < np.percentile(xs, 20), xs > np.percentile(xs, 80)
        assert ys[left].mean() < ys[right].mean()  # falling: higher on the left (y grows down)


def test_stopped_and_resumed_run_ends_with_the_same_weights(tmp_path):
    # A run stopped by a smaller --steps follows another cosine: compare at a constant rate.
    straight = tmp_path / "straight"
    train(config(straight, max_steps=6, checkpoint_every=3, preview_every=0, log_every=2,
                 schedule="constant"))
    resumed = tmp_path / "resumed"
    first = train(config(resumed, max_steps=3, preview_every=0, log_every=2,
                         schedule="constant"))
    assert first.steps == 3  # stopped mid-way through a loss-history window
    second = train(config(resumed, max_steps=6, preview_every=0, log_every=2,
                          schedule="constant"))
    assert second.steps == 6 and second.steps_this_run == 3
    a, b = weights(straight), weights(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    def losses(folder):  # the history without its wall-clock column
        with open(folder / "loss.csv") as fh:
            return [{k: v for k, v in row.items() if k != "elapsed_s"} for row in csv.DictReader(fh)]

    assert losses(straight) == losses(resumed) and len(losses(straight)) == 3


def test_damaged_checkpoint_is_reported_and_the_previous_one_used(tmp_path, caplog):
    folder = tmp_path / "m"
    train(config(folder, max_steps=4, checkpoint_every=2, preview_every=0, log_every=2))
    newest = folder / "checkpoints" / "step_00000004" / "state.safetensors"
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    newest.write_bytes(bytes(data))
    assert latest_checkpoint(str(folder / "checkpoints")).step == 2
    assert "step_00000004 is damaged" in caplog.text
    result = train(config(folder, max_steps=5, preview_every=0, log_every=1,
                          learning_rate=2e-4, schedule="constant", warmup_steps=0))
    # (a resumed run may lower the rate)
    assert result.steps == 5 and result.steps_this_run == 3
    meta = json.loads((folder / "checkpoints" / "step_00000005" / "state.json").read_text())
    assert meta["param_groups"][0]["lr"] == 2e-4
    for step in ("step_00000002", "step_00000005"):
        shutil.rmtree(folder / "checkpoints" / step)
    (folder / "checkpoints" / "step_00000004" / "state.json").write_text("{")
    with pytest.raises(CheckpointError, match="Delete the folder"):
        train(config(folder, max_steps=6))


def test_stop_event_loss_target_and_bf16(tmp_path):
    stop = threading.Event()
    events = []

    def listener(event):
        events.append(event)
        if event.done == 2:
            stop.set()

    result = train(config(tmp_path / "a", preview_every=0, log_every=1, precision="bf16"),
                   progress_listener=listener, stop_event=stop)
    assert result.stopped_by == "stop_event" and result.steps == 2
    assert all(np.isfinite(v) for v in result.losses.values())
    assert events[-1].stage == "train" and "grace_hopper" in events[-1].message
    result = train(config(tmp_path / "b", loss_target=10.0, log_every=2, preview_every=0))
    assert result.stopped_by == "loss_target" and result.steps == 2
    assert os.path.isfile(result.preview)  # written at the end whatever stopped it


def test_new_model_needs_consent_and_matching_identities(tmp_path):
    with pytest.raises(FaceplateError, match="consent note"):
        train(config(tmp_path / "m", consent="  ", max_steps=1))
    train(config(tmp_path / "m", max_steps=1, preview_every=0))
    sets = sample_facesets()
    other = TrainConfig(facesets={"grace_hopper": sets["grace_hopper"], "x": sets["astronaut"]},
                        model_dir=str(tmp_path / "m"), max_steps=2)
    with pytest.raises(FaceplateError, match="trained on identities grace_hopper, astronaut"):
        train(other)
    with pytest.raises(FaceplateError, match="unknown preset"):
        TrainConfig.from_preset("huge", facesets=sets, model_dir="x")
    with pytest.raises(FaceplateError, match="unknown training option.*learning_rate"):
        TrainConfig.from_preset("demo", facesets=sets, model_dir="x", lr=1.0)
    demo = TrainConfig.from_preset("demo", facesets=sets, model_dir="x", augment={"flip": 0.5})
    assert demo.preset == "demo" and demo.resolution == 64 and demo.augment.flip == 0.5
    assert demo.augment.warp == 0.025  # the fields not given keep the preset's


def test_a_new_model_starts_from_each_identitys_mean_training_face(tmp_path):
    from faceplate.model.store import load_model

    train(config(tmp_path / "m", max_steps=1, learning_rate=1e-9, preview_every=0, ema=0.0))
    model = load_model(str(tmp_path / "m"), device="cpu")
    assert model.card.face_prior
    for j, name in enumerate(model.card.identities):
        fs = load_faceset(sample_facesets()[name], name, 64)
        train_idx, held = fs.split()
        mean = fs.pixels[train_idx].astype(np.float32).mean(0) / 255.0
        face, mask = model.swap(fs.rgb()[held], j)
        assert np.abs(face - mean[..., :3]).max() < 0.02, name
        assert np.abs(mask - mean[..., 3]).max() < 0.02, name


def test_interrupted_run_resumes_on_its_schedule_and_weight_average(tmp_path):
    """Warm-up, cosine and the weight average (what model.safetensors holds) all resume
    exactly: a run stopped after 3 of 6 steps ends where an unbroken one does."""
    straight = tmp_path / "straight"
    kw = {"max_steps": 6, "preview_every": 0, "log_every": 2, "warmup_steps": 2, "ema": 0.9}
    train(config(straight, **kw))
    stop = threading.Event()
    resumed = tmp_path / "resumed"
    first = train(config(resumed, **kw),
                  progress_listener=lambda e: stop.set() if e.done == 3 else None,
                  stop_event=stop)
    assert first.stopped_by == "stop_event" and first.steps == 3
    assert train(config(resumed, **kw)).steps == 6
    a, b = weights(straight), weights(resumed)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_saved_weights_are_the_weight_average_and_load_back(tmp_path):
    from faceplate.model.store import load_model

    folder = tmp_path / "m"
    train(config(folder, max_steps=4, preview_every=0, ema=0.5, warmup_steps=0))
    state = load_file(str(folder / "checkpoints" / "step_00000004" / "state.safetensors"))
    saved = weights(folder)
    assert all(torch.equal(saved[k], state[f"ema.{k}"]) for k in saved)
    assert any(not torch.equal(saved[k], state[f"model.{k}"]) for k in saved)
    model = load_model(str(folder), device="cpu")
    assert model.card.ema == 0.5
    assert all(torch.equal(v, saved[k]) for k, v in model.network.state_dict().items())
    plain = tmp_path / "plain"
    train(config(plain, max_steps=2, preview_every=0, ema=0.0))
    state = load_file(str(plain / "checkpoints" / "step_00000002" / "state.safetensors"))
    assert not any(k.startswith("ema.") for k in state)
    assert all(torch.equal(v, state[f"model.{k}"]) for k, v in weights(plain).items())


def test_holdout_is_chosen_recorded_and_said(tmp_path, caplog):
    caplog.set_level("INFO")
    folder = tmp_path / "m"
    result = train(config(folder, max_steps=1, preview_every=0, holdout=5))
    assert result.held_out == {"grace_hopper": 5, "astronaut": 5}
    card = json.loads((folder / "card.json").read_text())
    assert card["holdout"] == 5 and card["held_out"] == {"grace_hopper": 5, "astronaut": 5}
    assert "grace_hopper: training on 19 faces, holding 5 out for evaluation" in caplog.text
    none = train(config(tmp_path / "none", max_steps=1, preview_every=0, holdout=0))
    assert none.held_out == {"grace_hopper": 0, "astronaut": 0}


def test_learning_rate_warms_up_then_follows_a_cosine():
    c = TrainConfig(facesets={}, model_dir="x", learning_rate=1e-3, warmup_steps=10,
                    schedule="cosine", min_lr=0.1)
    assert learning_rate(c, 0, 0.0) == pytest.approx(1e-4)
    assert learning_rate(c, 9, 0.0) == pytest.approx(1e-3)
    assert learning_rate(c, 500, 0.5) == pytest.approx(0.55e-3)
    assert learning_rate(c, 900, 1.0) == pytest.approx(1e-4)
    assert learning_rate(c, 900, 3.0) == pytest.approx(1e-4)  # past the end: the floor
    c.schedule = "constant"
    assert learning_rate(c, 900, 1.0) == pytest.approx(1e-3)
    c.schedule = "linear"
    with pytest.raises(FaceplateError, match="unknown schedule"):
        learning_rate(c, 0, 0.0)


def test_auto_preset_is_chosen_from_device_and_time_budget(caplog):
    from faceplate.train.presets import choose_preset

    assert choose_preset("cpu", 360.0)[0] == "fast"
    assert choose_preset("cpu", None)[0] == "fast"
    assert choose_preset("cpu", 5 * 3600.0)[0] == "standard"
    assert choose_preset("cuda", 3600.0)[0] == "standard"
    assert choose_preset("cuda", None)[0] == "high"
    caplog.set_level("INFO")
    chosen = TrainConfig.from_preset("auto", facesets=sample_facesets(), model_dir="x",
                                     device="cpu", time_budget_s=360.0)
    assert chosen.preset == "fast" and chosen.resolution == 64
    assert "preset auto: fast (CPU and a 6-minute budget" in caplog.text
