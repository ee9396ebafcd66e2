"""A model folder: card + safetensors weights, loaded back bit-exact, swapping faces."""

import json
import os

import numpy as np
import pytest
import torch
from faceplate.model.card import ModelCard, ModelError
from faceplate.model.network import AutoEncoder
from faceplate.model.store import create_model, load_model, save_model
from faceplate_client import layout

torch.set_num_threads(1)


def tiny_card(**kw) -> ModelCard:
    base = {"identities": ["grace", "astronaut"], "resolution": 64,
            "encoder_widths": [8, 16, 32, 32], "latent": 32, "bridge": 16,
            "decoder_widths": [16, 8, 8],
            "consent": "Sample photos bundled with scikit-image and matplotlib."}
    return ModelCard(**{**base, **kw}).validate()


def test_every_supported_resolution_builds_with_default_widths():
    for r in (64, 96, 160, 224):
        card = ModelCard.for_resolution(["a", "b"], r).validate()
        face, mask = AutoEncoder(card)(torch.zeros(1, 3, r, r), 1)
        assert face.shape == (1, 3, r, r) and mask.shape == (1, 1, r, r)


@pytest.mark.parametrize("kw, words", [
    ({"resolution": 100}, "steps of 32"),
    ({"resolution": 544}, "64 to 512"),
    ({"identities": ["solo"]}, "two or more"),
    ({"decoder_widths": [8, 8]}, "need 3 decoder widths"),
])
def test_bad_settings_say_what_to_change(kw, words):
    with pytest.raises(ModelError, match=words):
        tiny_card(**kw)


def test_saved_model_loads_bit_exact_and_records_its_card(tmp_path):
    made = create_model(str(tmp_path / "m"), tiny_card(), seed=3)
    loaded = load_model(str(tmp_path / "m"), device="cpu")
    card = json.loads((tmp_path / "m" / "card.json").read_text())
    assert card["schema"] == "faceplate.model" and card["consent"].startswith("Sample photos")
    assert loaded.card == made.card and loaded.identities == ["grace", "astronaut"]
    for (k, a), (_, b) in zip(made.network.state_dict().items(),
                              loaded.network.state_dict().items()):
        assert torch.equal(a, b), k
    # The file is plain safetensors (no pickle): its header is JSON.
    raw = (tmp_path / "m" / "model.safetensors").read_bytes()
    header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])
    assert header["__metadata__"]["model_id"] == made.card.model_id


def test_swap_decodes_with_the_other_identity(tmp_path):
    model = create_model(str(tmp_path / "m"), tiny_card(), seed=0)
    crops = np.random.default_rng(0).random((5, 64, 64, 3), dtype=np.float32)
    model.batch_size = 2  # batched internally: 5 crops in three batches
    faces, masks = model.swap(crops, "astronaut")
    same, _ = model.swap(crops, "grace")
    assert faces.shape == (5, 64, 64, 3) and masks.shape == (5, 64, 64)
    assert faces.dtype == np.float32 and 0 <= faces.min() and faces.max() <= 1
    assert np.abs(faces - same).mean() > 1e-4  # two decoders, two answers
    one, _ = model.swap(crops[3], 1)
    np.testing.assert_allclose(one[0], faces[3], atol=1e-5)
    with pytest.raises(ModelError, match="no identity 'nobody'"):
        model.swap(crops, "nobody")
    with pytest.raises(ModelError, match="N×64×64×3"):
        model.swap(np.zeros((1, 32, 32, 3), np.float32), 0)


def test_damaged_or_mismatched_weights_give_a_clear_error(tmp_path):
    folder = tmp_path / "m"
    model = create_model(str(folder), tiny_card())
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(ModelError, match="damaged"):
        load_model(str(folder), device="cpu")
    save_model(str(folder), model.card, AutoEncoder(tiny_card(latent=48)))
    with pytest.raises(ModelError, match="do not match its card"):
        load_model(str(folder), device="cpu")
    with pytest.raises(ModelError, match="not found"):
        load_model(str(tmp_path / "missing"))
    assert not [f for f in os.listdir(folder) if f.endswith(".tmp")]


