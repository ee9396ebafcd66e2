"""Reaching the engine from Nuke: one client per engine address, errors as NodeError (keeping
the engine's error code, :mod:`.errors`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

from faceplate_client.client import ConnectionState, EngineClient, Reply
from faceplate_client.protocol import CONNECTION_LOST, UNAVAILABLE, Array, EngineError

from .errors import NodeError

_CLIENTS: dict[str, EngineClient] = {}


def client(address: str = "") -> EngineClient:
    """The client for ``address`` (empty: ``$FACEPLATE_SOCKET``, else the default socket,
    starting a local engine when none answers)."""
    if address not in _CLIENTS:
        _CLIENTS[address] = EngineClient(address or None, client_name="nuke")
    return _CLIENTS[address]


def state(address: str = "") -> ConnectionState:
    """Whether the nodes are connected to the engine at ``address`` (never connects)."""
    found = _CLIENTS.get(address)
    return found.state if found is not None else ConnectionState.DISCONNECTED


def call(address: str, op: str, params: Mapping[str, Any],
         arrays: Mapping[str, Array] | None = None,
         on_progress: Callable[[dict[str, Any]], None] | None = None) -> Reply:
    """Run ``op``; an engine error becomes a :class:`NodeError` with its code and message."""
    was = state(address)
    try:
        return client(address).call(op, params, arrays, on_progress)
    except EngineError as exc:
        raise NodeError.from_engine(exc.code, exc.message, op, exc.details) from None
    except OSError as exc:
        code = CONNECTION_LOST if was is ConnectionState.CONNECTED else UNAVAILABLE
        raise NodeError.from_engine(code, str(exc), op) from None


def describe(address: str = "") -> str:
    """One line for the engine status knob: version, device and pid."""
    try:
        info = client(address).status()
    except EngineError as exc:
        raise NodeError.from_engine(exc.code, exc.message, "status", exc.details) from None
    device = info.get("device", "?")
    if isinstance(device, dict):
        device = device.get("name") or device.get("type") or "?"
    return f"faceplate {info.get('version', '?')} on {device} (pid {info.get('pid', '?')})"


def close_all() -> None:
    for c in _CLIENTS.values():
        c.close()
    _CLIENTS.clear()
