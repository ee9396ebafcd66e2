"""The engine process: listens on a private socket, authenticates clients, validates each
request against its op's declaration and runs it on the op's lane.

Threads: one accept loop, a reader and a writer per connection, a small pool for CPU and file
work (whose isolated stages run in worker processes, ``.workers``), one device worker
(batched), a few long-job threads, and a watchdog that enforces time limits. Every limit a
client could otherwise push (connections, payload memory, time, worker memory) is a field of
:class:`EngineConfig`, set by ``faceplate serve`` flags and shown by ``faceplate status``.
"""

from __future__ import annotations

import errno
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
    RequestState,
    encode_bytes,
    error_message,
)

from .. import __version__
from ..errors import FaceplateError
from . import handlers  # noqa: F401  (registers the ops)
from .connection import Connection
from .device_queue import DeviceQueue
from .jobs import Request
from .logs import printable
from .model_cache import ModelCache
from .ops import REGISTRY, Result
from .payloads import Payload, PayloadBudget
from .workers import WorkerPool, stage_traceback, watch_request

log = logging.getLogger("faceplate.server")

MAX_IN_FLIGHT_PER_CONNECTION = 256
MAX_TIMEOUT_S = 7 * 24 * 3600.0
SHUTDOWN_GRACE_S = 30.0  # how long cancelled requests get to stop before the process exits


# Accept errors that mean "out of descriptors or memory": back off instead of spinning.
_EXHAUSTED = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_BACKOFF_MAX_S = 1.0
_BURST_LOG_S = 10.0  # while accept keeps failing, one log line per this many seconds


