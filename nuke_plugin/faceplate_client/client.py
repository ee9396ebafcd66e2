"""The engine client: standard library only (Python 3.9+), used by the Nuke nodes and TD scripts.

``EngineClient`` finds the engine on its socket or starts one (``$FACEPLATE_ENGINE_CMD``,
default ``faceplate serve``), says hello with the token, and sends requests. When the engine
dies mid-request (killed, crashed, restarted) the client reconnects, starting a new engine if
needed, and resends the request if the engine declared its op idempotent, so a long render
survives an engine restart.

    client = EngineClient()
    reply = client.call("align", {"face_type": "whole_face", "size": 256},
                        {"landmarks": Array.from_values(points, "float32", (1, 68, 2))})
    reply.params["matrices"], reply.arrays
"""

from __future__ import annotations

import logging
import os
import shlex
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from . import paths
from .layout import ALREADY_RUNNING
from .protocol import (
    AUTH,
    CONNECTION_LOST,
    ERROR,
    INTERNAL,
    PROGRESS,
    PROTOCOL_VERSION,
    REPLY,
    REQUEST,
    TIMEOUT,
    UNAVAILABLE,
    Array,
    EngineError,
    Limits,
    Message,
    ProtocolError,
    read_message,
    send_message,
)
from .spawn import EngineStartError, spawn_engine

log = logging.getLogger("faceplate_client")

DEFAULT_ENGINE_CMD = "faceplate serve"
_REPLY_LIMITS = Limits(max_json=64 << 20, max_payload=1 << 36)
_GRACE_S = 30.0  # how much longer than the request's time limit we wait for the engine


@dataclass
class Reply:
    params: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, Array] = field(default_factory=dict)
    id: str = ""


ProgressCallback = Callable[[dict[str, Any]], None]


class ConnectionState(str, Enum):
    """Where an :class:`EngineClient` stands with its engine (``EngineClient.state``)."""

    DISCONNECTED = "disconnected"  # no connection (none yet, closed, or the engine went away)
    STARTING = "starting"  # no engine answered: one is being started and waited for
    CONNECTED = "connected"  # said hello; requests go out on this connection

    def __str__(self) -> str:
        return str(self.value)


class _Lost(Exception):
    """The connection broke under a request (the engine died or restarted)."""


