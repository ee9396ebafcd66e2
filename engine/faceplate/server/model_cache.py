"""Loaded models kept between requests, least recently used first out, within a memory budget.

A model's cost is the size of its weight files on disk (what it occupies on the device, near
enough, without asking the model). Models in use by a running request are never evicted; a
single model bigger than the whole budget is still loaded, alone, with a warning in the log.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import FaceplateError

log = logging.getLogger("faceplate.server")


@dataclass
class Entry:
    path: str
    model: Any
    nbytes: int
    device: str
    loaded_at: float
    last_used: float
    users: int = 0


def _default_loader(path: str, device: str) -> Any:
    from ..model.store import load_model

    return load_model(path, device)


class ModelCache:
    def __init__(self, budget_bytes: int,
                 loader: Callable[[str, str], Any] = _default_loader):
        self.budget_bytes = budget_bytes
        self._loader = loader
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    @contextmanager
    def use(self, path: str, device: str) -> Iterator[Any]:
        """The loaded model at ``path`` (loading it if needed), pinned for the ``with`` body."""
        entry = self.load(path, device, pin=True)
        try:
            yield entry.model
        finally:
            with self._lock:
                entry.users -= 1
                self._evict()

    def load(self, path: str, device: str, pin: bool = False) -> Entry:
        path = _model_key(path)
        with self._lock:
            loading = self._loading.setdefault(path, threading.Lock())
        with loading:  # one load per model at a time; others wait and share it
            with self._lock:
                entry = self._entries.get(path)
                if entry is not None:
                    self._entries.move_to_end(path)
                    entry.last_used = time.time()
                    entry.users += pin
                    return entry
            nbytes = _weights_size(path)
            started = time.monotonic()
            model = self._loader(path, device)
            log.info("loaded model %s (%.1f MB) on %s in %.2f s", path, nbytes / 1e6, device,
                     time.monotonic() - started)
            now = time.time()
            entry = Entry(path, model, nbytes, device, now, now, users=int(pin))
            with self._lock:
                self._entries[path] = entry
                self._evict()
            return entry

    def unload(self, path: str) -> bool:
        with self._lock:
            entry = self._entries.get(_model_key(path))
            if entry is None:
                return False
            if entry.users:
                raise FaceplateError(f"model {entry.path} is in use by a running request; "
                                     "cancel it or try again when it finishes")
            del self._entries[entry.path]
        log.info("unloaded model %s", entry.path)
        return True

    def used_bytes(self) -> int:
        with self._lock:
            return sum(e.nbytes for e in self._entries.values())

    def describe(self) -> list[dict]:
        with self._lock:
            entries = list(self._entries.values())
        return [{"path": e.path, "bytes": e.nbytes, "device": e.device, "in_use": e.users,
                 "identities": list(getattr(getattr(e.model, "card", None), "identities", [])
                                    or []),
                 "last_used": round(e.last_used, 3)} for e in entries]

    def _evict(self) -> None:
        """Drop least recently used idle models until the rest fit (call with the lock held)."""
        total = sum(e.nbytes for e in self._entries.values())
        for entry in list(self._entries.values()):
            if total <= self.budget_bytes or len(self._entries) == 1:
                break
            if entry.users == 0:
                del self._entries[entry.path]
                total -= entry.nbytes
                log.info("evicted model %s to stay within %.0f MB", entry.path,
                         self.budget_bytes / 1e6)
        if total > self.budget_bytes:
            log.warning("models in use take %.0f MB, over the %.0f MB budget", total / 1e6,
                        self.budget_bytes / 1e6)


def _model_key(path: str) -> str:
    return os.path.realpath(os.path.expanduser(path))


def _weights_size(path: str) -> int:
    if not os.path.isdir(path):
        raise FaceplateError(f"model folder not found: {path}")
    return sum(os.path.getsize(os.path.join(path, name)) for name in os.listdir(path)
               if name.endswith(".safetensors"))
