"""The client's side of a long night on the farm: the engine is killed mid-request and the
render carries on; requests run past their limit or are cancelled; no engine runs at all."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys

import pytest
from engine_helpers import engine_command, engine_env, running_engine, stop_engine
from faceplate.samples import make_shot
from faceplate_client import protocol as p
from faceplate_client.client import EngineClient, engine_available


@pytest.fixture(scope="module")
def plate(tmp_path_factory) -> str:
    """A short real-face plate (the astronaut photo moving), as ACEScg EXRs."""
    root = tmp_path_factory.mktemp("plate")
    shot = make_shot("astronaut", str(root), frames=6, size=(320, 240), face_px=110)
    return shot.pattern.replace("%04d", "####")


@pytest.fixture
def shared(running):
    """The session's engine, for the tests that leave it running: it keeps its detector."""
    return running[0]


def _extract(client, plate, shot_dir, **kw):
    return client.call("extract_shot", {"plate": plate, "shot_dir": str(shot_dir),
                                        "backend": "dlib"}, **kw)


def test_kill_9_mid_request_the_client_restarts_the_engine_and_the_request_completes(
        tmp_path, plate):
    with running_engine(tmp_path) as client:
        first_pid = client.hello()["pid"]
        events = []

        def on_progress(event):
            events.append(event)
            if len(events) == 1:  # the engine is mid-shot: kill it without warning
                os.kill(first_pid, signal.SIGKILL)

        reply = _extract(client, plate, tmp_path / "shot", on_progress=on_progress)
        assert reply.params["faces"] == 6  # one face a frame, all six frames
        assert os.path.isfile(tmp_path / "shot" / "alignments.json")
        second_pid = client.hello()["pid"]
        assert second_pid != first_pid
        assert client.status()["pid"] == second_pid


def test_a_request_past_its_time_limit_is_stopped_and_answered(shared, tmp_path, plate):
    with pytest.raises(p.EngineError) as err:
        _extract(shared, plate, tmp_path / "shot", timeout=0.05)
    assert err.value.code == p.TIMEOUT
    assert shared.call("echo", {"data": {"after": True}}).params["data"] == {"after": True}


def test_an_exception_in_the_progress_callback_cancels_the_request(shared, tmp_path, plate):
    class Stop(Exception):
        pass

    def on_progress(event):
        raise Stop

    with pytest.raises(Stop):
        _extract(shared, plate, tmp_path / "shot", on_progress=on_progress)
    assert shared.call("echo").params == {"data": {}}  # the connection is still in step
    assert not (tmp_path / "shot" / "alignments.json").exists()


def test_a_client_starts_an_engine_when_none_runs(tmp_path):
    folder = tmp_path / "engine"
    folder.mkdir(mode=0o700)
    sock, token = str(folder / "engine.sock"), str(folder / "engine.token")
    assert not engine_available(sock, token)
    old = os.environ.get("OMP_NUM_THREADS")
    try:
        os.environ.update(engine_env())
        os.environ["FACEPLATE_ENGINE_CMD"] = shlex.join(engine_command(folder))
        with EngineClient(sock, token) as client:  # the command comes from the environment
            status = client.status()
        assert status["pid"] != os.getpid() and status["protocol"] == p.PROTOCOL_VERSION
        assert engine_available(sock, token)
        # a second engine on the same socket steps aside and leaves the first one's token alone
        second = subprocess.run(engine_command(folder), env=engine_env(), capture_output=True,
                                timeout=60, check=False)
        assert second.returncode == 3, second.stderr
        assert engine_available(sock, token)
    finally:
        os.environ.pop("FACEPLATE_ENGINE_CMD", None)
        if old is not None:
            os.environ["OMP_NUM_THREADS"] = old
        stop_engine(folder)
    assert not engine_available(sock, token)


def test_the_spawner_waits_out_an_engine_that_lost_the_race(tmp_path):
    """`faceplate serve` exits ALREADY_RUNNING when another engine holds the address: the
    spawner keeps waiting for that one to answer; any other exit fails at once, naming the log
    and showing its tail. The engine is told its address and token file."""
    import threading

    from faceplate_client.layout import ALREADY_RUNNING
    from faceplate_client.spawn import EngineStartError, spawn_engine

    log, winner = tmp_path / "engine.start.log", tmp_path / "winner.up"
    script = ("import os, sys; print('lost the race to', os.environ['FACEPLATE_SOCKET'], "
              f"os.environ['FACEPLATE_TOKEN_FILE'], flush=True); sys.exit({ALREADY_RUNNING})")
    lost = [sys.executable, "-c", script]
    up = threading.Timer(0.5, winner.touch)
    up.start()
    try:
        process = spawn_engine(lost, "/run/e.sock", "/run/e.token", str(log), winner.exists, 60,
                               still_starting=(ALREADY_RUNNING,))
    finally:
        up.join()
    assert process.wait(60) == ALREADY_RUNNING
    with pytest.raises(EngineStartError, match=r"exited with code 3 .*its log is") as failed:
        spawn_engine(lost, "/run/e.sock", "/run/e.token", str(log), lambda: False, 60)
    assert "lost the race to /run/e.sock /run/e.token" in str(failed.value)


def test_shutdown_never_starts_an_engine(tmp_path):
    folder = tmp_path / "engine"
    folder.mkdir(mode=0o700)
    client = EngineClient(str(folder / "engine.sock"), str(folder / "engine.token"),
                          start_command=engine_command(folder))
    with pytest.raises(p.EngineError) as err:
        client.call("shutdown")
    assert err.value.code == p.UNAVAILABLE
    assert not (folder / "engine.sock").exists()


def test_status_says_plainly_when_no_engine_runs(tmp_path):
    sock = str(tmp_path / "none.sock")
    result = subprocess.run([sys.executable, "-m", "faceplate.cli", "status", "--socket", sock],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "no engine is running" in result.stdout
    assert "Traceback" not in result.stderr


def test_status_command_reports_a_running_engine(shared):
    result = subprocess.run([sys.executable, "-m", "faceplate.cli", "status", "--socket",
                             str(shared.address), "--token-file", shared.token_path],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert f"pid {shared.hello()['pid']}" in result.stdout
    assert "queue:" in result.stdout and "models:" in result.stdout
