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

from faceplate_client.shot_runs import command_line, record_run

from . import __version__

log = logging.getLogger(__name__)


def op_command(op: str, params: dict[str, Any]) -> str:
    """How an engine op is written in the log: its name and its parameters as sent."""
    return f"engine op {op} {json.dumps(params, sort_keys=True, default=str)}"


def record(shot_dir: str, stage: str, command: str | None = None, **fields: Any) -> None:
    try:
        record_run(shot_dir, stage, command or command_line(), faceplate_version=__version__,
                   **fields)
    except OSError as exc:
        log.warning("could not add to the run log of %s: %s", shot_dir, exc)
