"""The Faceplate wire protocol, implemented once and imported by both the engine and Nuke.

Standard library only (Python 3.9+). A message on the wire is::

    fixed header  20 bytes, little-endian: magic b"FPLT", u16 version, u16 flags (0),
                  u32 json_length, u64 payload_length
    JSON header   UTF-8 object: kind, id, op, params, arrays (name, dtype, shape per array)
    payload       the arrays' raw bytes, C order, little-endian, in the order of ``arrays``

Every length is checked against :class:`Limits` before anything is allocated. There is no
pickle and no eval: the JSON header is data, and arrays are bytes plus ``(dtype, shape)``, so
the host side needs no numpy. docs/protocol.md is the prose version of this module.
"""

from __future__ import annotations

import array
import json
import math
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

PROTOCOL_VERSION = 1
MAGIC = b"FPLT"
HEADER = struct.Struct("<4sHHIQ")

# Message kinds. A request gets any number of "progress" messages, then one "reply" or "error".
REQUEST, REPLY, PROGRESS, ERROR = "request", "reply", "progress", "error"
KINDS = (REQUEST, REPLY, PROGRESS, ERROR)

# dtype name -> (item size, array-module typecode or "" when the array module has none).
DTYPES: dict[str, tuple[int, str]] = {
    "uint8": (1, "B"), "uint16": (2, "H"), "int32": (4, "i"), "int64": (8, "q"),
    "float16": (2, ""), "float32": (4, "f"), "float64": (8, "d"),
}
MAX_NDIM = 8
MAX_ARRAYS = 32
MAX_ID_LENGTH = 128
MAX_ELEMENTS = 1 << 40  # the product of an array's non-zero dimensions (so [0, 2**39, 2**39]
                        # cannot stand for an absurd empty array)

# Error codes (``EngineError.code``); docs/protocol.md explains each.
BAD_FRAME = "bad_frame"              # framing broken: the connection is closed
PROTOCOL_MISMATCH = "protocol_version"
TOO_LARGE = "too_large"              # a length over the limits: the connection is closed
AUTH = "auth"                        # missing or wrong token: the connection is closed
BAD_REQUEST = "bad_request"          # well-framed but malformed header (ids, kinds, arrays)
UNKNOWN_OP = "unknown_op"
BAD_PARAMS = "bad_params"            # a parameter or array does not match the op's declaration
FAILED = "failed"                    # the work failed; the message is written for the artist
TIMEOUT = "timeout"
CANCELLED = "cancelled"
BUSY = "busy"                        # the engine is shutting down or over its queue limit
INTERNAL = "internal"                # a bug in the engine: details are in the engine log
CONNECTION_LOST = "connection_lost"  # client side: the engine went away mid-request
UNAVAILABLE = "engine_unavailable"   # client side: no engine could be reached or started
ERROR_CODES = (BAD_FRAME, PROTOCOL_MISMATCH, TOO_LARGE, AUTH, BAD_REQUEST, UNKNOWN_OP, BAD_PARAMS,
               FAILED, TIMEOUT, CANCELLED, BUSY, INTERNAL, CONNECTION_LOST, UNAVAILABLE)


class RequestState(str, Enum):
    """A request's state in the engine (``status`` → ``queue[].state``): queued → running →
    done. A ``str``, so it travels in JSON and compares equal to its word."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"

    def __str__(self) -> str:
        return str(self.value)


class EngineError(Exception):
    """A structured error from the engine (or about reaching it): ``code`` plus a message."""

    def __init__(self, code: str, message: str, details: dict | None = None):
        super().__init__(f"{message} [{code}]")
        self.code = code
        self.message = message
        self.details = details or {}

    def to_params(self) -> dict:
        params: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            params["details"] = self.details
        return params


class ProtocolError(EngineError):
    """A message that breaks the protocol. ``fatal`` ones end the connection (no resync).
    ``request_id`` is the message's id when its header was read, else ``"-"``."""

    def __init__(self, code: str, message: str, fatal: bool = False, request_id: str = "-"):
        super().__init__(code, message)
        self.fatal = fatal
        self.request_id = request_id


@dataclass(frozen=True)
class Limits:
    """Largest JSON header and payload a reader accepts; checked before allocating."""

    max_json: int = 1 << 20
    max_payload: int = 1 << 30


