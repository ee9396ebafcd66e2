"""The engine process: listens on a private socket, authenticates clients, validates each
request against its op's declaration and runs it on the op's lane.

Threads: one accept loop, one reader per connection, a small pool for CPU and file work, one
device worker (batched), a few long-job threads, and a watchdog that enforces time limits.
"""

from __future__ import annotations

import fcntl
import hmac
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from faceplate_client.paths import Address, create_token
from faceplate_client.protocol import (
    AUTH,
    BAD_PARAMS,
    BAD_REQUEST,
    BUSY,
    CANCELLED,
    FAILED,
    INTERNAL,
    PROTOCOL_MISMATCH,
    PROTOCOL_VERSION,
    REQUEST,
    TIMEOUT,
    UNKNOWN_OP,
    EngineError,
    Limits,
    Message,
)

from .. import __version__
from ..errors import FaceplateError
from . import handlers  # noqa: F401  (registers the ops)
from .connection import Connection
from .device_queue import DeviceQueue
from .jobs import Request
from .model_cache import ModelCache
from .ops import REGISTRY, Result

log = logging.getLogger("faceplate.server")

MAX_IN_FLIGHT_PER_CONNECTION = 256
MAX_TIMEOUT_S = 7 * 24 * 3600.0
SHUTDOWN_GRACE_S = 30.0  # how long cancelled requests get to stop before the process exits


@dataclass
class EngineConfig:
    address: Address
    token_path: str
    log_path: str = ""
    device: str = "auto"
    model_budget_bytes: int = 4 << 30
    limits: Limits = field(default_factory=Limits)
    pool_workers: int = 4
    job_workers: int = 2


class AlreadyRunning(FaceplateError):
    """Another engine holds this address's lock."""


