"""Errors keep their kind on the node: a NodeError keeps the engine's error code, and its text
says what that code means for the compositor; connection and request states are enums."""

from __future__ import annotations

import json
import os
import sys

import pytest
from faceplate_client import protocol as p
from faceplate_client.client import ConnectionState, EngineClient
from faceplate_client.protocol import RequestState

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "nuke_plugin"))

from faceplate_nuke import engine
from faceplate_nuke.errors import SAYS, NodeError


def test_each_engine_code_reads_differently_on_the_node():
    busy = NodeError.from_engine(p.BUSY, "the payload budget is full", "merge")
    timed_out = NodeError.from_engine(p.TIMEOUT, "merge ran past its time limit (300 s)", "merge")
    bad = NodeError.from_engine(p.BAD_PARAMS, "parameter 'blur' must be between 0 and 400, "
                                              "got 500", "merge")
    failed = NodeError.from_engine(p.FAILED, "no identity 'nobody'", "swap")
    assert str(busy).startswith("the Faceplate engine is busy: retry") and busy.retry
    assert str(timed_out).startswith("timed out") and not timed_out.retry
    assert str(bad).startswith("bad value for blur (engine merge: parameter 'blur'")
    assert str(failed) == "engine swap: no identity 'nobody'"
    assert (busy.code, timed_out.code, bad.code, failed.code) == (p.BUSY, p.TIMEOUT,
                                                                  p.BAD_PARAMS, p.FAILED)
    missing = NodeError.from_engine(p.BAD_PARAMS, "merge needs parameter 'model'", "merge")
    assert str(missing).startswith("bad value (engine merge")
    named = NodeError.from_engine(p.BAD_PARAMS, "out of range", "merge", {"param": "erode"})
    assert str(named).startswith("bad value for erode")
    newer = NodeError.from_engine("overheated", "the GPU is too hot", "swap")
    assert newer.code == "overheated" and "[overheated]" in str(newer)
    assert set(SAYS) == set(p.ERROR_CODES)
    assert NodeError("set the model knob").code is None


def test_a_node_error_raised_while_handling_another_keeps_its_code():
    """As the render callbacks do: the frame and node name are added, the kind stays."""
    with pytest.raises(NodeError) as err:
        try:
            raise NodeError.from_engine(p.BUSY, "full", "merge")
        except NodeError as exc:
            raise NodeError(f"Faceplate FaceMerge1, frame 1001: {exc}") from None
    assert err.value.code == p.BUSY and err.value.retry and "frame 1001" in str(err.value)
    with pytest.raises(NodeError) as err:
        try:
            raise NodeError.from_engine(p.BUSY, "full", "merge")
        except NodeError:
            raise NodeError("cancelled", p.CANCELLED) from None
    assert err.value.code == p.CANCELLED


def test_a_bad_knob_value_comes_back_as_bad_params_naming_it(engine_socket):
    with pytest.raises(NodeError) as err:
        engine.call(engine_socket, "merge", {"model": "/no/model", "identity": "a",
                                             "blur": 500.0})
    assert err.value.code == p.BAD_PARAMS and not err.value.retry
    assert str(err.value).startswith("bad value for blur (engine merge: ")
    assert engine.state(engine_socket) is ConnectionState.CONNECTED


def test_no_engine_is_unavailable_and_the_connection_states_are_an_enum(tmp_path, engine_socket):
    gone = str(tmp_path / "nobody.sock")
    client = EngineClient(gone, str(tmp_path / "nobody.token"), autostart=False)
    assert client.state is ConnectionState.DISCONNECTED
    engine._CLIENTS[gone] = client
    try:
        with pytest.raises(NodeError) as err:
            engine.call(gone, "status", {})
    finally:
        engine._CLIENTS.pop(gone).close()
    assert err.value.code == p.UNAVAILABLE and err.value.retry
    assert str(err.value).startswith("cannot reach the Faceplate engine")
    assert client.state is ConnectionState.DISCONNECTED
    assert engine.state(gone) is ConnectionState.DISCONNECTED

    with EngineClient(engine_socket) as live:
        live.hello()
        assert live.state is ConnectionState.CONNECTED == "connected"
        queue = live.status()["queue"]
    assert live.state is ConnectionState.DISCONNECTED
    assert {r["state"] for r in queue} <= set(RequestState)
    assert json.dumps({"state": RequestState.RUNNING}) == '{"state": "running"}'
    assert f"{RequestState.QUEUED}" == "queued" and RequestState("done") is RequestState.DONE