# Before the handshake a peer may send only a small header and no arrays.
PREAUTH_LIMITS = Limits(max_json=64 << 10, max_payload=0)

if TYPE_CHECKING:  # a runtime ``|`` between types needs Python 3.10; the host runs 3.9
    Buffer = bytes | bytearray | memoryview


@dataclass(frozen=True)
class Array:
    """An n-dimensional array as raw little-endian C-order bytes plus ``dtype`` and ``shape``.

    The engine converts to numpy (``faceplate.server.arrays``); the host uses
    :meth:`from_values` / :meth:`values`, or hands over any buffer (e.g. a numpy array).
    """

    dtype: str
    shape: tuple[int, ...]
    data: Buffer

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"unsupported dtype {self.dtype!r}; use one of {', '.join(DTYPES)}")
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        size = memoryview(self.data).nbytes
        if size != expected_nbytes(self.dtype, self.shape):
            raise ValueError(f"{size} bytes do not hold a {self.dtype} array of shape "
                             f"{self.shape} ({expected_nbytes(self.dtype, self.shape)} bytes)")

    @property
    def nbytes(self) -> int:
        return expected_nbytes(self.dtype, self.shape)

    @classmethod
    def from_values(cls, values, dtype: str = "float32",
                    shape: tuple[int, ...] | None = None) -> Array:
        """Pack a flat sequence of numbers (row-major) into an array of ``dtype``."""
        code = DTYPES[dtype][1]
        if not code:
            raise ValueError(f"{dtype} cannot be packed from Python numbers; pass bytes")
        packed = array.array(code, values)
        if sys.byteorder == "big":
            packed.byteswap()
        return cls(dtype, tuple(shape) if shape is not None else (len(packed),), packed.tobytes())

    def values(self) -> list:
        """The elements as a flat Python list (row-major)."""
        code = DTYPES[self.dtype][1]
        if not code:
            raise ValueError(f"{self.dtype} arrays cannot be unpacked to Python numbers")
        unpacked = array.array(code)
        unpacked.frombytes(memoryview(self.data).cast("B"))
        if sys.byteorder == "big":
            unpacked.byteswap()
        return unpacked.tolist()

    def describe(self, name: str) -> dict:
        return {"name": name, "dtype": self.dtype, "shape": list(self.shape)}


def expected_nbytes(dtype: str, shape) -> int:
    return DTYPES[dtype][0] * math.prod(shape)


@dataclass
class Message:
    """One protocol message. ``params`` of an error are ``{"code", "message", "details"?}``."""

    kind: str
    id: str
    op: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, Array] = field(default_factory=dict)

    def error(self) -> EngineError:
        """The :class:`EngineError` an ``error`` message carries."""
        return EngineError(str(self.params.get("code", INTERNAL)),
                           str(self.params.get("message", "engine error")),
                           self.params.get("details") if isinstance(
                               self.params.get("details"), dict) else None)


def error_message(request_id: str, exc: EngineError, op: str = "") -> Message:
    return Message(ERROR, request_id, op, exc.to_params())


# ---------------------------------------------------------------------------------------------
# Encoding


def encode(message: Message) -> list[Buffer]:
    """The buffers of one message, header first; array data is not copied."""
    head = {"kind": message.kind, "id": message.id, "op": message.op, "params": message.params,
            "arrays": [a.describe(name) for name, a in message.arrays.items()]}
    body = json.dumps(head, separators=(",", ":"), allow_nan=False).encode("utf-8")
    payload = sum(a.nbytes for a in message.arrays.values())
    buffers: list[Buffer] = [HEADER.pack(MAGIC, PROTOCOL_VERSION, 0, len(body), payload), body]
    buffers.extend(memoryview(a.data).cast("B") for a in message.arrays.values() if a.nbytes)
    return buffers


def encode_bytes(message: Message) -> bytes:
    return b"".join(bytes(b) for b in encode(message))


# ---------------------------------------------------------------------------------------------
# Decoding: three steps, each validating before the next allocates.