def test_a_version_1_model_folder_still_loads_and_swaps(tmp_path):
    """Folders written before card version 2 have no decoder_blocks/ema/holdout fields: they
    read as the network they were (no residual blocks) and every 10th face held out."""
    folder = tmp_path / "old"
    made = create_model(str(folder), tiny_card(), seed=1)
    card = json.loads((folder / "card.json").read_text())
    for key in ("decoder_blocks", "ema", "holdout", "held_out"):
        card.pop(key)
    card["version"] = 1
    (folder / "card.json").write_text(json.dumps(card))
    loaded = load_model(str(folder), device="cpu")
    assert loaded.card.decoder_blocks == 0 and loaded.card.holdout == 0.1
    crops = np.random.default_rng(1).random((2, 64, 64, 3), dtype=np.float32)
    np.testing.assert_array_equal(loaded.swap(crops, 1)[0], made.swap(crops, 1)[0])


def test_residual_decoder_blocks_are_in_the_card_and_the_weights(tmp_path):
    plain, deep = tiny_card(), tiny_card(decoder_blocks=2)
    assert not any(k.count("body.") == 2 for k in AutoEncoder(plain).state_dict())
    assert any(k.count("body.") == 2 for k in AutoEncoder(deep).state_dict())
    model = create_model(str(tmp_path / "m"), deep)
    assert load_model(str(tmp_path / "m"), device="cpu").card.decoder_blocks == 2
    assert sum(p.numel() for p in model.network.parameters()) > \
        sum(p.numel() for p in AutoEncoder(plain).parameters())
    with pytest.raises(ModelError, match="decoder_blocks 9"):
        tiny_card(decoder_blocks=9)
    card = json.loads((tmp_path / "m" / "card.json").read_text())
    card["version"] = layout.MODEL_VERSION + 1
    (tmp_path / "m" / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="written by a newer Faceplate"):
        load_model(str(tmp_path / "m"), device="cpu")


def test_a_face_prior_decoder_starts_as_its_mean_face_and_keeps_its_prior(tmp_path):
    """Version 3: each decoder adds a learned image to its heads' logits, started at the
    identity's mean face and mask, with the heads at zero: a new model answers the mean face
    whatever it is shown. Cards without the field (version 2) read as without a prior."""
    card = tiny_card(face_prior=True)
    net = AutoEncoder(card)
    mean = torch.from_numpy(np.random.default_rng(2).uniform(0.1, 0.9, (4, 64, 64))
                            .astype(np.float32))
    net.decoders[1].start_prior(mean)
    x = torch.rand(3, 3, 64, 64)
    face, mask = net(x, 1)
    torch.testing.assert_close(face, mean[:3].expand(3, 3, 64, 64), atol=1e-5, rtol=0)
    torch.testing.assert_close(mask, mean[3:].expand(3, 1, 64, 64), atol=1e-5, rtol=0)
    save_model(str(tmp_path / "p"), card, net)
    loaded = load_model(str(tmp_path / "p"), device="cpu")
    assert loaded.card.face_prior is True
    torch.testing.assert_close(loaded.network.decoders[1].prior, net.decoders[1].prior)
    old = json.loads((tmp_path / "p" / "card.json").read_text())
    assert old["version"] == 3
    plain = tiny_card()
    assert "decoders.0.prior" not in AutoEncoder(plain).state_dict()
    folder = tmp_path / "v2"
    create_model(str(folder), plain, seed=1)
    data = json.loads((folder / "card.json").read_text())
    data.pop("face_prior")
    data["version"] = 2
    (folder / "card.json").write_text(json.dumps(data))
    assert load_model(str(folder), device="cpu").card.face_prior is False
    with pytest.raises(ModelError, match="face_prior must be true or false"):
        tiny_card(face_prior="yes")
