"""The production preset (512 px) end to end on the CPU: it builds, trains a few steps, saves,
resumes where it stopped and converts a plate; what it costs a step is in docs/training.md
(measured by bench/gpu.sh, not here)."""

import json

import numpy as np
import pytest
import torch
from faceplate.convert.face_size import face_scale
from faceplate.convert.pipeline import convert_shot
from faceplate.convert.settings import MergeSettings
from faceplate.convert.writer import read_provenance
from faceplate.extract import alignments as alignments_io
from faceplate.model.store import load_model
from faceplate.samples import make_shot, write_true_alignments
from faceplate.train.config import TrainConfig
from faceplate.train.presets import PRESETS
from faceplate.train.trainer import train
from test_train_data import sample_facesets

torch.set_num_threads(1)
CONSENT = "Public sample photos shipped with scikit-image and matplotlib."


def production(model_dir, steps: int) -> TrainConfig:
    # The preset's network at its own size; one face per identity a step keeps it quick.
    return TrainConfig.from_preset("production", facesets=sample_facesets(),
                                   model_dir=str(model_dir), consent=CONSENT, batch_size=1,
                                   max_steps=steps, precision="fp32", preview_every=0,
                                   checkpoint_every=1, log_every=1, keep_checkpoints=1)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_production_preset_trains_resumes_and_converts_at_512_px(tmp_path):
    model = tmp_path / "model"
    first = train(production(model, 1))
    assert (first.steps, first.preset) == (1, "production")
    card = json.loads((model / "card.json").read_text())
    assert card["resolution"] == 512 == PRESETS["production"]["resolution"]
    assert card["encoder_widths"] == PRESETS["production"]["encoder_widths"]

    again = train(production(model, 2))  # the same command with a later stop: resumes
    assert (again.steps, again.steps_this_run) == (2, 1)
    assert json.loads((model / "card.json").read_text())["iterations"] == 2

    sample = make_shot("astronaut", str(tmp_path / "plate"), frames=1, size=(480, 320),
                       face_px=110.0)
    shot = write_true_alignments(sample, str(tmp_path / "shot"))
    out = str(tmp_path / "o.####.exr")
    swapper = load_model(str(model), device="cpu")
    assert swapper.card.resolution == 512
    summary = convert_shot(sample.pattern.replace("%04d", "####"), shot, swapper,
                           "grace_hopper", out, settings=MergeSettings(mask="hull"))
    assert summary.count("swapped") == 1
    frame = sample.frames[0]
    meta = read_provenance(out.replace("####", str(frame)))
    assert meta["faceplate/model"] == swapper.card.model_id
    matrix = alignments_io.load(shot).frames[frame][0].matrix
    scale = float(meta["faceplate/face_scale"])
    assert scale == pytest.approx(face_scale(512, matrix), abs=1e-3) and scale > 1
    assert "warning" not in summary.face_scale  # 512 px is more than this face holds
    assert np.isfinite(scale)