def parse_fixed_header(data: Buffer, limits: Limits) -> tuple[int, int]:
    """``(json_length, payload_length)`` from the 20-byte fixed header."""
    if len(data) != HEADER.size:
        raise ProtocolError(BAD_FRAME, "truncated message header", fatal=True)
    magic, version, flags, json_len, payload_len = HEADER.unpack(data)
    if magic != MAGIC:
        raise ProtocolError(BAD_FRAME, "not a Faceplate protocol message (bad magic)", fatal=True)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            PROTOCOL_MISMATCH,
            f"peer speaks Faceplate protocol {version}, this side {PROTOCOL_VERSION}: install "
            "matching versions of the Nuke plug-in and the engine", fatal=True)
    if flags != 0:
        raise ProtocolError(BAD_FRAME, f"unknown header flags {flags:#x}", fatal=True)
    if json_len == 0 or json_len > limits.max_json:
        raise ProtocolError(TOO_LARGE, f"JSON header of {json_len} bytes (limit "
                                       f"{limits.max_json})", fatal=True)
    if payload_len > limits.max_payload:
        raise ProtocolError(TOO_LARGE, f"payload of {payload_len} bytes (limit "
                                       f"{limits.max_payload})", fatal=True)
    return json_len, payload_len


@dataclass
class Head:
    """A validated JSON header: everything but the array bytes."""

    kind: str
    id: str
    op: str
    params: dict[str, Any]
    arrays: list[tuple[str, str, tuple[int, ...]]]


