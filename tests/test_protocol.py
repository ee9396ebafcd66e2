"""The wire protocol on its own: round trips, limits checked before allocation, and a parser
that turns any byte string into either a message or a ProtocolError, never anything else."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
from faceplate.server.arrays import from_numpy, to_numpy
from faceplate_client import protocol as p
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protocol_fuzz import fuzz_inputs


def _frame(op="echo", params=None, arrays=None, kind=p.REQUEST, rid="r1") -> bytes:
    return p.encode_bytes(p.Message(kind, rid, op, params or {}, arrays or {}))


def _stream(data: bytes):
    buf = io.BytesIO(data)
    return lambda view: buf.readinto(view)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int32", "int64", "float16", "float32",
                                   "float64"])
def test_every_dtype_round_trips_with_numpy_on_one_side_only(dtype):
    values = (np.arange(2 * 3 * 4) % 50).astype(dtype).reshape(2, 3, 4)
    data = _frame(arrays={"x": from_numpy(values)})
    message = p.decode(data)
    assert message.arrays["x"].shape == (2, 3, 4)
    np.testing.assert_array_equal(to_numpy(message.arrays["x"]), values)
    streamed = p.read_message(_stream(data))
    np.testing.assert_array_equal(to_numpy(streamed.arrays["x"]), values)


def test_host_side_packs_and_unpacks_without_numpy():
    a = p.Array.from_values([0.5, 1.5, -2.0, 1e6, 3.25, 0.0], "float32", (2, 3))
    b = p.decode(_frame(params={"k": [1, "two"]}, arrays={"a": a}))
    assert b.params == {"k": [1, "two"]}
    assert b.arrays["a"].values() == [0.5, 1.5, -2.0, 1e6, 3.25, 0.0]
    assert b.arrays["a"].shape == (2, 3)


def test_array_refuses_bytes_that_do_not_fit_its_shape():
    with pytest.raises(ValueError, match="do not hold"):
        p.Array("float32", (2, 2), b"\0" * 15)
    with pytest.raises(ValueError, match="unsupported dtype"):
        p.Array("object", (1,), b"\0")


def test_limits_are_checked_from_the_fixed_header_before_reading_further():
    limits = p.Limits(max_json=1000, max_payload=10_000)
    header = p.HEADER.pack(p.MAGIC, p.PROTOCOL_VERSION, 0, 50, 1 << 40)
    reads = []

    def recv_into(view):  # only the 20 header bytes may be read, then it must stop
        reads.append(len(view))
        view[:len(header)] = header
        return len(header)

    with pytest.raises(p.ProtocolError) as err:
        p.read_message(recv_into, limits)
    assert err.value.code == p.TOO_LARGE and err.value.fatal
    assert reads == [p.HEADER.size]


@pytest.mark.parametrize("mangle, code", [
    (lambda d: b"XXXX" + d[4:], p.BAD_FRAME),
    (lambda d: d[:4] + struct.pack("<H", 99) + d[6:], p.PROTOCOL_MISMATCH),
    (lambda d: d[:-3], p.BAD_FRAME),
    (lambda d: d + b"extra", p.BAD_FRAME),
])
def test_broken_frames_are_named(mangle, code):
    with pytest.raises(p.ProtocolError) as err:
        p.decode(mangle(_frame(arrays={"x": p.Array.from_values([1, 2], "uint8")})))
    assert err.value.code == code


@pytest.mark.parametrize("head", [
    {"kind": "request", "id": "", "op": "x"},
    {"kind": "nonsense", "id": "a", "op": "x"},
    {"kind": "request", "id": "a", "op": "x", "params": []},
    {"kind": "request", "id": "a", "op": "x", "arrays": [{"name": "a", "dtype": "complex64",
                                                          "shape": [1]}]},
    {"kind": "request", "id": "a", "op": "x", "arrays": [{"name": "a", "dtype": "uint8",
                                                          "shape": [-1]}]},
    {"kind": "request", "id": "a", "op": "x", "arrays": [{"name": "a", "dtype": "uint8",
                                                          "shape": [True]}]},
    {"kind": "request", "id": "a", "op": "x", "arrays": [{"name": "a", "dtype": "uint8",
                                                          "shape": [4]}]},  # payload is 0
])
def test_malformed_json_headers_keep_the_stream_in_step(head):
    body = json.dumps(head).encode()
    bad = p.HEADER.pack(p.MAGIC, p.PROTOCOL_VERSION, 0, len(body), 0) + body
    read = _stream(bad + _frame(op="after"))
    with pytest.raises(p.ProtocolError) as err:
        p.read_message(read)
    assert err.value.code == p.BAD_REQUEST and not err.value.fatal
    assert p.read_message(read).op == "after"  # the next message still parses


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=20), st.dictionaries(st.text(max_size=5), st.integers() | st.text(),
                                             max_size=4),
       st.lists(st.tuples(st.sampled_from(sorted(p.DTYPES)),
                          st.lists(st.integers(0, 5), max_size=3)), max_size=4))
def test_any_message_round_trips(op, params, specs):
    arrays = {f"a{i}": p.Array(d, tuple(s), bytes(p.expected_nbytes(d, s)))
              for i, (d, s) in enumerate(specs)}
    back = p.decode(_frame(op, params, arrays))
    assert (back.op, back.params) == (op, params)
    assert {k: (a.dtype, a.shape) for k, a in back.arrays.items()} == \
        {k: (a.dtype, a.shape) for k, a in arrays.items()}


def test_ten_thousand_fuzzed_frames_decode_or_raise_a_protocol_error():
    """10,000 generated inputs: the whole-message decoder and the stream reader agree, and
    neither raises anything but ProtocolError (which the engine answers as a structured
    error)."""
    limits = p.Limits(max_json=4096, max_payload=4096)
    outcomes = {"message": 0, "error": 0}
    for data in fuzz_inputs(10_000, seed=1):
        try:
            whole: p.Message | p.ProtocolError = p.decode(data, limits)
        except p.ProtocolError as exc:
            whole = exc
        try:
            streamed = p.read_message(_stream(data), limits)
        except p.ProtocolError as exc:
            streamed = exc
        if isinstance(whole, p.Message):
            outcomes["message"] += 1
            assert isinstance(streamed, p.Message) and streamed.op == whole.op, data
            assert {k: a.nbytes for k, a in streamed.arrays.items()} == \
                {k: a.nbytes for k, a in whole.arrays.items()}, data
        else:
            outcomes["error"] += 1
            assert whole.code in (p.BAD_FRAME, p.BAD_REQUEST, p.TOO_LARGE,
                                  p.PROTOCOL_MISMATCH), data
    assert outcomes["message"] > 1000 and outcomes["error"] > 5000, outcomes


def test_docs_describe_every_op_and_parameter():
    """docs/protocol.md's op reference is generated from the declarations: keep it in step."""
    from pathlib import Path

    from faceplate.server.engine import REGISTRY

    docs = (Path(__file__).parent.parent / "docs" / "protocol.md").read_text()
    for name, op in REGISTRY.items():
        section = docs.split(f"### `{name}`\n", 1)
        assert len(section) == 2, f"docs/protocol.md has no section for op {name}"
        body = section[1].split("\n### ", 1)[0]
        for param in op.params:
            assert f"| `{param.name}` |" in body, f"{name}: parameter {param.name} undocumented"
        for spec in op.arrays:
            assert f"| `{spec.name}` |" in body, f"{name}: array {spec.name} undocumented"