class Engine:
    def __init__(self, config: EngineConfig):
        self.config = config
        self._token = ""
        self.started = time.time()
        self.models = ModelCache(config.model_budget_bytes)
        self.stopping = threading.Event()
        self.requests_served = 0
        self._requests: dict[str, Request] = {}
        self._connections: set[Connection] = set()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(config.pool_workers, thread_name_prefix="faceplate-pool")
        self._jobs = ThreadPoolExecutor(config.job_workers, thread_name_prefix="faceplate-job")
        self._device_queue = DeviceQueue(self._run, self._run_batch)
        self._device: str | None = None
        self._device_ready = threading.Event()
        self._listener: socket.socket | None = None
        self._lock_file: int | None = None
        self._resources: dict[Hashable, Any] = {}
        self._resources_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    def bind(self) -> None:
        """Take the address's lock, write a fresh token (0600) and listen (the socket file is
        0600; TCP binds loopback only)."""
        address = self.config.address
        lock_path = (f"{address.path}.lock" if not address.is_tcp
                     else f"{self.config.token_path}.lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(f"an engine already serves {address}") from None
        self._lock_file = fd
        self._token = create_token(self.config.token_path)
        if address.is_tcp:
            family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address.host, address.port))
        else:
            if os.path.exists(address.path):  # a stale socket: we hold the lock, nobody serves it
                os.unlink(address.path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            old_umask = os.umask(0o177)
            try:
                sock.bind(address.path)
            finally:
                os.umask(old_umask)
            os.chmod(address.path, 0o600)
        sock.listen(64)
        sock.settimeout(0.5)
        self._listener = sock
        threading.Thread(target=self._resolve_device, name="faceplate-device-probe",
                         daemon=True).start()
        threading.Thread(target=self._watchdog, name="faceplate-watchdog", daemon=True).start()

    def serve_forever(self) -> None:
        assert self._listener is not None, "bind() first"
        log.info("engine %s (pid %d) listening on %s", __version__, os.getpid(),
                 self.config.address)
        try:
            while not self.stopping.is_set():
                try:
                    sock, _ = self._listener.accept()
                except TimeoutError:
                    continue
                except OSError as exc:
                    if self.stopping.is_set():
                        break
                    log.warning("accept failed: %s", exc)
                    continue
                if self.config.address.is_tcp:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn = Connection(sock, self, self.config.limits)
                with self._lock:
                    self._connections.add(conn)
                threading.Thread(target=conn.serve, name=conn.name, daemon=True).start()
        finally:
            self._shutdown()

    def stop(self) -> None:
        self.stopping.set()

    def _shutdown(self) -> None:
        log.info("engine stopping")
        if self._listener is not None:
            self._listener.close()
        if not self.config.address.is_tcp and os.path.exists(self.config.address.path):
            os.unlink(self.config.address.path)
        with self._lock:
            pending = list(self._requests.values())
            connections = list(self._connections)
        for req in pending:
            req.fail(EngineError(BUSY, "the engine is shutting down"))
        for conn in connections:
            conn.close()
        self._device_queue.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._jobs.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + SHUTDOWN_GRACE_S  # cancelled work stops at its next
        while self.busy() and time.monotonic() < deadline:  # step; training saves first
            time.sleep(0.05)
        if self._lock_file is not None:
            os.close(self._lock_file)
        log.info("engine stopped" if not self.busy() else
                 f"engine stopped with {self.busy()} request(s) still running")

    def busy(self) -> int:
        """How many requests are still queued or running."""
        with self._lock:
            return len(self._requests)

    # -- requests ----------------------------------------------------------------------------

    def dispatch(self, conn: Connection, msg: Message) -> bool:
        """Validate and start one request; False closes the connection."""
        if msg.kind != REQUEST:
            conn.send_error(msg.id, EngineError(BAD_REQUEST, f"expected a request, got a "
                                                             f"{msg.kind}"), msg.op)
            return conn.authenticated
        if msg.op == "hello" or not conn.authenticated:
            error = self._authenticate(conn, msg)
            if error is not None:
                log.warning("%s refused: %s", conn.name, error.message)
                conn.send_error(msg.id, error, msg.op)
                return False
        op = REGISTRY.get(msg.op)
        if op is None:
            conn.send_error(msg.id, EngineError(UNKNOWN_OP, f"unknown operation {msg.op!r}; "
                                                            f"this engine offers "
                                                            f"{', '.join(sorted(REGISTRY))}"))
            return True
        try:
            params, arrays = op.validate(msg.params, msg.arrays)
            timeout = _timeout(msg.params.get("timeout_s"), op.timeout_s)
        except EngineError as exc:
            conn.send_error(msg.id, exc, msg.op)
            return True
        req = Request(msg.id, op, params, arrays, conn.send, self, conn.name,
                      deadline=time.monotonic() + timeout)
        with self._lock:
            error = None
            if self.stopping.is_set():
                error = EngineError(BUSY, "the engine is shutting down")
            elif msg.id in self._requests:
                error = EngineError(BAD_REQUEST, f"request id {msg.id!r} is already in flight")
            elif sum(r.client == conn.name for r in self._requests.values()) \
                    >= MAX_IN_FLIGHT_PER_CONNECTION:
                error = EngineError(BUSY, f"more than {MAX_IN_FLIGHT_PER_CONNECTION} requests "
                                          "in flight on one connection")
            else:
                self._requests[msg.id] = req
        if error is not None:
            conn.send_error(msg.id, error, msg.op)
            return True
        if op.lane == "control":
            self._run(req)
        elif op.lane == "device":
            self._device_queue.put(req)
        else:
            (self._jobs if op.lane == "job" else self._pool).submit(self._run, req)
        return True

    def _authenticate(self, conn: Connection, msg: Message) -> EngineError | None:
        if msg.op != "hello":
            return EngineError(AUTH, "say hello with the engine's token first")
        token, protocol = msg.params.get("token"), msg.params.get("protocol")
        if protocol != PROTOCOL_VERSION:
            return EngineError(PROTOCOL_MISMATCH, f"engine speaks protocol {PROTOCOL_VERSION}, "
                                                  f"client {protocol}: update the older side")
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(),
                                                                 self._token.encode()):
            return EngineError(AUTH, f"wrong or missing token: read it from "
                                     f"{self.config.token_path}")
        conn.authenticated = True
        name = msg.params.get("client")
        if isinstance(name, str) and name:
            conn.name = f"{name[:48]}#{conn.number}"
        return None

    def _run(self, req: Request) -> None:
        if req.answered:  # cancelled or timed out while queued
            self._finish(req, "dropped")
            return
        req.state, req.started = "running", time.monotonic()
        outcome = "ok"
        try:
            req.check()
            result = req.op.handler(req)
            req.check()
            req.reply(result)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a structured answer
            outcome = self._fail(req, exc)
        finally:
            self._finish(req, outcome)

    def _run_batch(self, group: list[Request]) -> None:
        live = [r for r in group if not r.answered]
        for req in group:
            if req.answered:
                self._finish(req, "dropped")
        if not live:
            return
        for req in live:
            req.state, req.started = "running", time.monotonic()
        try:
            batch = live[0].op.batch
            assert batch is not None, "the device queue batches only ops that declare batch"
            results = batch(live)
            for req, result in zip(live, results):
                if isinstance(result, Result):
                    req.reply(result)
                else:
                    self._fail(req, result)
            outcome = "ok"
        except Exception as exc:  # noqa: BLE001
            outcome = "error"
            for req in live:
                self._fail(req, exc)
        for req in live:
            self._finish(req, f"{outcome} (batch of {len(live)})")

    def _fail(self, req: Request, exc: BaseException) -> str:
        if isinstance(exc, EngineError):
            error = exc
        elif isinstance(exc, FaceplateError):
            error = EngineError(FAILED, str(exc))
        else:
            log.exception("%s %s failed", req.op.name, req.id, exc_info=exc)
            error = EngineError(INTERNAL, f"{req.op.name} failed inside the engine "
                                          f"({type(exc).__name__}: {exc}); the traceback is in "
                                          f"{self.config.log_path or 'the engine log'}")
        req.fail(error)
        return error.code

    def _finish(self, req: Request, outcome: str) -> None:
        req.state = "done"
        with self._lock:
            if self._requests.get(req.id) is req:
                del self._requests[req.id]
            self.requests_served += 1
        elapsed = time.monotonic() - (req.started or req.created)
        level = logging.DEBUG if outcome.startswith("ok") else logging.INFO
        log.log(level, "%s %s %s from %s: %s in %.3f s", req.op.name, req.id,
                req.params.get("model", ""), req.client, outcome, elapsed)

    def cancel(self, request_id: str) -> bool:
        with self._lock:
            req = self._requests.get(request_id)
        if req is None:
            return False
        return req.fail(EngineError(CANCELLED, f"{req.op.name} was cancelled"))

    def connection_closed(self, conn: Connection) -> None:
        with self._lock:
            self._connections.discard(conn)
            orphans = [r for r in self._requests.values() if r.client == conn.name]
        for req in orphans:  # nobody is waiting for these: stop them
            req.fail(EngineError(CANCELLED, "the client disconnected"))

    def _watchdog(self) -> None:
        while not self.stopping.wait(0.2):
            now = time.monotonic()
            with self._lock:
                late = [r for r in self._requests.values()
                        if r.deadline and now > r.deadline and not r.answered]
            for req in late:
                log.warning("%s %s from %s ran past its time limit", req.op.name, req.id,
                            req.client)
                req.fail(EngineError(TIMEOUT, f"{req.op.name} ran past its time limit of "
                                              f"{req.deadline - req.created:.0f} s"))

    # -- state for handlers ------------------------------------------------------------------

    def _resolve_device(self) -> None:
        try:
            if self.config.device != "auto":
                self._device = self.config.device
            else:
                import torch

                self._device = "cuda" if torch.cuda.is_available() else "cpu"
        except Exception as exc:  # noqa: BLE001
            log.warning("could not probe the device (%s); using cpu", exc)
            self._device = "cpu"
        self._device_ready.set()

    def resource(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """A long-lived helper (e.g. a started detector backend), made once and kept."""
        with self._resources_lock:
            if key not in self._resources:
                self._resources[key] = make()
            return self._resources[key]

    @property
    def device(self) -> str:
        """The torch device for model work (waits for the start-up probe)."""
        self._device_ready.wait()
        return self._device or "cpu"

    def describe(self, asking: str = "") -> dict:
        with self._lock:
            queue = [r.describe() for r in self._requests.values() if r.id != asking]
            connections = len(self._connections)
            served = self.requests_served
        return {
            "version": __version__, "protocol": PROTOCOL_VERSION, "pid": os.getpid(),
            "address": str(self.config.address), "log": self.config.log_path,
            "uptime_s": round(time.time() - self.started, 1),
            "device": self._device if self._device_ready.is_set() else "starting",
            "models": self.models.describe(), "model_budget_bytes": self.models.budget_bytes,
            "model_bytes": self.models.used_bytes(),
            "queue": queue, "device_queue": self._device_queue.pending(),
            "connections": connections, "requests_served": served,
        }


def _timeout(value, default: float) -> float:
    if value is None:
        return default
    if type(value) not in (int, float) or not 0 < value <= MAX_TIMEOUT_S:
        raise EngineError(BAD_PARAMS, f"timeout_s must be a number of seconds between 0 and "
                                      f"{MAX_TIMEOUT_S:.0f}")
    return float(value)
