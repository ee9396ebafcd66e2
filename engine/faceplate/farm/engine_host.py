"""The engine on a farm worker: start ``faceplate serve`` in the background for one session, and
shut it down when the session ends.

``start`` picks a private socket for this session, waits until the engine accepts connections
and prints ``openjd_env: FACEPLATE_SOCKET=...`` — OpenJD's way for an environment to export a
variable to every later action of the session (anywhere else the line is harmless). ``stop``
asks the engine to shut down, then signals the process it started. The pid file beside the
socket ties the two together, so ``stop`` never touches an engine it did not start.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time

from faceplate_client.paths import Address, beside_socket, runtime_dir
from faceplate_client.spawn import EngineStartError, spawn_engine

from ..errors import FaceplateError

log = logging.getLogger(__name__)


class EngineHostError(FaceplateError):
    """The worker's engine did not start or stop as asked."""


def session_socket() -> str:
    """A socket path unique to this start (short: Unix socket paths stop at ~100 bytes)."""
    return os.path.join(runtime_dir(), f"farm-{os.getpid()}.sock")


def token_path(sock: str) -> str:
    """The session engine's token file (exported beside ``FACEPLATE_SOCKET``)."""
    return beside_socket(Address(path=sock), ".token")


def _pid_file(sock: str) -> str:
    return sock + ".pid"


def _accepts(sock: str) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(1.0)
        s.connect(sock)
        return True
    except OSError:
        return False
    finally:
        s.close()


def start(sock: str | None = None, timeout_s: float = 120.0,
          command: list[str] | None = None) -> str:
    """Start an engine listening on ``sock`` and wait until it accepts; return the socket."""
    sock = sock or session_socket()
    command = command or [sys.executable, "-m", "faceplate.cli", "serve", "--socket", sock]
    log_path = beside_socket(Address(path=sock), ".serve.log")
    # The token beside the socket, whatever the host's own FACEPLATE_TOKEN_FILE says: two
    # sessions on one worker must not share (or overwrite) a token file. Its output goes to
    # the log, away from the action's pipe: the action can end while the engine runs on.
    try:
        proc = spawn_engine(command, sock, token_path(sock), log_path, lambda: _accepts(sock),
                            timeout_s, stop_on_timeout=True, poll_s=0.1)
    except OSError as exc:
        raise EngineHostError(f"cannot start the engine with {command!r}: "
                              f"{exc.strerror or exc}") from None
    except EngineStartError as exc:
        raise EngineHostError(str(exc)) from None
    with open(_pid_file(sock), "w") as fh:
        fh.write(str(proc.pid))
    return sock


def stop(sock: str, timeout_s: float = 30.0) -> bool:
    """Shut down the engine that :func:`start` started on ``sock``; False if none was running."""
    pid_path = _pid_file(sock)
    try:
        with open(pid_path) as fh:
            pid = int(fh.read().strip())
    except (FileNotFoundError, ValueError):
        return False
    if not (_ask_shutdown(sock) and _wait_gone(pid, timeout_s / 2)):
        _signal(pid, signal.SIGTERM)
        if not _wait_gone(pid, timeout_s / 2):
            _signal(pid, signal.SIGKILL)
            _wait_gone(pid, 5.0)
    for path in (pid_path, sock, token_path(sock)):
        if os.path.exists(path):
            os.unlink(path)
    return True


def _ask_shutdown(sock: str) -> bool:
    """True when the engine accepted a shutdown request; signals do the rest otherwise."""
    try:
        from faceplate_client.client import EngineClient
    except ImportError:  # an engine build without the client
        return False
    try:
        with EngineClient(socket_path=sock, token_path=token_path(sock), autostart=False,
                          retries=0) as client:
            client.call("shutdown")
        return True
    except Exception as exc:  # noqa: BLE001 - the engine may be gone already
        log.debug("shutdown request to %s failed: %s", sock, exc)
        return False


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                return True
        except ChildProcessError:  # not our child (started by another action): poll it
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
        time.sleep(0.1)
    return False
