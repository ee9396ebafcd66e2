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
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from faceplate_client.client import EngineClient
from faceplate_client.protocol import EngineError


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


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[EngineClient]:
    """A client connected to a fresh engine of this test's own."""
    with running_engine(tmp_path) as client:
        yield client