@dataclass
class EngineConfig:
    address: Address
    token_path: str
    log_path: str = ""
    device: str = "auto"
    model_budget_bytes: int = 4 << 30
    limits: Limits = field(default_factory=Limits)
    pool_workers: int = 4  # threads (and worker processes) for pool-lane work
    job_workers: int = 2
    isolate: bool = True  # run isolated stages in worker processes (off: in the engine)
    worker_memory_bytes: int = 8 << 30  # address space a worker may add after start-up
    payload_budget_bytes: int = 4 << 30  # declared payloads held at once, all connections
    max_connections: int = 256  # open connections, authenticated or not
    max_unauthenticated: int = 64  # of those, ones that have not said hello yet
    hello_timeout_s: float = 10.0  # from accept to a good hello
    send_timeout_s: float = 60.0  # a client that stops reading an answer is dropped

    def limits_dict(self) -> dict:
        return {"max_message_bytes": self.limits.max_payload,
                "payload_memory_bytes": self.payload_budget_bytes,
                "max_connections": self.max_connections,
                "max_unauthenticated": self.max_unauthenticated,
                "hello_timeout_s": self.hello_timeout_s, "send_timeout_s": self.send_timeout_s,
                "max_in_flight_per_connection": MAX_IN_FLIGHT_PER_CONNECTION,
                "workers": self.pool_workers, "isolated": self.isolate,
                "worker_memory_bytes": self.worker_memory_bytes}


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
        self.workers = WorkerPool(config.pool_workers, config.worker_memory_bytes) \
            if config.isolate else None
        self.payloads = PayloadBudget(config.payload_budget_bytes)
        self.refused_connections = 0
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
        sock.listen(128)
        sock.settimeout(0.5)
        self._listener = sock
        if self.workers is not None:  # in the background: the first requests wait for them
            threading.Thread(target=self.workers.start, name="faceplate-workers-start",
                             daemon=True).start()
        threading.Thread(target=self._resolve_device, name="faceplate-device-probe",
                         daemon=True).start()
        threading.Thread(target=self._watchdog, name="faceplate-watchdog", daemon=True).start()

    def serve_forever(self) -> None:
        assert self._listener is not None, "bind() first"
        log.info("engine %s (pid %d) listening on %s", __version__, os.getpid(),
                 self.config.address)
        failures = _FailureBurst()
        try:
            while not self.stopping.is_set():
                try:
                    sock, _ = self._listener.accept()
                except TimeoutError:
                    failures.ended()
                    continue
                except OSError as exc:
                    if self.stopping.is_set():
                        break
                    failures.failed(f"accept failed: {exc.strerror or exc}")
                    if exc.errno in _EXHAUSTED:  # descriptors or memory run out: wait for
                        self.stopping.wait(failures.backoff())  # connections to close
                    continue
                if not self._admit(sock, failures):
                    continue
                failures.ended()
        finally:
            self._shutdown()

    def _admit(self, sock: socket.socket, failures: _FailureBurst) -> bool:
        """Serve a new connection in its own thread, or refuse it (over the caps, or no
        thread can start): refused peers get a ``busy`` answer and the engine goes on."""
        with self._lock:
            total = len(self._connections)
            waiting = sum(not c.authenticated for c in self._connections)
        refusal = None
        if total >= self.config.max_connections:
            refusal = f"the engine has its limit of {self.config.max_connections} connections"
        elif waiting >= self.config.max_unauthenticated:
            refusal = (f"{waiting} connections are waiting to say hello (limit "
                       f"{self.config.max_unauthenticated})")
        conn = None
        if refusal is None:
            try:
                if self.config.address.is_tcp:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn = Connection(sock, self, self.config.limits, self.config.hello_timeout_s,
                                  self.config.send_timeout_s)
                with self._lock:
                    self._connections.add(conn)
                threading.Thread(target=conn.serve, name=conn.name, daemon=True).start()
                return True
            except (RuntimeError, OSError) as exc:  # no thread (or descriptor) to spare
                refusal = f"the engine cannot take a connection now ({exc})"
                if conn is not None:
                    with self._lock:
                        self._connections.discard(conn)
                failures.failed(refusal)
                self.stopping.wait(failures.backoff())
        self.refused_connections += 1
        _refuse(sock, refusal)
        if failures.count == 0:
            log.warning("refused a connection: %s", refusal)
        return False

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
        if self.workers is not None:  # work in a worker process ends now, not at a check
            self.workers.close()
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

    def dispatch(self, conn: Connection, msg: Message, payload: Payload | None = None) -> bool:
        """Validate and start one request; False closes the connection. ``payload`` holds the
        request's arrays: released once its answer is out (or now, if it never runs)."""
        started: list[Request] = []
        try:
            return self._dispatch(conn, msg, payload, started)
        finally:
            if payload is not None and not started:
                payload.release()

    def _dispatch(self, conn: Connection, msg: Message, payload: Payload | None,
                  started: list[Request]) -> bool:
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
                      deadline=time.monotonic() + timeout,
                      release=payload.release if payload is not None else None)
        if op.decode is not None:
            try:
                req.input = op.decode(req)
            except EngineError as exc:
                conn.send_error(msg.id, exc, msg.op)
                return True
            except FaceplateError as exc:
                conn.send_error(msg.id, EngineError(BAD_PARAMS, str(exc)), msg.op)
                return True
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
                started.append(req)  # the request now releases the payload once answered
        if error is not None:
            conn.send_error(msg.id, error, msg.op)
            return True
        if op.lane == "control":
            self._run(req)
        elif op.lane == "device":
            self._device_queue.put(req)
        else:
            try:
                (self._jobs if op.lane == "job" else self._pool).submit(self._run, req)
            except RuntimeError as exc:  # no thread to spare (or shutting down)
                req.fail(EngineError(BUSY, f"the engine cannot start {op.name} now ({exc})"))
                self._finish(req, "busy")
        return True

    def _authenticate(self, conn: Connection, msg: Message) -> EngineError | None:
        if msg.op != "hello":
            return EngineError(AUTH, "say hello with the engine's token first")
        token, protocol = msg.params.get("token"), msg.params.get("protocol")
        if protocol != PROTOCOL_VERSION:
            return EngineError(PROTOCOL_MISMATCH, f"engine speaks protocol {PROTOCOL_VERSION}, "
                                                  f"client {protocol}: update the older side")
        if not isinstance(token, str) or not hmac.compare_digest(
                token.encode("utf-8", "replace"), self._token.encode()):
            return EngineError(AUTH, f"wrong or missing token: read it from "
                                     f"{self.config.token_path}")
        if not conn.start_writer():
            return EngineError(BUSY, "the engine cannot start a thread for this connection "
                                     "now; try again shortly")
        conn.authenticated = True
        name = msg.params.get("client")
        if isinstance(name, str) and name:
            conn.name = f"{printable(name[:48])}#{conn.number}"
        return None

    def _run(self, req: Request) -> None:
        if req.answered:  # cancelled or timed out while queued
            self._finish(req, "dropped")
            return
        req.state, req.started = RequestState.RUNNING, time.monotonic()
        outcome = "ok"
        try:
            req.check()
            arg = req if req.op.decode is None else req.input
            if req.op.isolated and self.workers is not None:
                result = self.workers.run(req.op.handler, arg,
                                          watch_request(req, self.stopping),
                                          f"{req.op.name} {req.id}")
            else:
                result = req.op.handler(arg)
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
            req.state, req.started = RequestState.RUNNING, time.monotonic()
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
        elif isinstance(exc, MemoryError):
            log.warning("%s %s ran out of memory", req.op.name, req.id)
            error = EngineError(FAILED, f"{req.op.name} needs more memory than the engine has "
                                        "free; try a smaller request")
        else:
            where = stage_traceback(exc)
            if where is not None:
                log.error("%s %s failed in a worker process:\n%s", req.op.name, req.id, where)
            else:
                log.exception("%s %s failed", req.op.name, req.id, exc_info=exc)
            error = EngineError(INTERNAL, f"{req.op.name} failed inside the engine "
                                          f"({type(exc).__name__}: {exc}); the traceback is in "
                                          f"{self.config.log_path or 'the engine log'}")
        req.fail(error)
        return error.code

    def _finish(self, req: Request, outcome: str) -> None:
        req.state = RequestState.DONE
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
            "refused_connections": self.refused_connections,
            "limits": self.config.limits_dict(), "payloads": self.payloads.describe(),
            "workers": self.workers.describe() if self.workers is not None else None,
        }


