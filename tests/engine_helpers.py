"""A real engine for tests: ``faceplate serve`` as a subprocess on a private socket and token.

    from engine_helpers import running_engine

    def test_something(tmp_path):
        with running_engine(tmp_path) as client:
            reply = client.call("align", arrays={"landmarks": ...})

or use the ``engine`` fixture (``from engine_helpers import engine`` in a test module). The
client's start command is the same ``serve`` command, so a test that kills the engine sees the
client start a new one, as a Nuke session would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faceplate_client import paths
from faceplate_client import protocol as p
from faceplate_client.client import EngineClient
from faceplate_client.protocol import EngineError

# Merge settings without plate match (grain, softness, motion blur): for tests that compare a
# blend or a null swap with exact values.
PLAIN = {"grain": "off", "soften": "off", "shutter": 0.0}


def engine_command(folder: Path, *extra: str) -> list[str]:
    """The command line that serves on ``folder/engine.sock`` (token and log beside it)."""
    return [sys.executable, "-m", "faceplate.cli", "serve", "--socket",
            str(folder / "engine.sock"), "--token-file", str(folder / "engine.token"),
            "--log", str(folder / "engine.log"), *extra]


def engine_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@contextlib.contextmanager
def running_engine(tmp_path: Path, *extra: str, timeout: float = 60.0
                   ) -> Iterator[EngineClient]:
    """Start an engine in ``tmp_path/engine`` and yield a connected client; stop it after."""
    folder = tmp_path / "engine"
    folder.mkdir(mode=0o700, exist_ok=True)
    command = engine_command(folder, *extra)
    with open(folder / "serve.out", "ab") as out:  # a file: a full pipe would block the engine
        process = subprocess.Popen(command, env=engine_env(), stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=subprocess.STDOUT)
    client = EngineClient(str(folder / "engine.sock"), str(folder / "engine.token"),
                          start_command=command, client_name="pytest")
    try:
        _wait_until_serving(client, process, folder, timeout)
        yield client
    finally:
        client.close()
        stop_engine(folder)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- raw sockets, for tests that misbehave on purpose ------------------------------------

def raw_connect(folder: Path, timeout: float = 20) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(str(folder / "engine.sock"))
    return sock


def raw_request(op: str, params: dict | None = None, arrays: dict | None = None,
                rid: str | None = None) -> bytes:
    return p.encode_bytes(p.Message(p.REQUEST, rid or uuid.uuid4().hex, op, params or {},
                                    arrays or {}))


def raw_json(text: str) -> bytes:
    """A message whose JSON header is ``text`` as given (no payload)."""
    body = text.encode()
    return p.HEADER.pack(p.MAGIC, p.PROTOCOL_VERSION, 0, len(body), 0) + body


def raw_hello(folder: Path, token: str | None = None, **params) -> bytes:
    token = token if token is not None else paths.read_token(str(folder / "engine.token"))
    return raw_request("hello", {"token": token, "protocol": p.PROTOCOL_VERSION, **params})


def read_all(sock: socket.socket) -> list[p.Message]:
    """Every message the engine sends until it closes the connection (or goes quiet)."""
    out = []
    while True:
        try:
            message = p.read_message(sock.recv_into)
        except (TimeoutError, ConnectionResetError):
            break
        if message is None:
            break
        out.append(message)
    return out


def read_one(sock: socket.socket) -> p.Message:
    message = p.read_message(sock.recv_into)
    assert message is not None, "the engine closed the connection"
    return message


def raw_authed(folder: Path) -> socket.socket:
    sock = raw_connect(folder)
    sock.sendall(raw_hello(folder))
    answer = read_one(sock)
    assert answer.kind == p.REPLY, answer.params
    return sock


def _wait_until_serving(client: EngineClient, process: subprocess.Popen, folder: Path,
                        timeout: float) -> None:
    autostart, client.autostart = client.autostart, False
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                client.connect()
                return
            except EngineError:
                if process.poll() is not None:
                    raise RuntimeError("the engine exited at start:\n"
                                       + (folder / "serve.out").read_text(errors="replace"))
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        client.autostart = autostart


def stop_engine(folder: Path) -> None:
    """Shut down whatever engine serves ``folder`` (a test may have had it restarted)."""
    try:
        with EngineClient(str(folder / "engine.sock"), str(folder / "engine.token"),
                          autostart=False, connect_timeout=5) as client:
            pid = client.hello()["pid"]
            client.call("shutdown")
    except EngineError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not _gone(pid):
        time.sleep(0.05)
    if not _gone(pid):
        os.kill(pid, signal.SIGKILL)


def _gone(pid: int) -> bool:
    """True once ``pid`` has exited (reaping it when it is our child)."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:  # not our child: ask the kernel
        try:
            os.kill(pid, 0)
            return False
        except ProcessLookupError:
            return True


