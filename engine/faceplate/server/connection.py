"""One client connection: reads requests in its own thread, writes answers under a lock.

A connection that breaks the framing, sends too much, or fails the handshake is answered with a
structured error and closed; everything else it sends gets an answer and the connection stays.
"""

from __future__ import annotations

import itertools
import logging
import select
import socket
import struct
import threading
from typing import Any

from faceplate_client.protocol import (
    ERROR,
    INTERNAL,
    PREAUTH_LIMITS,
    EngineError,
    Limits,
    Message,
    ProtocolError,
    read_message,
    send_message,
)

log = logging.getLogger("faceplate.server")

HANDSHAKE_TIMEOUT_S = 10.0  # a peer must say hello this soon after connecting
MESSAGE_TIMEOUT_S = 60.0    # a message once started may stall this long between chunks
SEND_TIMEOUT_S = 120        # a client that stops reading our answer is dropped after this

_ids = itertools.count(1)


class Connection:
    def __init__(self, sock: socket.socket, engine: Any, limits: Limits):
        # The socket stays blocking for good: the reader and writers share it from different
        # threads, and switching its timeout mode under a writer breaks the writer's send.
        # Reads wait in poll() with their own limits; a writer gives up after SO_SNDTIMEO.
        sock.settimeout(None)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO,
                        struct.pack("ll", SEND_TIMEOUT_S, 0))
        self._poll = select.poll()
        self._poll.register(sock.fileno(), select.POLLIN)
        self.sock, self.engine, self.limits = sock, engine, limits
        self.number = next(_ids)
        self.name = f"conn-{self.number}"
        self.authenticated = False
        self.alive = True
        self._write_lock = threading.Lock()
        self._in_message = False

    def send(self, message: Message) -> bool:
        """Write one message; False (and the connection marked dead) if the client is gone."""
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
                return self._send_quietly(Message(ERROR, message.id, message.op,
                                                  error.to_params()))
            except OSError as exc:
                log.info("%s: client went away while we answered (%s)", self.name, exc)
                self.alive = False
                return False

    def _send_quietly(self, message: Message) -> bool:
        try:
            send_message(self.sock, message)
            return True
        except OSError:
            self.alive = False
            return False

    def send_error(self, request_id: str, error: EngineError, op: str = "") -> None:
        self.send(Message(ERROR, request_id, op, error.to_params()))

    def close(self) -> None:
        self.alive = False
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def serve(self) -> None:
        """Read and dispatch messages until the peer leaves, misbehaves or the engine stops."""
        try:
            while self.alive:
                try:
                    message = self._read()
                except ProtocolError as exc:
                    log.warning("%s: %s", self.name, exc)
                    self.send_error("-", exc)
                    if exc.fatal:
                        return
                    continue
                except (OSError, TimeoutError) as exc:
                    log.info("%s: connection dropped (%s)", self.name, exc or type(exc).__name__)
                    return
                if message is None:
                    return
                if not self.engine.dispatch(self, message):
                    return
        finally:
            self.alive = False
            self.engine.connection_closed(self)
            try:
                self.sock.close()
            except OSError:
                pass

    def _read(self) -> Message | None:
        self._in_message = False
        return read_message(self._recv_into, self.limits if self.authenticated
                            else PREAUTH_LIMITS)

    def _recv_into(self, view: memoryview) -> int:
        limit = MESSAGE_TIMEOUT_S if self._in_message else \
            None if self.authenticated else HANDSHAKE_TIMEOUT_S
        if limit is not None and not self._poll.poll(limit * 1000):
            raise TimeoutError("in the middle of a message" if self._in_message
                               else "no hello after connecting")
        n = self.sock.recv_into(view)
        self._in_message = self._in_message or n > 0
        return n