def parse_json_header(data: Buffer, payload_len: int) -> Head:
    """Validate the JSON header against the payload length announced in the fixed header."""
    try:
        head = json.loads(bytes(data).decode("utf-8"), parse_constant=_reject_constant,
                          parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(BAD_REQUEST, f"JSON header does not parse: {exc}") from None
    if not isinstance(head, dict):
        raise ProtocolError(BAD_REQUEST, "JSON header must be an object")
    kind, rid, op = head.get("kind"), head.get("id"), head.get("op", "")
    params, descriptors = head.get("params", {}), head.get("arrays", [])
    if kind not in KINDS:
        raise ProtocolError(BAD_REQUEST, f"unknown message kind {kind!r}")
    if not isinstance(rid, str) or not 0 < len(rid) <= MAX_ID_LENGTH:
        raise ProtocolError(BAD_REQUEST, f"message id must be a string of 1-{MAX_ID_LENGTH} "
                                         "characters")
    if not isinstance(op, str) or not isinstance(params, dict):
        raise ProtocolError(BAD_REQUEST, "op must be a string and params an object")
    if not isinstance(descriptors, list) or len(descriptors) > MAX_ARRAYS:
        raise ProtocolError(BAD_REQUEST, f"arrays must be a list of at most {MAX_ARRAYS}")
    arrays = [_parse_descriptor(d) for d in descriptors]
    names = [a[0] for a in arrays]
    if len(set(names)) != len(names):
        raise ProtocolError(BAD_REQUEST, "array names must be unique")
    total = sum(expected_nbytes(dtype, shape) for _, dtype, shape in arrays)
    if total != payload_len:
        raise ProtocolError(BAD_REQUEST, f"arrays describe {total} bytes but the payload has "
                                         f"{payload_len}")
    return Head(kind, rid, op, params, arrays)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as inf, which JSON cannot carry back
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _parse_descriptor(d: Any) -> tuple[str, str, tuple[int, ...]]:
    if not isinstance(d, dict):
        raise ProtocolError(BAD_REQUEST, "each array descriptor must be an object")
    name, dtype, shape = d.get("name"), d.get("dtype"), d.get("shape")
    if not isinstance(name, str) or not 0 < len(name) <= 64:
        raise ProtocolError(BAD_REQUEST, "array name must be a string of 1-64 characters")
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ProtocolError(BAD_REQUEST, f"array {name!r}: dtype {dtype!r} is not one of "
                                         f"{', '.join(DTYPES)}")
    if (not isinstance(shape, list) or len(shape) > MAX_NDIM
            or not all(type(s) is int and 0 <= s < 1 << 40 for s in shape)):
        raise ProtocolError(BAD_REQUEST, f"array {name!r}: shape must be a list of at most "
                                         f"{MAX_NDIM} non-negative integers")
    if math.prod(s for s in shape if s) > MAX_ELEMENTS:
        raise ProtocolError(BAD_REQUEST, f"array {name!r}: shape {shape} has more than "
                                         f"2**40 elements")
    return name, dtype, tuple(shape)


def split_payload(head: Head, payload: Buffer) -> dict[str, Array]:
    """The arrays of a message as zero-copy views into ``payload``."""
    view = memoryview(payload).cast("B") if len(payload) else memoryview(b"")
    arrays, offset = {}, 0
    for name, dtype, shape in head.arrays:
        size = expected_nbytes(dtype, shape)
        arrays[name] = Array(dtype, shape, view[offset:offset + size])
        offset += size
    return arrays


def decode(data: Buffer, limits: Limits = Limits()) -> Message:
    """Decode exactly one whole message from ``data`` (the stream reader does the same)."""
    view = memoryview(data).cast("B")
    json_len, payload_len = parse_fixed_header(view[:HEADER.size], limits)
    end = HEADER.size + json_len + payload_len
    if len(view) != end:
        raise ProtocolError(BAD_FRAME, f"message of {len(view)} bytes, header announces {end}",
                            fatal=True)
    head = parse_json_header(view[HEADER.size:HEADER.size + json_len], payload_len)
    arrays = split_payload(head, view[HEADER.size + json_len:])
    return Message(head.kind, head.id, head.op, head.params, arrays)


# ---------------------------------------------------------------------------------------------
# Stream I/O over a connected socket.

RecvInto = Callable[[memoryview], int]


def read_exactly(recv_into: RecvInto, size: int) -> bytearray | None:
    """``size`` bytes, or None on a clean end of stream before the first byte."""
    buf = bytearray(size)
    view, got = memoryview(buf), 0
    while got < size:
        n = recv_into(view[got:])
        if n == 0:
            if got == 0:
                return None
            raise ProtocolError(BAD_FRAME, f"connection closed after {got} of {size} bytes",
                                fatal=True)
        got += n
    return buf


# Where a reader stores a payload: given the validated header and the size, a writable buffer
# of that size; it may refuse by raising EngineError (e.g. a memory budget).
Allocate = Callable[[Head, int], Any]


def read_message(recv_into: RecvInto, limits: Limits = Limits(),
                 allocate: Allocate | None = None) -> Message | None:
    """Read one message; None when the peer closed the stream between messages.

    A malformed JSON header with sane lengths raises a non-fatal :class:`ProtocolError` after
    the payload has been consumed, so the connection stays in step; so does a payload that
    ``allocate`` refuses (its error's code, the message's id).
    """
    fixed = read_exactly(recv_into, HEADER.size)
    if fixed is None:
        return None
    json_len, payload_len = parse_fixed_header(fixed, limits)
    body = _read_required(recv_into, json_len)
    try:
        head = parse_json_header(body, payload_len)
    except ProtocolError:
        _discard(recv_into, payload_len)
        raise
    payload: Any = bytearray()
    if payload_len:
        try:
            payload = allocate(head, payload_len) if allocate else bytearray(payload_len)
        except EngineError as exc:
            _discard(recv_into, payload_len)
            raise ProtocolError(exc.code, exc.message, request_id=head.id) from None
        _fill(recv_into, memoryview(payload).cast("B"))
    return Message(head.kind, head.id, head.op, head.params, split_payload(head, payload))


def _read_required(recv_into: RecvInto, size: int) -> bytearray:
    data = read_exactly(recv_into, size)
    if data is None:
        raise ProtocolError(BAD_FRAME, "connection closed inside a message", fatal=True)
    return data


def _fill(recv_into: RecvInto, view: memoryview) -> None:
    got = 0
    while got < len(view):
        n = recv_into(view[got:])
        if n == 0:
            raise ProtocolError(BAD_FRAME, "connection closed inside a message", fatal=True)
        got += n


def _discard(recv_into: RecvInto, size: int) -> None:
    chunk = memoryview(bytearray(min(size, 1 << 20)))
    while size > 0:
        n = recv_into(chunk[:min(size, len(chunk))])
        if n == 0:
            raise ProtocolError(BAD_FRAME, "connection closed inside a message", fatal=True)
        size -= n


def send_message(sock, message: Message) -> None:
    """Write one message to a connected socket (large arrays go out without a copy)."""
    buffers = encode(message)
    if sum(memoryview(b).nbytes for b in buffers) <= _COALESCE_BYTES:
        sock.sendall(b"".join(buffers))
        return
    sock.sendall(b"".join(buffers[:2]))
    for buf in buffers[2:]:
        sock.sendall(buf)


# Messages up to this size go out in one write (one syscall, no Nagle delay on TCP).
_COALESCE_BYTES = 256 << 10