# --- the sample shot, model and node chain the Nuke-side tests share ----------------------

SAMPLE_CONSENT = "test fixture: public-domain NASA photo"


def tiny_model(folder: str, identities: tuple[str, ...] = ("astronaut", "other"),
               consent: str = SAMPLE_CONSENT) -> str:
    """An untrained 64 px model of the smallest widths, in ``folder``: swap runs through it,
    its look is not what the test checks."""
    from faceplate.model.card import ModelCard
    from faceplate.model.store import create_model

    create_model(folder, ModelCard.for_resolution(
        list(identities), 64, encoder_widths=[8, 16, 32], latent=32, bridge=16,
        decoder_widths=[16, 8], consent=consent))
    return folder


def sample_and_model(root: Path, frames: int, first: int = 1001,
                     identities: tuple[str, ...] = ("astronaut", "other"),
                     **shot: Any) -> tuple[Any, str]:
    """The astronaut sample plate (320×240, a 110 px face) in ``root/plate`` and a
    :func:`tiny_model` of ``identities`` in ``root/model``."""
    from faceplate.samples import make_shot

    sample = make_shot("astronaut", str(root / "plate"), frames=frames, first=first,
                       size=(320, 240), face_px=110.0, **shot)
    return sample, tiny_model(str(root / "model"), identities)


def face_chain(nuke: Any, sample: Any, model: str, cache: str, socket: str | None = None,
               identity: str = "other", out: str | None = None) -> dict[str, Any]:
    """Read (the sample's frames) → FaceDetect (dlib) → FaceAlign → FaceSwap → FaceMerge in the
    stand-in ``nuke``, with the knobs an artist sets; ``socket`` None leaves the engine address
    empty (as a farm gets the script); ``out`` adds a Write of every layer and metadata there."""
    read = nuke.createNode("Read")
    read["file"].setValue(sample.pattern.replace("%04d", "####"))
    read["first"].setValue(sample.frames[0])
    read["last"].setValue(sample.frames[-1])
    nodes, previous = {"Read": read}, read
    for cls in ("FaceDetect", "FaceAlign", "FaceSwap", "FaceMerge"):
        node = nuke.createNode(cls)
        node.setInput(0, previous)
        if socket is not None:
            node["engine_address"].setValue(socket)
        node["cache_folder"].setValue(cache)
        nodes[cls] = previous = node
    nodes["FaceDetect"]["detector"].setValue("dlib")
    nodes["FaceSwap"]["model"].setValue(model)
    nodes["FaceSwap"]["identity"].setValue(identity)
    if out is not None:
        write = nodes["Write"] = nuke.createNode("Write")
        write.setInput(0, previous)
        write["channels"].setValue("all")
        write["metadata"].setValue("all metadata")
        write["file"].setValue(out)
        write["create_directories"].setValue(True)
    return nodes


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[EngineClient]:
    """A client connected to a fresh engine of this test's own."""
    with running_engine(tmp_path) as client:
        yield client


def write_windowed(path: str, frame: Any, channels: list[str] | tuple[str, ...],
                   data: tuple[int, int, int, int]) -> str:
    """A frame's pixels (H×W×C: the whole frame, its display window) written as an EXR plate
    that stores only the data window ``data`` (x, y, w, h): reflected past the frame's edges
    (overscan), cut inside them (a cropped render). Half float, zip, as a show's plates."""
    import numpy as np
    import OpenImageIO as oiio

    frame = np.asarray(frame, np.float32)
    if frame.ndim == 2:
        frame = frame[..., None]
    x, y, w, h = data
    fh, fw = frame.shape[:2]
    before = (max(-y, 0), max(-x, 0))
    pad = ((before[0], max(y + h - fh, 0)), (before[1], max(x + w - fw, 0)), (0, 0))
    stored = np.pad(frame, pad, mode="reflect")[y + before[0]:y + before[0] + h,
                                                x + before[1]:x + before[1] + w]
    spec = oiio.ImageSpec(w, h, frame.shape[2], oiio.HALF)
    spec.x, spec.y = x, y
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, fw, fh
    spec.channelnames = tuple(channels)
    spec.attribute("compression", "zip")
    out = oiio.ImageOutput.create(path)
    assert out is not None and out.open(path, spec), oiio.geterror()
    assert out.write_image(np.ascontiguousarray(stored)), out.geterror()
    out.close()
    return path
