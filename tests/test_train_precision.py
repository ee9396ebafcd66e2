"""Precision auto on a CPU: measured once per machine and model shape, then read back."""

import json

import pytest
import torch
from faceplate.errors import FaceplateError
from faceplate.model.card import ModelCard
from faceplate.model.network import AutoEncoder
from faceplate.train import precision
from faceplate.train.trainer import Joint

torch.set_num_threads(1)


def tiny_step():
    card = ModelCard(identities=["a", "b"], resolution=64, encoder_widths=[4, 8, 8, 8],
                     latent=8, bridge=4, decoder_widths=[4, 4, 4])
    step = precision.probe_step(Joint(AutoEncoder(card)), 64, 1, 2, torch.device("cpu"))
    calls = []

    def counted(dtype):
        calls.append(dtype)
        step(dtype)

    return counted, calls


def test_auto_measures_once_then_reads_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEPLATE_CACHE", str(tmp_path / "faceplate"))
    step, calls = tiny_step()
    dtype, note = precision.choose("auto", torch.device("cpu"), step, "tiny 64px")
    assert dtype in (None, torch.bfloat16) and "measured now" in note
    assert calls.count(None) == 1 + precision.TIMED_STEPS and torch.bfloat16 in calls
    cached = json.loads((tmp_path / "faceplate" / "precision.json").read_text())
    (key, entry), = cached.items()
    assert key.endswith("| tiny 64px") and "threads" in key
    assert entry["choice"] == ("bf16" if dtype is torch.bfloat16 else "fp32")
    assert entry["fp32_s"] > 0 and entry["bf16_s"] > 0
    calls.clear()
    again, note = precision.choose("auto", torch.device("cpu"), step, "tiny 64px")
    assert again == dtype and "measured earlier" in note and calls == []
    precision.choose("auto", torch.device("cpu"), step, "other shape")  # another shape: timed
    assert calls and len(json.loads((tmp_path / "faceplate" / "precision.json").read_text())) == 2


def test_a_damaged_cache_is_measured_again_and_named_formats_are_checked(tmp_path,
                                                                        monkeypatch):
    monkeypatch.setenv("FACEPLATE_CACHE", str(tmp_path / "faceplate"))
    (tmp_path / "faceplate").mkdir()
    (tmp_path / "faceplate" / "precision.json").write_text("{not json")
    step, calls = tiny_step()
    _, note = precision.choose("auto", torch.device("cpu"), step, "tiny")
    assert "measured now" in note and calls
    assert precision.choose("fp32", torch.device("cpu")) == (None, "fp32")
    with pytest.raises(FaceplateError, match="fp16 needs a CUDA GPU"):
        precision.choose("fp16", torch.device("cpu"))
    with pytest.raises(FaceplateError, match="unknown precision"):
        precision.choose("int8", torch.device("cpu"))
