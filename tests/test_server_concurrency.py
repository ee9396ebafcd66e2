"""Several Nuke sessions at once: 8 clients × 50 frames against one real engine, every answer
checked against the stage functions run locally; swaps from different clients share a batch."""

from __future__ import annotations

import functools
import socket
import threading

import numpy as np
import pytest
from engine_helpers import running_engine, tiny_model
from faceplate.face.align import alignment_matrix
from faceplate.face.crop import aligned_crop, model_input
from faceplate.io.colour import ColourSpaces
from faceplate.server.arrays import from_numpy, to_numpy
from faceplate_client import paths
from faceplate_client import protocol as p
from faceplate_client.client import EngineClient

CLIENTS, FRAMES, SIZE = 8, 50, 64


def _run_clients(work) -> list:
    """Run ``work(index)`` on CLIENTS threads at once; re-raise the first failure."""
    results: list = [None] * CLIENTS
    errors: list[BaseException] = []
    start = threading.Barrier(CLIENTS)

    def body(i: int) -> None:
        try:
            start.wait()
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    if errors:
        raise errors[0]
    return results


def _face_landmarks(rng: np.random.Generator) -> np.ndarray:
    """A plausible face: the mean face at a random scale, angle and place, plus jitter."""
    base = np.array([[np.cos(a), np.sin(a)] for a in np.linspace(0, 2 * np.pi, 68)])
    base[17:] *= rng.uniform(0.3, 0.8, (51, 1))
    angle = rng.uniform(-0.5, 0.5)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return base @ rot.T * rng.uniform(10, 25) + rng.uniform(20, 44, 2) + rng.normal(0, 0.3,
                                                                                   (68, 2))


def test_eight_clients_fifty_frames_each_all_correct(running):
    """align on inline frames: matrices and crops must be exactly what the stage computes."""
    space = "sRGB Encoded Rec.709 (sRGB)"
    colour = ColourSpaces(space)
    first = running[0]
    socket_path, token_path = str(first.address), first.token_path

    def work(i: int) -> int:
        rng = np.random.default_rng(100 + i)
        checked = 0
        with EngineClient(socket_path, token_path, autostart=False,
                          client_name=f"nuke-{i}") as client:
            for _ in range(FRAMES):
                image = rng.uniform(0, 1, (SIZE, SIZE, 3)).astype(np.float32)
                points = _face_landmarks(rng)
                reply = client.call("align", {"face_type": "whole_face", "size": SIZE,
                                              "colourspace": space},
                                    {"landmarks": from_numpy(points[None]),
                                     "image": from_numpy(image)})
                want = alignment_matrix(points, "whole_face")
                np.testing.assert_allclose(to_numpy(reply.arrays["matrices"])[0], want,
                                           rtol=1e-10, atol=1e-12)
                crop = model_input(aligned_crop(image, want, SIZE, colour.to_network))
                np.testing.assert_allclose(to_numpy(reply.arrays["crops"])[0], crop, atol=1e-6)
                checked += 1
        return checked

    assert _run_clients(work) == [FRAMES] * CLIENTS
    status = first.status()
    assert status["requests_served"] >= CLIENTS * FRAMES
    assert status["queue"] == []


def test_swaps_from_several_clients_share_a_batch_and_stay_correct(tmp_path):
    store = pytest.importorskip("faceplate.model.store")

    model_dir = tiny_model(str(tmp_path / "model"), ("a", "b"), "test fixture: random crops")
    local = store.load_model(model_dir, device="cpu")
    with running_engine(tmp_path) as first:
        socket_path, token_path = str(first.address), first.token_path
        first.call("load", {"model": model_dir})

        def work(i: int) -> list[int]:
            rng = np.random.default_rng(i)
            batched = []
            with EngineClient(socket_path, token_path, autostart=False) as client:
                for _ in range(6):
                    crops = rng.uniform(0, 1, (2, 64, 64, 3)).astype(np.float32)
                    reply = client.call("swap", {"model": model_dir, "identity": "b"},
                                        {"crops": from_numpy(crops)})
                    faces, masks = local.swap(crops, "b")
                    np.testing.assert_allclose(to_numpy(reply.arrays["faces"]), faces,
                                               atol=2e-3)
                    np.testing.assert_allclose(to_numpy(reply.arrays["masks"]), masks,
                                               atol=2e-3)
                    batched.append(reply.params["batched_with"])
            return batched

        sizes = [n for per_client in _run_clients(work) for n in per_client]
        assert max(sizes) > 1, "no two clients' swaps were batched together"
        models = first.status()["models"]
        assert [m["identities"] for m in models] == [["a", "b"]]


def test_large_inline_frames_cross_intact_with_requests_pipelined_behind_them(running):
    """2K float RGBA frames (35 MB each way), each followed at once on the same connection by
    small requests, as a client cancelling or a second Nuke thread would: while the big answer
    is being written the reader takes the next requests, and every byte must arrive intact."""
    rng = np.random.default_rng(5)
    frame = rng.standard_normal((1080, 2048, 4)).astype(np.float32)
    first = running[0]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(60)
    sock.connect(str(first.address))
    token = paths.read_token(first.token_path)
    send = functools.partial(p.send_message, sock)
    send(p.Message(p.REQUEST, "hello", "hello", {"token": token,
                                                "protocol": p.PROTOCOL_VERSION}))
    assert p.read_message(sock.recv_into).kind == p.REPLY
    for i in range(3):
        send(p.Message(p.REQUEST, f"big{i}", "echo", {}, {"data": from_numpy(frame)}))
        for j in range(20):
            send(p.Message(p.REQUEST, f"small{i}.{j}", "echo", {"data": {"j": j}}))
        answers = {}
        while len(answers) < 21:
            message = p.read_message(sock.recv_into)
            assert message is not None and message.kind == p.REPLY, message
            answers[message.id] = message
        np.testing.assert_array_equal(to_numpy(answers[f"big{i}"].arrays["data"]), frame)
        assert [answers[f"small{i}.{j}"].params["data"]["j"] for j in range(20)] == \
            list(range(20))
    sock.close()
