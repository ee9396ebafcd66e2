"""Convert's stages overlapped: a small bounded pipeline of threads, results in order.

Reading (OpenImageIO decoding), swapping (the model), merging (NumPy/OpenCV) and writing
(OpenImageIO encoding) all release the GIL for their heavy work, so threads overlap them:

  reader thread ──(≤ ``depth`` frames)──► caller's thread: groups, one batched swap each
      ──► ``workers`` threads: merge + write, one frame each ──► results in frame order

Each stage's function is the serial path's own, so the output is the same bits either way
(``serial=True`` runs them one after another, as convert did before). Memory stays bounded:
at most ``depth`` frames read ahead, one group swapping and ``workers`` + 1 being finished.
Stopping (a cancelled job, an error) lets the frames already being written finish — every
write is atomic — and reads nothing more.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

_END = object()


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


def ordered(items: Iterable[Any], read: Callable[[Any], Any], swap: Callable[[list], None],
            finish: Callable[[Any], Any], *, ready: Callable[[Any], bool], group: int,
            serial: bool = False, depth: int = 2, workers: int = 2) -> Generator[Any, None, None]:
    """``read`` each item; results for which ``ready`` is true are yielded as they are; the
    rest go through ``swap`` (a list at a time, up to ``group``) and then ``finish``, whose
    results are yielded in the order the items were read."""
    group = max(1, group)
    if serial:
        yield from _serial(list(items), read, swap, finish, ready, group)
        return
    stop = threading.Event()
    read_ahead: queue.Queue = queue.Queue(maxsize=max(1, depth))

    def reader() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                read_ahead.put(read(item))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            read_ahead.put(_Failed(exc))
        finally:
            read_ahead.put(_END)

    thread = threading.Thread(target=reader, name="convert-read", daemon=True)
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="convert-merge")
    pending: deque[Future] = deque()
    thread.start()
    try:
        batch: list = []
        done = False
        while not done:
            got = read_ahead.get()
            if got is _END:
                done = True
            elif isinstance(got, _Failed):
                raise got.error
            elif ready(got):
                pending.append(_resolved(got))
            else:
                batch.append(got)
            if batch and (done or len(batch) >= group):
                swap(batch)
                pending.extend(pool.submit(finish, p) for p in batch)
                batch = []
            while pending and (pending[0].done() or len(pending) > workers):
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        stop.set()
        while thread.is_alive():  # unblock the reader so it sees the stop
            try:
                read_ahead.get(timeout=0.05)
            except queue.Empty:
                pass
        pool.shutdown(wait=True)  # frames being written finish whole


def _serial(items: list, read, swap, finish, ready, group: int) -> Iterator[Any]:
    for start in range(0, len(items), group):
        batch = []
        for item in items[start:start + group]:
            got = read(item)
            if ready(got):
                yield got
            else:
                batch.append(got)
        if batch:
            swap(batch)
        for p in batch:
            yield finish(p)


def _resolved(value: Any) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future
