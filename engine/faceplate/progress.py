"""Progress for long work, shown to suit where the output goes, and the same events for the engine.

Stages call :meth:`Progress.advance` per item. With a stream (the CLI's stderr) the progress is
shown there, chosen by ``FACEPLATE_PROGRESS`` or else by the stream:

* ``bar``: a tqdm bar with rate and ETA (the default on a terminal);
* ``lines``: one plain line per 5 % (and the first and last), never a ``\\r``, with a time
  stamp, count, percent, rate, ETA and elapsed time (the default in a log file or on a farm);
* ``openjd``: those lines, and ``openjd_progress: PCT`` and ``openjd_status: MESSAGE`` on
  stdout at the same steps, which Deadline Cloud shows as the task's progress (the default
  under an Open Job Description session: our bundles set the variable, and any template is
  known by the ``OPENJD_SESSION_WORKING_DIR`` its session exports);
* ``none``: nothing (skipped-frame notes still show).

Every event also goes to the listener: the engine forwards them to its client as streamed
progress messages.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from tqdm import tqdm  # type: ignore[import-untyped]

MODE_ENV = "FACEPLATE_PROGRESS"
MODES = ("bar", "lines", "openjd", "none")
STEP_PCT = 5
QUIET_S = 600.0  # a line at least this often, even between 5 % steps or with no total


@dataclass
class ProgressEvent:
    stage: str
    done: int
    total: int  # 0: not known
    rate: float  # items per second
    eta_s: float | None
    message: str = ""
    elapsed_s: float = 0.0

    def to_dict(self) -> dict:
        return {"stage": self.stage, "done": self.done, "total": self.total,
                "rate": round(self.rate, 3), "eta_s": None if self.eta_s is None
                else round(self.eta_s, 1), "message": self.message}


Listener = Callable[[ProgressEvent], None]


def progress_mode(stream, environ=os.environ) -> str:
    """How to show progress on ``stream``: ``FACEPLATE_PROGRESS`` if it names a mode, else a
    bar on a terminal, openjd lines in an OpenJD session, plain lines anywhere else."""
    mode = environ.get(MODE_ENV, "").strip().lower()
    if mode in MODES:
        return mode
    if getattr(stream, "isatty", lambda: False)():
        return "bar"
    return "openjd" if "OPENJD_SESSION_WORKING_DIR" in environ else "lines"


class Progress:
    """One stage's count: each change goes to the listener and is shown on ``stream``."""

    def __init__(self, stage: str, total: int, unit: str = "frames",
                 listener: Listener | None = None, stream=None):
        self.stage, self.total, self.unit = stage, total, unit
        self.done, self.message = 0, ""
        self.listener = listener
        self.stream = stream
        self._start = time.monotonic()
        mode = progress_mode(stream) if stream is not None else "none"
        self._view: _Bar | _Lines | None = None
        if mode == "bar":
            self._view = _Bar(stream, stage, unit)
        elif mode in ("lines", "openjd"):
            self._view = _Lines(stream, unit, openjd=mode == "openjd")

    def advance(self, n: int = 1, message: str = "") -> ProgressEvent:
        return self.update(self.done + n, message=message)

    def update(self, done: int, total: int | None = None, message: str = "") -> ProgressEvent:
        """Set the count outright (e.g. from progress events another process sends)."""
        self.done, self.message = done, message
        if total is not None:
            self.total = total
        elapsed = max(time.monotonic() - self._start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 and self.total else None
        event = ProgressEvent(self.stage, self.done, self.total, rate, eta, message, elapsed)
        if self.listener:
            self.listener(event)
        if self._view:
            self._view.show(event)
            if self.total and self.done >= self.total:
                self._close()
        return event

    def finish(self) -> None:
        """The work ended, perhaps short of ``total`` (a time budget's estimate, a stop): what
        was done becomes the total, so the listener and the last line see it whole."""
        if self.done != self.total:
            self.update(self.done, self.done, self.message)
        self._close()

    def note(self, line: str) -> None:
        """A line of its own on the stream (a skipped frame), clear of the bar."""
        if isinstance(self._view, _Bar) and self._view.bar is not None:
            self._view.bar.write(line, file=self.stream)
        elif self.stream is not None:
            self.stream.write(line + "\n")
            self.stream.flush()

    def _close(self) -> None:
        if self._view:
            self._view.close()
            self._view = None


def terminal_progress(stage: str, total: int, unit: str = "frames",
                      listener: Listener | None = None) -> Progress:
    """Progress shown on stderr: a bar on a terminal, plain lines in a log (see the module)."""
    return Progress(stage, total, unit, listener, stream=sys.stderr)


class _Bar:
    """A tqdm bar, drawn from the first event on (log lines as a stage starts stay clear)."""

    def __init__(self, stream, stage: str, unit: str):
        self.stream, self.stage, self.unit = stream, stage, unit
        self.bar: tqdm | None = None

    def show(self, e: ProgressEvent) -> None:
        if self.bar is None:
            self.bar = tqdm(total=e.total or None, desc=self.stage, unit=self.unit,
                            file=self.stream, dynamic_ncols=True, mininterval=0.2)
        self.bar.total = e.total or None
        self.bar.set_postfix_str(e.message[:40], refresh=False)
        self.bar.update(e.done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _Lines:
    """A line at each 5 % step (and the first and last); with ``openjd``, its two lines too."""

    def __init__(self, stream, unit: str, openjd: bool):
        self.stream, self.unit, self.openjd = stream, unit, openjd
        self.step = -1  # the last line's 5 % step
        self.shown_at: float | None = None
        self.pending: ProgressEvent | None = None  # the latest event, if it has no line yet

    def show(self, e: ProgressEvent) -> None:
        step = int(100 * e.done / e.total) // STEP_PCT if e.total else -1
        due = self.shown_at is None or step > self.step or \
            time.monotonic() - self.shown_at >= QUIET_S or (e.total and e.done >= e.total)
        self.pending = None if due else e
        if due:
            self.step, self.shown_at = max(step, self.step), time.monotonic()
            self._write(e)

    def close(self) -> None:
        if self.pending:
            self._write(self.pending)

    def _write(self, e: ProgressEvent) -> None:
        count = f"{e.done}/{e.total} {self.unit}" if e.total else f"{e.done} {self.unit}"
        pct = 100 * e.done / e.total if e.total else None
        eta = "--" if e.eta_s is None else _clock(e.eta_s)
        parts = [time.strftime("%Y-%m-%d %H:%M:%S"), e.stage, count,
                 "" if pct is None else f"{pct:.0f}%",
                 f"{e.rate:.{2 if e.rate < 100 else 0}f} {self.unit}/s",
                 f"ETA {eta}", f"elapsed {_clock(e.elapsed_s)}", e.message]
        self.stream.write("  ".join(p for p in parts if p) + "\n")
        self.stream.flush()
        if self.openjd:
            if pct is not None:
                print(f"openjd_progress: {min(pct, 100.0):.1f}", file=sys.stdout)
            print(f"openjd_status: {e.stage} {count}, ETA {eta}", file=sys.stdout, flush=True)


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