class EngineClient:
    """One connection to the engine; thread-safe (calls from several threads take turns).

    ``start_command``: a command line (string or list) that starts an engine; None uses
    ``$FACEPLATE_ENGINE_CMD`` or ``faceplate serve``; ``autostart=False`` never starts one.
    The engine is started with ``FACEPLATE_SOCKET`` and ``FACEPLATE_TOKEN_FILE`` set to this
    client's address and token file, so it listens where the client looks.
    """

    def __init__(self, socket_path: str | None = None, token_path: str | None = None,
                 start_command: str | Sequence[str] | None = None, *,
                 autostart: bool = True, retries: int = 2, start_timeout: float = 120.0,
                 connect_timeout: float = 10.0, client_name: str = "faceplate_client"):
        self.address, self.token_path = paths.resolve(socket_path, token_path)
        self.start_command = start_command
        self.autostart = autostart
        self.retries = retries
        self.start_timeout = start_timeout
        self.connect_timeout = connect_timeout
        self.client_name = client_name
        self.engine_info: dict[str, Any] = {}  # the engine's hello reply
        self._ops: dict[str, dict[str, Any]] = {}
        self._sock: socket.socket | None = None
        self._state = ConnectionState.DISCONNECTED
        self._lock = threading.RLock()
        self._started: subprocess.Popen | None = None

    # -- public API --------------------------------------------------------------------------

    def call(self, op: str, params: Mapping[str, Any] | None = None,
             arrays: Mapping[str, Array] | None = None,
             on_progress: ProgressCallback | None = None,
             timeout: float | None = None, request_id: str | None = None) -> Reply:
        """Run ``op`` on the engine and return its reply; raises :class:`EngineError`.

        ``on_progress`` gets each progress event (a dict: stage, done, total, rate, eta_s,
        message); if it raises, the request is cancelled on the engine and the exception
        propagates. ``timeout`` (seconds) overrides the op's time limit on the engine.
        """
        params = dict(params or {})
        if timeout is not None:
            params["timeout_s"] = timeout
        with self._lock:
            attempt = 0
            while True:
                self.connect(start=op != "shutdown")  # never start an engine to stop it
                request = Message(REQUEST, request_id or uuid.uuid4().hex, op, params,
                                  dict(arrays or {}))
                try:
                    return self._exchange(request, on_progress)
                except _Lost as exc:
                    self._disconnect()
                    retry = self._ops.get(op, {}).get("idempotent", False) \
                        and attempt < self.retries
                    if not retry:
                        raise EngineError(CONNECTION_LOST, f"lost the engine during {op} "
                                                           f"({exc})") from None
                    attempt += 1
                    log.warning("engine connection lost during %s (%s); retrying (%d/%d)", op,
                                exc, attempt, self.retries)

    def hello(self) -> dict[str, Any]:
        """The engine's handshake reply: version, protocol, pid and the ops it offers."""
        self.connect()
        return dict(self.engine_info)

    def status(self) -> dict[str, Any]:
        """Version, device, loaded models and the requests in flight."""
        return self.call("status").params

    def cancel(self, request_id: str) -> bool:
        """Cancel a request sent by another client (or thread) by its id."""
        return bool(self.call("cancel", {"request": request_id}).params.get("cancelled"))

    def ops(self) -> dict[str, dict[str, Any]]:
        """The engine's op declarations (params, arrays, idempotent, lane) by name."""
        self.connect()
        return dict(self._ops)

    @property
    def state(self) -> ConnectionState:
        """Connected, starting an engine, or disconnected (read without waiting for a call
        another thread has in flight)."""
        return self._state

    def close(self) -> None:
        with self._lock:
            self._disconnect()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connecting --------------------------------------------------------------------------

    def connect(self, start: bool = True) -> None:
        """Connect and say hello, starting an engine first when none answers (if ``start`` and
        ``autostart`` allow)."""
        with self._lock:
            if self._sock is not None:
                return
            try:
                self._open()
                return
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                if not (self.autostart and start):
                    raise EngineError(UNAVAILABLE, f"no engine is running at {self.address} "
                                                   f"({exc.strerror}): start one with "
                                                   "`faceplate serve`") from None
            except OSError as exc:
                raise EngineError(UNAVAILABLE, f"cannot reach the engine at {self.address}: "
                                               f"{exc}") from None
            self._start_engine()

    def _open(self) -> None:
        if self.address.is_tcp:
            sock = socket.create_connection((self.address.host, self.address.port),
                                            timeout=self.connect_timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        else:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.connect_timeout)
            try:
                sock.connect(self.address.path)
            except OSError:
                sock.close()
                raise
        self._sock = sock
        try:
            token = paths.read_token(self.token_path)
        except OSError as exc:
            self._disconnect()
            raise EngineError(AUTH, f"cannot read the engine token {self.token_path}: "
                                    f"{exc.strerror or exc}") from None
        hello = Message(REQUEST, uuid.uuid4().hex, "hello",
                        {"token": token, "protocol": PROTOCOL_VERSION,
                         "client": self.client_name})
        try:
            reply = self._exchange(hello, None)
        except _Lost as exc:
            self._disconnect()
            raise ConnectionRefusedError(f"engine closed the connection during hello ({exc})")
        except EngineError:
            self._disconnect()
            raise
        self.engine_info = reply.params
        self._ops = {d["name"]: d for d in reply.params.get("ops", [])}
        self._state = ConnectionState.CONNECTED

    def _start_engine(self) -> None:
        command = self._engine_command()
        start_log = os.path.splitext(self.token_path)[0] + ".start.log"
        if self._started is not None:
            self._started.poll()  # reap an engine we started before
        log.info("starting the engine: %s", " ".join(command))
        self._state = ConnectionState.STARTING
        try:
            self._started = spawn_engine(command, str(self.address), self.token_path, start_log,
                                         self._answers, self.start_timeout,
                                         still_starting=(ALREADY_RUNNING,))
        except OSError as exc:
            raise EngineError(UNAVAILABLE, f"cannot start the engine with {command!r}: "
                                           f"{exc.strerror or exc}; set "
                                           f"{paths.ENGINE_CMD_ENV}") from None
        except EngineStartError as exc:
            raise EngineError(UNAVAILABLE, str(exc)) from None
        finally:
            if self._state is ConnectionState.STARTING:  # it never answered
                self._state = ConnectionState.DISCONNECTED

    def _answers(self) -> bool:
        """Connected and said hello; False while the engine is not listening yet."""
        try:
            self._open()
            return True
        except EngineError as exc:
            if exc.code != AUTH:  # AUTH: a token from an engine that is being replaced
                raise
        except OSError:
            pass  # not listening yet
        return False

    def _engine_command(self) -> list[str]:
        command = self.start_command or os.environ.get(paths.ENGINE_CMD_ENV) \
            or DEFAULT_ENGINE_CMD
        return shlex.split(command) if isinstance(command, str) else list(command)

    def _disconnect(self) -> None:
        if self._state is ConnectionState.CONNECTED:  # (while starting, a failed try stays so)
            self._state = ConnectionState.DISCONNECTED
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None

    # -- one request -------------------------------------------------------------------------

    def _exchange(self, request: Message, on_progress: ProgressCallback | None) -> Reply:
        sock = self._sock
        assert sock is not None
        if request.op == "hello":
            sock.settimeout(self.connect_timeout)
        else:
            limit = request.params.get("timeout_s") or self._ops.get(request.op, {}).get(
                "timeout_s") or 600.0
            sock.settimeout(float(limit) + _GRACE_S)
        try:
            send_message(sock, request)
        except OSError as exc:
            raise _Lost(str(exc)) from None
        interrupted: BaseException | None = None
        while True:
            try:
                message = read_message(sock.recv_into, _REPLY_LIMITS)
            except socket.timeout:  # TimeoutError on 3.10+, its own OSError subclass on 3.9
                self._disconnect()
                raise EngineError(TIMEOUT, f"the engine did not answer {request.op} in time")
            except ProtocolError as exc:
                if exc.fatal:
                    raise _Lost(exc.message) from None
                raise
            except OSError as exc:
                raise _Lost(str(exc)) from None
            except BaseException:  # e.g. Ctrl-C in the middle of a message: the stream is out
                self._disconnect()  # of step, so drop it; the engine cancels the request
                raise
            if message is None:
                raise _Lost("the engine closed the connection")
            if message.id not in (request.id, "-"):
                continue  # e.g. the answer to our cancel
            if message.kind == PROGRESS:
                if on_progress is not None and interrupted is None:
                    try:
                        on_progress(message.params)
                    except BaseException as exc:  # noqa: BLE001 - cancel, then re-raise it
                        interrupted = exc
                        self._send_cancel(request.id)
                continue
            if interrupted is not None:
                raise interrupted
            if message.kind == REPLY:
                return Reply(message.params, message.arrays, message.id)
            if message.kind == ERROR:
                raise message.error()
            raise EngineError(INTERNAL, f"unexpected {message.kind} message from the engine")

    def _send_cancel(self, request_id: str) -> None:
        assert self._sock is not None
        try:
            send_message(self._sock, Message(REQUEST, uuid.uuid4().hex, "cancel",
                                             {"request": request_id}))
        except OSError as exc:
            raise _Lost(str(exc)) from None


def engine_available(socket_path: str | None = None, token_path: str | None = None,
                     timeout: float = 2.0) -> bool:
    """True when an engine answers the handshake at the address (never starts one)."""
    try:
        client = EngineClient(socket_path, token_path, autostart=False, connect_timeout=timeout)
        with client:
            client.connect()
        return True
    except (EngineError, OSError, ValueError):
        return False


