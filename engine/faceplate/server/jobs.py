"""A request in flight: its cancel flag, deadline, streamed progress and its one final answer."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from faceplate_client.protocol import (
    CANCELLED,
    PROGRESS,
    REPLY,
    TIMEOUT,
    EngineError,
    Message,
    RequestState,
    error_message,
)

from ..progress import ProgressEvent
from .arrays import from_numpy
from .context import EngineContext
from .ops import Op, Result

# At most this many progress messages a second reach the client (the last one always does).
_PROGRESS_INTERVAL_S = 0.1


@dataclass(eq=False)
class Request:
    id: str
    op: Op
    params: dict
    arrays: dict[str, np.ndarray]
    # Queues a message for the client's connection (False once it is gone); the callback runs
    # once the message has been written or dropped.
    send: Callable[..., bool]
    engine: EngineContext  # what a handler may use of the engine
    client: str = ""
    deadline: float = 0.0
    input: Any = None  # the op's stage input (from its decode), or None
    release: Callable[[], None] | None = None  # frees the payload once the answer is out
    state: RequestState = RequestState.QUEUED
    created: float = field(default_factory=time.monotonic)
    started: float = 0.0
    last_progress: dict | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    _answered: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _last_sent: float = 0.0

    @property
    def answered(self) -> bool:
        return self._answered

    def check(self) -> None:
        """Raise ``cancelled``/``timeout`` when the request should stop; call between steps."""
        if self.cancel_event.is_set():
            raise EngineError(CANCELLED, f"{self.op.name} was cancelled")
        if self.deadline and time.monotonic() > self.deadline:
            raise EngineError(TIMEOUT, f"{self.op.name} ran past its time limit")

    def progress(self, event: ProgressEvent | dict, check: bool = True) -> None:
        """Forward a progress event to the client (throttled); with ``check``, also a
        cancellation point (raises once the request is cancelled or late)."""
        data = event.to_dict() if isinstance(event, ProgressEvent) else dict(event)
        self.last_progress = data
        now = time.monotonic()
        final = data.get("total") and data.get("done", 0) >= data["total"]
        if final or now - self._last_sent >= _PROGRESS_INTERVAL_S:
            self._last_sent = now
            with self._lock:
                if not self._answered:
                    self.send(Message(PROGRESS, self.id, self.op.name, data))
        if check:
            self.check()

    def reply(self, result: Result) -> bool:
        arrays = {name: from_numpy(a) for name, a in result.arrays.items()}
        return self._answer(Message(REPLY, self.id, self.op.name, json_safe(result.params),
                                    arrays))

    def fail(self, error: EngineError) -> bool:
        """Answer with an error, unless already answered; stops the handler at its next check."""
        if error.code in (CANCELLED, TIMEOUT):
            self.cancel_event.set()
        return self._answer(error_message(self.id, error, self.op.name))

    def _answer(self, message: Message) -> bool:
        with self._lock:
            if self._answered:
                return False
            self._answered = True
        self.send(message, self.release)
        return True

    def describe(self) -> dict:
        now = time.monotonic()
        return {"id": self.id, "op": self.op.name, "state": self.state, "client": self.client,
                "age_s": round(now - self.created, 2),
                "cancelling": self.cancel_event.is_set(), "progress": self.last_progress}


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON: numpy scalars and arrays become Python numbers and lists, and
    numbers JSON cannot carry (NaN, ±inf, e.g. a loss not measured yet) become null."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
