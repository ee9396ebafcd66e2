"""Worker processes for op work that cannot be interrupted (a long library call).

A pool-lane op declared ``isolated`` runs its stage in one of these processes. The pool thread
that sent it waits for the answer while watching the request: past its time limit, cancelled,
or the engine stopping, the process is killed and a fresh one takes its place, so a request
that overruns never holds a worker and the pool never shrinks. Each worker has an address
space limit (``--worker-memory`` on top of what it uses after start-up); work that needs more
fails with a clear error instead of growing the engine.

Inputs and results cross as pickles whose array buffers travel out of band through two
shared-memory arenas per worker (one each way), kept mapped and reused between calls: no pipe
traffic for pixels and no fresh pages to fault in. A stage that builds its result with
:func:`shared_array` writes it straight into the outgoing arena; the engine copies results out
before the worker takes the next call, so the arena is never read while it is rewritten.
Only the engine and its own children pickle and unpickle: a client's bytes are decoded by the
wire protocol and its op's ``decode`` into stage-input dataclasses first, and the arenas are
anonymous files inherited by the child alone, so nothing a client sends is ever unpickled.
"""

from __future__ import annotations

import errno
import logging
import mmap
import multiprocessing as mp
import os
import pickle
import resource
import signal
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.reduction import recv_handle, send_handle
from queue import LifoQueue
from typing import Any

import numpy as np
from faceplate_client.protocol import CANCELLED, FAILED, INTERNAL, TIMEOUT, EngineError

from ..errors import FaceplateError

log = logging.getLogger("faceplate.server")

_POLL_S = 0.05
# Imported once in the fork server, so each new worker starts warm.
_PRELOAD = ["numpy", "cv2", "faceplate.server.handlers", "faceplate.convert.pipeline"]


class WorkerPool:
    """``size`` worker processes; :meth:`run` borrows one for a call."""

    def __init__(self, size: int, memory_bytes: int):
        self.size, self.memory_bytes = size, memory_bytes
        self._ctx = mp.get_context("forkserver")
        self._ctx.set_forkserver_preload(_PRELOAD)
        # Last in, first out: the warmest worker (imports done, caches and arenas filled)
        # takes the next call.
        self._idle: LifoQueue[_Worker] = LifoQueue()
        self._lock = threading.Lock()
        self._all: set[_Worker] = set()
        self.started = self.replaced = 0
        self.last_replaced: list[dict] = []  # the latest few, for status
        self._closed = False

    def start(self) -> None:
        for _ in range(self.size):
            self._idle.put(self._spawn())

    def run(self, fn: Callable[[Any], Any], arg: Any, watch: Callable[[], EngineError | None],
            what: str) -> Any:
        """``fn(arg)`` in a worker. ``watch`` is polled while it runs; an error it returns
        stops the work (the worker is killed and replaced) and is raised here."""
        worker = self._idle.get()
        try:
            return worker.call(fn, arg, watch)
        except _WorkerLost as lost:
            self._replace(worker, what, lost.reason)
            if not self._closed:
                try:
                    worker = self._spawn()
                except (OSError, RuntimeError) as exc:  # the next call tries again
                    log.error("cannot start a worker process (%s)", exc)
            raise lost.error from None
        finally:
            if not self._closed:
                self._idle.put(worker)

    def describe(self) -> dict:
        with self._lock:
            pids = sorted(w.process.pid or 0 for w in self._all)
            return {"processes": self.size, "pids": pids, "memory_bytes": self.memory_bytes,
                    "started": self.started, "replaced": self.replaced,
                    "last_replaced": list(self.last_replaced)}

    def close(self) -> None:
        """Kill every worker (the engine is stopping: running work is abandoned)."""
        self._closed = True
        with self._lock:
            workers = list(self._all)
        for w in workers:
            w.kill()

    def _spawn(self) -> _Worker:
        worker = _Worker(self._ctx, self.memory_bytes)
        with self._lock:
            self._all.add(worker)
            self.started += 1
        return worker

    def _replace(self, worker: _Worker, what: str, reason: str) -> None:
        worker.kill()
        with self._lock:
            self._all.discard(worker)
            self.replaced += 1
            self.last_replaced = [*self.last_replaced[-4:], {
                "pid": worker.process.pid, "request": what, "reason": reason,
                "at": round(time.time(), 1)}]
        log.warning("killed worker %s (%s: %s); starting a new one", worker.process.pid,
                    what, reason)


class _WorkerLost(Exception):
    def __init__(self, error: EngineError, reason: str):
        self.error, self.reason = error, reason


