"""The engine's entries in a shot's run log (:mod:`faceplate_client.shot_runs`), and a model's.

Extract and convert record what they ran in the shot folder, training in the model folder —
from the command line or an engine op — so the QC report can find the shot's plate, merged
frames and model and print the commands that made it.
A log that cannot be written is a warning, never a failed stage.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from faceplate_client.documents import DocumentError
from faceplate_client.shot_runs import command_line, load_runs, record_run

from . import __version__
from .errors import FaceplateError

log = logging.getLogger(__name__)


def op_command(op: str, params: dict[str, Any]) -> str:
    """How an engine op is written in the log: its name and its parameters as sent."""
    return f"engine op {op} {json.dumps(params, sort_keys=True, default=str)}"


def runs(folder: str) -> list[dict[str, Any]]:
    """The folder's run log, oldest first ([] when it has none); FaceplateError when it is
    another kind of file or from a newer Faceplate."""
    try:
        return load_runs(folder)
    except DocumentError as exc:
        raise FaceplateError(str(exc)) from None


def record(shot_dir: str, stage: str, command: str | None = None, **fields: Any) -> None:
    """Add an entry; a log that cannot be written, or one of another kind or from a newer
    Faceplate (left as it is), is a warning."""
    try:
        record_run(shot_dir, stage, command or command_line(), faceplate_version=__version__,
                   **fields)
    except (OSError, DocumentError) as exc:
        log.warning("could not add to the run log of %s: %s", shot_dir, exc)
