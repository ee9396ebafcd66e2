"""A shot's run log, ``SHOTDIR/runs.json``: what was run on the shot, newest last.

Extract and convert (from the command line, the engine's ops or a farm task) each add one entry:
the stage, the command line that did it, when, which Faceplate, and what the stage read and
wrote (plate, output pattern, model, identity, frames). The QC report finds the shot's plate,
merged frames and model here, and prints the command lines that made the shot.

Standard library only. Farm chunks convert one shot in parallel, so an entry is added under an
exclusive lock on a file beside the log, and the log is replaced atomically: a reader never sees
half of it, and no writer's entry is lost. Only the newest ``KEEP`` entries are kept.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import shlex
import socket
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from . import layout
from .atomic import write_json_atomic
from .documents import DocumentError, Problem, read_document

KEEP = 200
_given: list[str] = []  # the command line a program said it runs (:func:`running`)


def running(argv: Sequence[str]) -> None:
    """Say which command line this process runs, when it is not ``sys.argv`` (the CLI called
    with its own argument list)."""
    _given[:] = list(argv)


def command_line(argv: Sequence[str] | None = None) -> str:
    """This process's command line as a shell would take it (``faceplate convert ...``)."""
    argv = list(argv if argv is not None else _given or sys.argv)
    if argv and os.path.basename(argv[0]) in ("faceplate", "cli.py", "__main__.py"):
        argv[0] = "faceplate"
    return shlex.join(argv)


@contextlib.contextmanager
def _locked(shot_dir: str) -> Iterator[None]:
    with open(os.path.join(shot_dir, "." + layout.RUNS_FILE + ".lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def load_runs(shot_dir: str) -> list[dict[str, Any]]:
    """Every entry, oldest first; [] when the shot has no log yet (or an unreadable one: the log
    is a record, never a reason for a stage to fail)."""
    try:
        doc = read_document(os.path.join(shot_dir, layout.RUNS_FILE), layout.RUNS_SCHEMA,
                            name="run log")
    except DocumentError as exc:
        if exc.problem in (Problem.MISSING, Problem.UNREADABLE, Problem.DAMAGED):
            return []
        raise
    runs = doc.get("runs")
    return [r for r in runs if isinstance(r, dict)] if isinstance(runs, list) else []


def record_run(shot_dir: str, stage: str, command: str, **fields: Any) -> dict[str, Any]:
    """Add one entry and return it. ``fields`` must be JSON values (the engine adds its
    ``faceplate_version``)."""
    entry = {"stage": stage, "command": command,
             "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
             "host": socket.gethostname(), **fields}
    os.makedirs(shot_dir, exist_ok=True)
    with _locked(shot_dir):
        runs = (load_runs(shot_dir) + [entry])[-KEEP:]
        write_json_atomic(os.path.join(shot_dir, layout.RUNS_FILE),
                          {"schema": layout.RUNS_SCHEMA, "version": layout.RUNS_VERSION,
                           "runs": runs})
    return entry