class _Worker:
    def __init__(self, ctx, memory_bytes: int):
        self.conn, child = ctx.Pipe()
        self.to_worker, self.from_worker = Arena(), Arena()
        self.process = ctx.Process(target=_serve, args=(child, memory_bytes),
                                   name="faceplate-worker", daemon=True)
        self.process.start()
        child.close()
        send_handle(self.conn, self.to_worker.fd, 0)
        send_handle(self.conn, self.from_worker.fd, 0)

    def call(self, fn, arg, watch) -> Any:
        try:
            self.conn.send(self.to_worker.pack((fn, arg)))
        except OSError:
            raise _WorkerLost(EngineError(FAILED, "a worker process died; try again"),
                              "died before the request") from None
        while not self.conn.poll(_POLL_S):
            error = watch()
            if error is not None:
                raise _WorkerLost(error, error.code)
            if not self.process.is_alive():
                break
        try:
            status, message = self.conn.recv()
        except (EOFError, OSError):
            self.process.join(1)
            code = self.process.exitcode
            why = (f"signal {-code}" if code is not None and code < 0 else f"exit {code}")
            raise _WorkerLost(EngineError(FAILED, f"the worker process died ({why}); the work "
                                                  "may need more memory than a worker may use"
                                                  " (--worker-memory)"), why) from None
        finally:
            self.to_worker.trim()
        if status != "ok":
            raise _error(message)
        try:
            return self.from_worker.unpack(message, copy=True)
        finally:
            self.from_worker.trim()

    def kill(self) -> None:
        try:
            self.process.kill()
            self.process.join(5)
        except (OSError, ValueError, AssertionError):
            pass
        self.conn.close()
        self.to_worker.close()
        self.from_worker.close()


def _error(payload: tuple) -> Exception:
    kind, code, message, text = payload
    if kind == "engine":
        return EngineError(code, message)
    if kind == "user":
        return EngineError(FAILED, message)
    if kind == "memory":
        return EngineError(FAILED, message)
    return _StageCrash(message, text)


class _StageCrash(Exception):
    """A bug inside a stage run in a worker; ``text`` is its traceback there."""

    def __init__(self, message: str, text: str):
        super().__init__(message)
        self.text = text


def stage_traceback(exc: BaseException) -> str | None:
    """The worker-side traceback of an exception raised by :meth:`WorkerPool.run`."""
    return exc.text if isinstance(exc, _StageCrash) else None


# Arenas larger than this are emptied after a call (a 4K merge's result fits, so steady work
# at 4K keeps its pages; a one-off huge request does not pin its memory).
KEEP_BYTES = 512 << 20


