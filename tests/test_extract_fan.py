"""The fan backend starts from weight files a studio placed, and never reaches for the network.

Trained weights cannot be downloaded here, so the files are face-alignment's own S3FD and FAN
networks with random weights, saved under the real file names: enough to prove the loader finds
and loads them, and that the networks run end to end with the right shapes.
"""

import socket

import numpy as np
import pytest
import torch
from faceplate.extract.backends import BackendError, get_backend
from faceplate.extract.backends.fan_backend import FAN_FILE, S3FD_FILE, FanBackend


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    from face_alignment.detection.sfd.net_s3fd import s3fd
    from face_alignment.models import FAN

    torch.manual_seed(0)
    home = tmp_path_factory.mktemp("torch_home")
    folder = home / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(s3fd().state_dict(), folder / S3FD_FILE)
    fan = FAN(4)
    torch.save(fan.state_dict(), folder / FAN_FILE)
    return home, fan.state_dict()


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("the fan backend tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.delenv("FACEPLATE_WEIGHTS", raising=False)


def test_auto_picks_fan_from_placed_weights_and_runs_offline(random_weights, offline,
                                                              monkeypatch):
    home, fan_state = random_weights
    monkeypatch.setenv("TORCH_HOME", str(home))
    torch.set_num_threads(1)
    backend = get_backend("auto", device="cpu")
    assert isinstance(backend, FanBackend) and backend.name == "fan"
    assert backend.weights[FAN_FILE] == str(home / "hub" / "checkpoints" / FAN_FILE)
    loaded = backend._fan.state_dict()
    for key in list(fan_state)[:5]:
        assert torch.equal(loaded[key], fan_state[key])

    rgb = np.random.default_rng(0).uniform(0, 1, (240, 320, 3)).astype(np.float32)
    boxes = backend.find_boxes(rgb)
    assert isinstance(boxes, list)
    for (x0, y0, x1, y1), score in boxes:
        assert x1 > x0 and y1 > y0 and 0.5 <= score <= 1.0
    landmarks = backend.landmarks_in_box(rgb, (100.0, 60.0, 200.0, 180.0))
    assert landmarks.shape == (68, 2) and np.isfinite(landmarks).all()
    # Landmarks come from FAN's crop around the box (raised 12 %, side (w + h)·200/195):
    # whatever random weights say, they cannot leave that square.
    centre = np.array([150.0, 120.0 - 0.12 * 120.0])
    half = (100.0 + 120.0) * 200.0 / 195.0 / 2
    assert np.abs(landmarks - centre).max() <= half + 1.0


def test_missing_weights_name_each_file_and_where_it_goes(tmp_path, offline, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(BackendError) as err:
        get_backend("fan", device="cpu")
    message = str(err.value)
    assert S3FD_FILE in message and FAN_FILE in message
    assert str(tmp_path / "hub" / "checkpoints") in message and "--download-weights" in message
    assert get_backend("auto").name == "dlib"


def test_weights_folder_option_and_damaged_files(random_weights, tmp_path, offline, monkeypatch):
    home, _ = random_weights
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    placed = home / "hub" / "checkpoints"
    assert get_backend("fan", device="cpu", weights_dir=str(placed)).name == "fan"
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / S3FD_FILE).write_bytes(b"not a checkpoint")
    (damaged / FAN_FILE).write_bytes((placed / FAN_FILE).read_bytes()[:1000])
    with pytest.raises(BackendError, match="cannot load weights"):
        get_backend("fan", device="cpu", weights_dir=str(damaged))
