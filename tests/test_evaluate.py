"""Evaluating a model: held-out reconstruction scores and swap identity by dlib's recogniser."""

import json
import os

import cv2
import numpy as np
import pytest
import torch
from faceplate.model.card import ModelCard, ModelError
from faceplate.model.store import create_model
from faceplate.train.data import load_faceset
from faceplate.train.evaluate import SAME_PERSON, Recogniser, evaluate
from test_train import TINY, trained_model
from test_train_data import sample_facesets

torch.set_num_threads(1)


def test_the_recogniser_tells_the_two_sample_people_apart():
    sets = sample_facesets()
    rec = Recogniser()
    grace = load_faceset(sets["grace_hopper"], "g", 128)
    astro = load_faceset(sets["astronaut"], "a", 128)
    dg = rec.describe(grace.rgb()[:4], grace.landmarks[:4])
    da = rec.describe(astro.rgb()[:4], astro.landmarks[:4])
    assert dg.shape == (4, 128)
    assert np.linalg.norm(dg - dg[0], axis=1).max() < SAME_PERSON
    assert np.linalg.norm(da - dg[0], axis=1).min() > SAME_PERSON


def test_trained_model_scores_better_than_an_untrained_one(tmp_path):
    folder, _ = trained_model()
    sets = sample_facesets()
    report = evaluate(str(folder), sets, str(tmp_path / "eval"), device="cpu")
    card = {k: v for k, v in TINY.items() if k in ("resolution", "encoder_widths", "latent",
                                                   "bridge", "decoder_widths", "consent")}
    create_model(str(tmp_path / "raw"), ModelCard(identities=list(sets), **card))
    raw = evaluate(str(tmp_path / "raw"), sets, str(tmp_path / "raw_eval"), device="cpu")
    for trained, untrained in zip(report.identities, raw.identities):
        assert trained.held_out and trained.faces == 2  # faces 10 and 20 of 24
        assert trained.psnr_face > untrained.psnr_face + 3 and trained.ssim > untrained.ssim + 0.1
        assert trained.psnr > untrained.psnr
    assert [(s.source, s.target) for s in report.swaps] == [
        ("grace_hopper", "astronaut"), ("astronaut", "grace_hopper")]
    for s in report.swaps:
        assert 0 < s.distance_to_target < 2 and 0 <= s.reads_as_target <= 1
    saved = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert saved["iterations"] == 120 and saved["identities"][0]["identity"] == "grace_hopper"
    sheet = cv2.imread(str(tmp_path / "eval" / "evaluation.png"))
    assert sheet.shape[1] == 5 * 128 and sheet.std() > 20


def test_evaluate_cli_reports_and_rejects_unknown_identities(tmp_path, capsys):
    from faceplate.cli import main

    folder, _ = trained_model()
    sets = sample_facesets()
    with pytest.raises(ModelError, match="no identity 'nobody'"):
        evaluate(str(folder), {"nobody": sets["astronaut"]}, str(tmp_path))
    assert main(["evaluate", "-m", str(folder), "-o", str(tmp_path / "cli"),
                 *[a for n, d in sets.items() for a in ("--faceset", f"{n}={d}")]]) == 0
    out = capsys.readouterr().out
    assert "grace_hopper → astronaut" in out and "SSIM" in out
    assert os.path.isfile(tmp_path / "cli" / "evaluation.json")