class Arena:
    """A growable shared-memory file both processes map; one call's buffers at a time.

    ``pack`` lays a pickle's out-of-band buffers end to end (buffers already inside the arena,
    from :meth:`empty`, stay where they are); ``unpack`` rebuilds the object on views of it.
    """

    def __init__(self, fd: int = -1):
        self.fd = anonymous_file(0) if fd < 0 else fd
        self._map: mmap.mmap | None = None
        self._size = 0
        self._used = 0

    def pack(self, obj: Any) -> tuple[bytes, list[tuple[int, int]]]:
        buffers: list[pickle.PickleBuffer] = []
        head = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
        views = [b.raw() for b in buffers]
        inside = [self._offset_of(v) for v in views]
        self._reserve(self._used + sum(v.nbytes for v, at in zip(views, inside) if at is None))
        layout = []
        for v, at in zip(views, inside):
            if at is None:
                at = self._used
                np.copyto(np.frombuffer(self._slice(at, v.nbytes), np.uint8),
                          np.frombuffer(v, np.uint8))
                self._used += v.nbytes
            layout.append((at, v.nbytes))
        return head, layout

    def unpack(self, message: tuple[bytes, list[tuple[int, int]]], copy: bool = False) -> Any:
        head, layout = message
        if layout:
            self._remap()
        return pickle.loads(head, buffers=[np.frombuffer(self._slice(at, n), np.uint8).copy()
                                           if copy else self._slice(at, n)
                                           for at, n in layout])

    def empty(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        size = int(np.prod(shape)) * np.dtype(dtype).itemsize
        self._reserve(self._used + size)
        out = np.frombuffer(self._slice(self._used, size), dtype).reshape(shape)
        self._used += size
        return out

    def trim(self) -> None:
        """The call is over on both sides: empty a huge arena (the engine side decides)."""
        self._used = 0
        if self._size > KEEP_BYTES:
            self.close(keep_fd=True)
            os.ftruncate(self.fd, 0)

    def reset(self) -> None:
        """Start a new call's buffers at the beginning."""
        self._used = 0

    def close(self, keep_fd: bool = False) -> None:
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:  # views still alive: the mapping goes with them
                pass
            self._map, self._size = None, 0
        if not keep_fd and self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _reserve(self, size: int) -> None:
        try:
            if size > os.fstat(self.fd).st_size:
                os.ftruncate(self.fd, max(size, 2 * self._size, 1 << 20))
            self._remap()
        except OSError as exc:
            if exc.errno == errno.ENOMEM:  # keep the arena as it was, mapped
                os.ftruncate(self.fd, self._size)
                raise MemoryError(str(exc)) from None
            raise

    def _remap(self) -> None:
        size = os.fstat(self.fd).st_size
        if size != self._size:
            if self._map is not None:
                try:
                    self._map.close()
                except BufferError:
                    pass
            self._map, self._size = (mmap.mmap(self.fd, size) if size else None), size

    def _slice(self, at: int, n: int) -> memoryview:
        if not n:
            return memoryview(bytearray())
        assert self._map is not None
        return memoryview(self._map)[at:at + n]

    def _offset_of(self, view: memoryview) -> int | None:
        if self._map is None or not view.nbytes:
            return None
        base = np.frombuffer(self._map, np.uint8).ctypes.data
        start = int(np.frombuffer(view, np.uint8).ctypes.data) - base
        return start if 0 <= start and start + view.nbytes <= self._size else None


_outgoing: Arena | None = None  # in a worker: the arena its results go out through


def shared_array(shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
    """An empty array for a stage's result: in a worker it lives in the outgoing arena and
    crosses without a copy; in the engine process itself it is an ordinary array."""
    if _outgoing is None:
        return np.empty(shape, dtype)
    return _outgoing.empty(shape, dtype)


def anonymous_file(size: int) -> int:
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("faceplate-arrays", os.MFD_CLOEXEC)
    else:  # pragma: no cover - macOS: an unlinked temporary file
        import tempfile

        with tempfile.TemporaryFile() as fh:
            fd = os.dup(fh.fileno())
    os.ftruncate(fd, size)
    return fd


# --- the worker side ---------------------------------------------------------------------

def _serve(conn: Connection, memory_bytes: int) -> None:
    global _outgoing
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the engine stops us, not the terminal
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent()
    incoming, _outgoing = Arena(recv_handle(conn)), Arena(recv_handle(conn))
    _limit_memory(memory_bytes)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        _outgoing.reset()  # the engine copied the last answer out before sending this
        try:
            fn, arg = incoming.unpack(message)
            answer = ("ok", _outgoing.pack(fn(arg)))
        except MemoryError:
            answer = _failure("memory", FAILED, f"the work needs more memory than a worker may "
                                                f"use ({memory_bytes / 1e6:.0f} MB; "
                                                "--worker-memory)")
        except EngineError as exc:
            answer = _failure("engine", exc.code, exc.message)
        except FaceplateError as exc:
            answer = _failure("user", FAILED, str(exc))
        except Exception as exc:  # noqa: BLE001 - reported with its traceback
            answer = _failure("internal", INTERNAL, f"{type(exc).__name__}: {exc}",
                              traceback.format_exc())
        fn = arg = None
        conn.send(answer)


def _failure(kind: str, code: str, message: str, text: str = "") -> tuple:
    return ("error", (kind, code, message, text))


def _die_with_parent() -> None:
    """Linux: be killed when our parent, the fork server, goes. It ends when the engine does,
    once no worker holds its keep-alive descriptor (ours is closed here), so an engine killed
    with SIGKILL leaves no worker spinning in a library call."""
    from multiprocessing import forkserver

    try:
        os.close(forkserver._forkserver._forkserver_alive_fd)  # type: ignore[attr-defined]
    except (AttributeError, TypeError, OSError):  # pragma: no cover - another Python
        pass
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    if os.getppid() == 1:  # the parent went before the call above took effect
        os._exit(0)


def _limit_memory(extra: int) -> None:
    """Cap the address space at what the worker maps now plus ``extra`` bytes."""
    if extra <= 0:
        return
    try:
        with open("/proc/self/statm") as fh:
            mapped = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # pragma: no cover - no /proc (macOS): no limit
        return
    resource.setrlimit(resource.RLIMIT_AS, (mapped + extra, mapped + extra))


def watch_request(req, stopping: threading.Event) -> Callable[[], EngineError | None]:
    """The ``watch`` of :meth:`WorkerPool.run` for a request: its deadline, cancel flag and
    the engine's stop."""
    def watch() -> EngineError | None:
        if stopping.is_set():
            return EngineError(CANCELLED, "the engine is shutting down")
        if req.cancel_event.is_set():
            return EngineError(CANCELLED, f"{req.op.name} was cancelled")
        if req.deadline and time.monotonic() > req.deadline:
            return EngineError(TIMEOUT, f"{req.op.name} ran past its time limit")
        return None
    return watch