class _FailureBurst:
    """Accept failures in a row: an exponential backoff, and one log line per burst (then one
    every few seconds while it lasts), so a flood cannot fill the log or spin the CPU."""

    def __init__(self):
        self.count, self._logged_at, self._last = 0, 0.0, ""

    def failed(self, what: str) -> None:
        self.count += 1
        now, self._last = time.monotonic(), what
        if self.count == 1 or now - self._logged_at >= _BURST_LOG_S:
            log.warning("%s (%d in a row; backing off)", what, self.count)
            self._logged_at = now

    def backoff(self) -> float:
        return min(_BACKOFF_MAX_S, 0.01 * 2 ** min(self.count, 10))

    def ended(self) -> None:
        if self.count > 1:
            log.warning("accepting again after %d failures (last: %s)", self.count, self._last)
        self.count = 0


def _refuse(sock: socket.socket, why: str) -> None:
    """Tell a refused peer why (best effort, never blocking) and close."""
    try:
        sock.setblocking(False)
        sock.send(encode_bytes(error_message("-", EngineError(BUSY, why))))
    except OSError:
        pass
    finally:
        sock.close()


def _timeout(value, default: float) -> float:
    if value is None:
        return default
    if type(value) not in (int, float) or not 0 < value <= MAX_TIMEOUT_S:
        raise EngineError(BAD_PARAMS, f"timeout_s must be a number of seconds between 0 and "
                                      f"{MAX_TIMEOUT_S:.0f}")
    return float(value)
