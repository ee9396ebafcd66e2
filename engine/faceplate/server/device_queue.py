"""The device worker: one thread owns the GPU (or the CPU's torch threads) and runs device ops in
arrival order, merging waiting requests that share a batch key into one call.

Several Nuke sessions swapping faces with the same model therefore share one batched network
pass instead of queueing one face at a time.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from .jobs import Request

log = logging.getLogger("faceplate.server")

MAX_BATCH = 32


class DeviceQueue:
    def __init__(self, run_one: Callable[[Request], None],
                 run_batch: Callable[[list[Request]], None]):
        self._run_one, self._run_batch = run_one, run_batch
        self._items: deque[Request] = deque()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._work, name="faceplate-device", daemon=True)
        self._thread.start()

    def put(self, request: Request) -> None:
        with self._cond:
            self._items.append(request)
            self._cond.notify()

    def pending(self) -> int:
        return len(self._items)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _next_group(self) -> list[Request] | None:
        with self._cond:
            while not self._items and not self._stopped:
                self._cond.wait()
            if self._stopped:
                return None
            head = self._items.popleft()
            group = [head]
            batch_key = head.op.batch_key
            key = batch_key(head) if batch_key is not None else None
            if batch_key is not None and key is not None:
                for other in list(self._items):
                    if len(group) >= MAX_BATCH:
                        break
                    if other.op is head.op and batch_key(other) == key:
                        group.append(other)
                        self._items.remove(other)
            return group

    def _work(self) -> None:
        while (group := self._next_group()) is not None:
            if len(group) > 1:
                log.debug("device batch of %d %s requests", len(group), group[0].op.name)
                self._run_batch(group)
            else:
                self._run_one(group[0])
