"""One client connection: reads requests in its own thread; answers go out through its own
writer thread, so a client that stops reading holds only its own connection, never a worker.

A connection that breaks the framing, sends too much, or fails the handshake is answered with a
structured error and closed; everything else it sends gets an answer and the connection stays.
Before the handshake a peer has ``hello_timeout_s`` from the moment it was accepted, however
it trickles its bytes.
"""

from __future__ import annotations

import itertools
import logging
import select
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from faceplate_client.protocol import (
    INTERNAL,
    PREAUTH_LIMITS,
    EngineError,
    Limits,
    Message,
    ProtocolError,
    error_message,
    read_message,
    send_message,
)

log = logging.getLogger("faceplate.server")

MESSAGE_TIMEOUT_S = 60.0  # a message once started may stall this long between chunks

_ids = itertools.count(1)
Done = Callable[[], None] | None


class Connection:
    def __init__(self, sock: socket.socket, engine: Any, limits: Limits,
                 hello_timeout_s: float = 10.0, send_timeout_s: float = 60.0):
        # The socket stays blocking for good: the reader and the writer share it from
        # different threads, and switching its timeout mode under a writer breaks the writer's
        # send. Reads wait in poll() with their own limits; the writer gives up after
        # SO_SNDTIMEO.
        sock.settimeout(None)
        seconds = max(1, int(send_timeout_s))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", seconds, 0))
        self._poll = select.poll()
        self._poll.register(sock.fileno(), select.POLLIN)
        self.sock, self.engine, self.limits = sock, engine, limits
        self.number = next(_ids)
        self.name = f"conn-{self.number}"
        self.authenticated = False
        self.alive = True
        self.hello_deadline = time.monotonic() + hello_timeout_s
        self._hello_timeout_s = hello_timeout_s
        self._write_lock = threading.Lock()
        self._in_message = False
        self._outbox: deque[tuple[Message, Done]] = deque()
        self._outbox_ready = threading.Condition()
        self._writer: threading.Thread | None = None
        self._closing = False  # no more reading: the writer flushes what is queued and ends
        self._send_timeout_s = send_timeout_s
        self._payload: Any = None  # the payload being received (engine.payloads.Payload)

    # -- writing -----------------------------------------------------------------------------

    def send(self, message: Message, done: Done = None) -> bool:
        """Queue one message for the writer (written at once before the handshake, when only
        this connection's own thread answers); ``done`` runs once it is written or dropped.
        False if the client is gone."""
        if self._writer is None:
            ok = self._write(message)
            if done:
                done()
            return ok
        with self._outbox_ready:
            if not self.alive:
                queued = False
            else:
                self._outbox.append((message, done))
                self._outbox_ready.notify()
                queued = True
        if not queued and done:
            done()
        return queued

    def start_writer(self) -> bool:
        """Start the writer thread (after the handshake); False if no thread can start."""
        writer = threading.Thread(target=self._drain, name=f"{self.name}-writer", daemon=True)
        try:
            writer.start()
        except RuntimeError as exc:
            log.warning("%s: cannot start its writer thread (%s)", self.name, exc)
            return False
        self._writer = writer
        return True

    def _drain(self) -> None:
        while True:
            with self._outbox_ready:
                while self.alive and not self._closing and not self._outbox:
                    self._outbox_ready.wait()
                if not self._outbox:
                    return
                message, done = self._outbox.popleft()
            try:
                if self.alive:
                    self._write(message)
            finally:
                if done:
                    done()
            if not self.alive:
                self._drop_outbox()

    def _drop_outbox(self) -> None:
        with self._outbox_ready:
            pending = list(self._outbox)
            self._outbox.clear()
        for _, done in pending:
            if done:
                done()

    def _write(self, message: Message) -> bool:
        with self._write_lock:
            if not self.alive:
                return False
            try:
                send_message(self.sock, message)
                return True
            except (ValueError, TypeError) as exc:  # an answer JSON cannot carry: a bug
                log.exception("%s: cannot encode the %s answer to %s", self.name, message.op,
                              message.id)
                error = EngineError(INTERNAL, f"the engine could not encode its answer to "
                                              f"{message.op} ({exc}); details in the log")
                return self._send_quietly(error_message(message.id, error, message.op))
            except OSError as exc:
                log.info("%s: client went away or stopped reading while we answered (%s)",
                         self.name, exc)
                self._mark_dead()
                return False

    def _send_quietly(self, message: Message) -> bool:
        try:
            send_message(self.sock, message)
            return True
        except OSError:
            self._mark_dead()
            return False

    def _mark_dead(self) -> None:
        self.alive = False
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader too
        except OSError:
            pass

    def send_error(self, request_id: str, error: EngineError, op: str = "") -> None:
        self.send(error_message(request_id, error, op))

    def close(self) -> None:
        """Stop reading (the engine is stopping): answers already queued still go out."""
        try:
            self.sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass

    def _finish(self) -> None:
        """Flush the queued answers (within the send timeout), then close for good."""
        with self._outbox_ready:
            self._closing = True
            self._outbox_ready.notify_all()
        if self._writer is not None and self._writer is not threading.current_thread():
            self._writer.join(self._send_timeout_s + 1)
        with self._outbox_ready:
            self._mark_dead()
            self._outbox_ready.notify_all()

    # -- reading -----------------------------------------------------------------------------

    def serve(self) -> None:
        """Read and dispatch messages until the peer leaves, misbehaves or the engine stops."""
        try:
            while self.alive:
                try:
                    message = self._read()
                except ProtocolError as exc:
                    self._release_payload()
                    log.warning("%s: %s", self.name, exc)
                    self.send_error(exc.request_id, exc)
                    if exc.fatal:
                        return
                    continue
                except (OSError, TimeoutError) as exc:
                    self._release_payload()
                    log.info("%s: connection dropped (%s)", self.name, exc or type(exc).__name__)
                    return
                if message is None:
                    return
                payload, self._payload = self._payload, None
                try:
                    keep = self.engine.dispatch(self, message, payload)
                except Exception as exc:
                    log.exception("%s: %s %s could not be dispatched", self.name, message.op,
                                  message.id)
                    self.send_error(message.id, EngineError(
                        INTERNAL, f"the engine failed to start {message.op} "
                                  f"({type(exc).__name__}); details in the engine log"),
                        message.op)
                    keep = self.authenticated
                if not keep:
                    return
        finally:
            self._release_payload()
            self.engine.connection_closed(self)
            self._finish()
            self._drop_outbox()
            try:
                self.sock.close()
            except OSError:
                pass

    def _read(self) -> Message | None:
        self._in_message = False
        if not self.authenticated:
            return read_message(self._recv_into, PREAUTH_LIMITS)
        return read_message(self._recv_into, self.limits, self._allocate)

    def _allocate(self, head, size: int) -> Any:
        self._payload = self.engine.payloads.allocate(size)
        return self._payload.buffer

    def _release_payload(self) -> None:
        payload, self._payload = self._payload, None
        if payload is not None:
            payload.release()

    def _recv_into(self, view: memoryview) -> int:
        if not self.authenticated:
            limit: float | None = self.hello_deadline - time.monotonic()
        else:
            limit = MESSAGE_TIMEOUT_S if self._in_message else None
        if limit is not None and (limit <= 0 or not self._poll.poll(limit * 1000)):
            raise TimeoutError(f"no hello within {self._hello_timeout_s:g} s of connecting"
                               if not self.authenticated else "in the middle of a message")
        n = self.sock.recv_into(view)
        self._in_message = self._in_message or n > 0
        return n
