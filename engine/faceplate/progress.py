"""Progress for long work: a terminal bar with rate and ETA, and the same events for the engine.

Stages call :meth:`Progress.advance` per item; the CLI renders a bar on stderr, the engine
forwards the events to its client as streamed progress messages.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class ProgressEvent:
    stage: str
    done: int
    total: int
    rate: float  # items per second
    eta_s: float | None
    message: str = ""

    def to_dict(self) -> dict:
        return {"stage": self.stage, "done": self.done, "total": self.total,
                "rate": round(self.rate, 3), "eta_s": None if self.eta_s is None
                else round(self.eta_s, 1), "message": self.message}


Listener = Callable[[ProgressEvent], None]


class Progress:
    def __init__(self, stage: str, total: int, unit: str = "frames",
                 listener: Listener | None = None, stream=None):
        self.stage, self.total, self.unit = stage, total, unit
        self.done = 0
        self.listener = listener
        self.stream = stream
        self._start = time.monotonic()
        self._last_draw = 0.0
        self.line_open = False  # a bar is drawn on the stream and its line not yet ended

    def advance(self, n: int = 1, message: str = "") -> ProgressEvent:
        return self.update(self.done + n, message=message)

    def update(self, done: int, total: int | None = None, message: str = "") -> ProgressEvent:
        """Set the count outright (e.g. from progress events another process sends)."""
        self.done = done
        if total is not None:
            self.total = total
        elapsed = max(time.monotonic() - self._start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 and self.total else None
        event = ProgressEvent(self.stage, self.done, self.total, rate, eta, message)
        if self.listener:
            self.listener(event)
        self._draw(event)
        return event

    def _draw(self, e: ProgressEvent) -> None:
        stream = self.stream
        if stream is None:
            return
        now = time.monotonic()
        if e.done < e.total and now - self._last_draw < 0.2:
            return
        self._last_draw = now
        width = 24
        filled = int(width * e.done / e.total) if e.total else width
        eta = "--" if e.eta_s is None else _clock(e.eta_s)
        line = (f"\r{e.stage:>8} [{'#' * filled}{'.' * (width - filled)}] {e.done}/{e.total} "
                f"{self.unit}  {e.rate:.2f}/s  ETA {eta}  {e.message[:40]:<40}")
        stream.write(line)
        self.line_open = e.done < e.total
        if not self.line_open:
            stream.write("\n")
        stream.flush()


def terminal_progress(stage: str, total: int, unit: str = "frames",
                      listener: Listener | None = None) -> Progress:
    """A progress bar on stderr (plain lines when stderr is not a terminal)."""
    return Progress(stage, total, unit, listener, stream=sys.stderr)


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
