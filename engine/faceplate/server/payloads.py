"""Request payloads under one memory budget across all connections.

A request's arrays are received into a buffer only once its declared size fits the engine-wide
budget (``--payload-memory``); a payload that would pass it is refused (``busy``, the stream
stays in step) before a byte of it is stored. Buffers are anonymous mappings whose pages exist
only once data arrives, so a client that declares a gigabyte and sends one byte costs a page.
The bytes count until the request's answer has been written (an echo answers with them).
"""

from __future__ import annotations

import mmap
import threading

from faceplate_client.protocol import BUSY, EngineError


class PayloadBudget:
    def __init__(self, total_bytes: int):
        self.total_bytes = total_bytes
        self._used = 0
        self._lock = threading.Lock()
        self.refused = 0

    def allocate(self, size: int) -> Payload:
        with self._lock:
            if self._used + size > self.total_bytes:
                self.refused += 1
                raise EngineError(BUSY, f"the engine already holds {self._used / 1e6:.0f} MB "
                                        f"of request payloads; {size / 1e6:.0f} MB more would "
                                        f"pass its limit of {self.total_bytes / 1e6:.0f} MB "
                                        "(--payload-memory): try again shortly")
            self._used += size
        try:
            return Payload(self, size)
        except BaseException:
            self._give_back(size)
            raise

    def used_bytes(self) -> int:
        with self._lock:
            return self._used

    def describe(self) -> dict:
        with self._lock:
            return {"limit_bytes": self.total_bytes, "used_bytes": self._used,
                    "refused": self.refused}

    def _give_back(self, size: int) -> None:
        with self._lock:
            self._used -= size


class Payload:
    """``size`` writable bytes (``buffer``) counted against the budget until :meth:`release`."""

    def __init__(self, budget: PayloadBudget, size: int):
        self._budget, self.size = budget, size
        self.buffer = mmap.mmap(-1, size)
        self._released = False
        self._lock = threading.Lock()

    def release(self) -> None:
        """Give the bytes back to the budget (views already handed out stay readable)."""
        with self._lock:
            if self._released:
                return
            self._released = True
        self._budget._give_back(self.size)
