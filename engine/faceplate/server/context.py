"""What an op handler may use of the engine: its device, its model cache, its long-lived
resources (detector backends loaded once) and, for the service ops, its own control.
Handlers see this narrow interface, never the engine's internals (queues, connections)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .model_cache import ModelCache


class EngineContext(Protocol):
    @property
    def device(self) -> str:
        """Where models and detectors run (``cpu``, ``cuda``, ``mps``)."""
        ...

    @property
    def models(self) -> ModelCache:
        """Loaded models, shared by every request (``use`` one for the length of a swap)."""
        ...

    def resource(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """A long-lived object made once per engine (a detector backend, a describer)."""
        ...

    def describe(self, asking: str = "") -> dict:
        """The ``status`` reply."""
        ...

    def cancel(self, request_id: str) -> bool:
        ...

    def stop(self) -> None:
        ...
