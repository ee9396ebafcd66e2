"""A real engine on a real socket, attacked: strangers without the token, other protocol
versions, malformed, truncated and oversized messages, clients that vanish mid-message, and
thousands of fuzzed frames. Each gets a structured error or a dropped connection, and the
engine keeps serving everyone else."""

from __future__ import annotations

import functools
import os
import socket
import stat
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from engine_helpers import (
    raw_authed,
    raw_connect,
    raw_hello,
    raw_json,
    raw_request,
    read_all,
    read_one,
    running_engine,
)
from faceplate.server.arrays import from_numpy, to_numpy
from faceplate_client import paths
from faceplate_client import protocol as p
from faceplate_client.client import EngineClient
from protocol_fuzz import fuzz_inputs

MAX_MESSAGE_MB = 1


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One engine for this module, with a 1 MB message limit; yields (client, folder)."""
    tmp = tmp_path_factory.mktemp("robust")
    with running_engine(tmp, "--max-message", str(MAX_MESSAGE_MB)) as client:
        yield client, tmp / "engine"


def _still_serves(client: EngineClient) -> None:
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    reply = client.call("echo", {"data": {"ok": 1}}, {"data": from_numpy(values)})
    assert reply.params["data"] == {"ok": 1}
    np.testing.assert_array_equal(to_numpy(reply.arrays["data"]), values)


def test_socket_token_and_log_are_private(served):
    _client, folder = served
    for name in ("engine.sock", "engine.token", "engine.log"):
        assert stat.S_IMODE(os.stat(folder / name).st_mode) == 0o600, name
    assert stat.S_ISSOCK(os.stat(folder / "engine.sock").st_mode)


def test_default_runtime_folder_is_private(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv(paths.SOCKET_ENV, raising=False)
    monkeypatch.delenv(paths.TOKEN_ENV, raising=False)
    address, token = paths.resolve()
    assert address.path == str(tmp_path / "faceplate" / "engine.sock")
    assert token == str(tmp_path / "faceplate" / "engine.token")
    assert stat.S_IMODE(os.stat(tmp_path / "faceplate").st_mode) == 0o700


def test_tcp_is_loopback_only():
    assert paths.Address.parse("tcp://127.0.0.1:7400").port == 7400
    with pytest.raises(ValueError, match="loopback"):
        paths.Address.parse("tcp://0.0.0.0:7400")
    with pytest.raises(ValueError, match="loopback"):
        paths.Address.parse("tcp://192.168.1.5:7400")


def test_tcp_engine_listens_on_loopback_and_wants_the_token(tmp_path):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    address, token = f"tcp://127.0.0.1:{port}", str(tmp_path / "tcp.token")
    command = [sys.executable, "-m", "faceplate.cli", "serve", "--socket", address,
               "--token-file", token, "--log", str(tmp_path / "tcp.log")]
    refused = subprocess.run([*command[:5], "tcp://0.0.0.0:7400"], capture_output=True,
                             text=True, timeout=60, check=False)
    assert refused.returncode == 2 and "loopback" in refused.stderr
    with EngineClient(address, token, start_command=command) as client:  # starts it
        assert client.status()["address"] == address
        stranger = socket.create_connection(("127.0.0.1", port), timeout=5)
        stranger.sendall(raw_request("status"))
        assert [a.params["code"] for a in read_all(stranger)] == [p.AUTH]
        pid = client.hello()["pid"]
        client.call("shutdown")
    deadline = time.monotonic() + 30
    while os.waitpid(pid, os.WNOHANG)[0] != pid:  # the client started it: our child
        assert time.monotonic() < deadline, "the engine did not stop when asked"
        time.sleep(0.05)


def test_a_client_without_the_token_is_refused(served, tmp_path):
    client, folder = served
    # no hello at all: refused and disconnected
    sock = raw_connect(folder)
    sock.sendall(raw_request("status"))
    answers = read_all(sock)
    assert [a.params["code"] for a in answers] == [p.AUTH]
    # the wrong token
    sock = raw_connect(folder)
    sock.sendall(raw_hello(folder, token="0" * 64))
    answers = read_all(sock)
    assert [a.params["code"] for a in answers] == [p.AUTH]
    # a stranger cannot send arrays before the handshake: the limit is 0 bytes of payload
    sock = raw_connect(folder)
    sock.sendall(raw_request("hello", {"token": "x"}, {"a": p.Array.from_values([1.0] * 8)}))
    assert [a.params["code"] for a in read_all(sock)] == [p.TOO_LARGE]
    # the client library with a wrong token file
    wrong = tmp_path / "wrong.token"
    paths.create_token(str(wrong))
    with pytest.raises(p.EngineError) as err:
        EngineClient(str(folder / "engine.sock"), str(wrong), autostart=False).status()
    assert err.value.code == p.AUTH
    # a token file others can read is not used at all
    os.chmod(wrong, 0o644)
    with pytest.raises(p.EngineError, match="readable by others"):
        EngineClient(str(folder / "engine.sock"), str(wrong), autostart=False).status()
    _still_serves(client)
    log = (folder / "engine.log").read_text()
    assert "refused: wrong or missing token" in log and "refused: say hello" in log


def test_another_protocol_version_is_refused_with_a_clear_error(served):
    client, folder = served
    frame = bytearray(raw_hello(folder))
    struct.pack_into("<H", frame, 4, p.PROTOCOL_VERSION + 1)
    sock = raw_connect(folder)
    sock.sendall(bytes(frame))
    answers = read_all(sock)
    assert [a.params["code"] for a in answers] == [p.PROTOCOL_MISMATCH]
    assert "matching versions" in answers[0].params["message"]
    _still_serves(client)


def test_bad_requests_get_structured_errors_on_a_connection_that_stays(served):
    _client, folder = served
    sock = raw_authed(folder)
    landmarks = np.random.default_rng(0).uniform(50, 150, (2, 68, 2))
    cases = [
        (raw_request("no_such_op"), p.UNKNOWN_OP),
        (raw_request("align", {"face_type": 3}, {"landmarks": from_numpy(landmarks)}),
         p.BAD_PARAMS),
        (raw_request("align", {"face_type": "sideways"}, {"landmarks": from_numpy(landmarks)}),
         p.BAD_PARAMS),
        (raw_request("align", {}, {"landmarks": from_numpy(landmarks.astype(np.uint8))}),
         p.BAD_PARAMS),  # wrong dtype
        (raw_request("align", {}, {"landmarks": from_numpy(landmarks[:, :67])}),
         p.BAD_PARAMS),  # wrong shape
        (raw_request("align", {}), p.BAD_PARAMS),  # missing array
        (raw_request("align", {"bogus": 1}, {"landmarks": from_numpy(landmarks)}), p.BAD_PARAMS),
        (raw_request("echo", {"timeout_s": -1}), p.BAD_PARAMS),
        (raw_request("swap", {"model": "/nonexistent", "identity": "a"}), p.BAD_PARAMS),
        (raw_request("swap", {"model": "/nonexistent", "identity": "a"},
                  {"crops": from_numpy(np.zeros((1, 8, 8, 3), np.float32))}), p.FAILED),
        (p.encode_bytes(p.Message(p.REPLY, "x", "echo")), p.BAD_REQUEST),
        (raw_json('{"kind":"request","id":"inf","op":"echo","params":{"data":{"x":1e999}}}'),
         p.BAD_REQUEST),  # a number JSON cannot carry back
        (raw_json('{"kind":"request","id":"deep","op":"echo","params":' + "[" * 100_000
                   + "]" * 100_000 + "}"), p.BAD_REQUEST),
    ]
    for frame, code in cases:
        sock.sendall(frame)
        answer = read_one(sock)
        assert answer.kind == p.ERROR and answer.params["code"] == code, answer.params
        assert answer.params["message"]
    # a broken JSON header with sane lengths: answered, and the stream stays in step
    body = b'{"kind": "request", "id": '
    sock.sendall(p.HEADER.pack(p.MAGIC, p.PROTOCOL_VERSION, 0, len(body), 0) + body)
    assert read_one(sock).params["code"] == p.BAD_REQUEST
    sock.sendall(raw_request("align", {}, {"landmarks": from_numpy(landmarks)}, rid="fine"))
    answer = read_one(sock)
    assert (answer.kind, answer.id) == (p.REPLY, "fine")
    assert to_numpy(answer.arrays["matrices"]).shape == (2, 2, 3)


def test_oversized_messages_are_refused_before_they_are_read(served):
    client, folder = served
    sock = raw_authed(folder)
    body = b'{"kind":"request","id":"big","op":"echo","arrays":[]}'
    too_big = MAX_MESSAGE_MB * 1_000_000 + 1
    sock.sendall(p.HEADER.pack(p.MAGIC, p.PROTOCOL_VERSION, 0, len(body), too_big) + body)
    answers = read_all(sock)  # nothing more was sent: the engine must not wait for it
    assert [a.params["code"] for a in answers] == [p.TOO_LARGE]
    sock = raw_authed(folder)
    sock.sendall(p.HEADER.pack(p.MAGIC, p.PROTOCOL_VERSION, 0, 1 << 31, 0))
    assert [a.params["code"] for a in read_all(sock)] == [p.TOO_LARGE]
    _still_serves(client)


def test_clients_vanishing_mid_message_or_mid_request_do_not_hurt_others(served):
    client, folder = served
    image = from_numpy(np.ones((256, 256, 3), np.float32))
    frame = raw_request("echo", {}, {"data": image})
    for cut in (3, p.HEADER.size + 10, len(frame) // 2, len(frame) - 1):
        sock = raw_authed(folder)
        sock.sendall(frame[:cut])
        sock.close()
    for _ in range(5):  # gone before the answer is written
        sock = raw_authed(folder)
        sock.sendall(frame)
        sock.close()
    _still_serves(client)
    # The vanished clients' requests are cancelled and leave the queue: at once on a quiet
    # machine, within moments on a busy one; never do they stay.
    deadline = time.monotonic() + 30.0
    while (queue := client.status()["queue"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert queue == []


def _fuzz_one(folder, token: str, data: bytes) -> list[p.Message]:
    sock = raw_connect(folder)
    try:
        sock.sendall(raw_request("hello", {"token": token, "protocol": p.PROTOCOL_VERSION}) + data)
        sock.shutdown(socket.SHUT_WR)
    except OSError:  # the engine already hung up on a bad frame
        pass
    answers = read_all(sock)
    sock.close()
    return answers


def test_ten_thousand_fuzzed_frames_on_the_real_socket(served):
    """Each input goes down its own authenticated connection (four at a time), which is then
    half-closed: every answer must be a well-formed message, never an internal error, and the
    engine serves on."""
    client, folder = served
    token = paths.read_token(str(folder / "engine.token"))
    codes: dict[str, int] = {}
    with ThreadPoolExecutor(4) as pool:
        for answers in pool.map(functools.partial(_fuzz_one, folder, token),
                                fuzz_inputs(10_000, seed=7), chunksize=50):
            assert answers and answers[0].kind == p.REPLY  # the hello
            for a in answers[1:]:
                code = a.params.get("code", "reply") if a.kind == p.ERROR else a.kind
                codes[code] = codes.get(code, 0) + 1
    assert p.INTERNAL not in codes, codes
    assert codes.get(p.BAD_FRAME, 0) > 100 and codes.get(p.BAD_REQUEST, 0) > 100, codes
    _still_serves(client)
