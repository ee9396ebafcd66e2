"""What the publish plugins read from a shot, with the standard library alone (they run in Nuke).

The layouts are the engine's contracts (docs/architecture.md): ``SHOTDIR/alignments.json``,
the model folder's ``card.json`` and ``model.safetensors``, and the convert output's channels
and ``faceplate/*`` metadata, with file names from ``faceplate_client.layout``; frame patterns
and ranges come from the shared ``faceplate_client.frames``.
"""

from __future__ import annotations

import os
from typing import Any

from faceplate_client import layout
from faceplate_client.frames import SequencePattern, parse_frame_range

FAMILY = "faceplate.render"
RGB = ("R", "G", "B")  # A too when the plate has one: the output keeps its channels
FACEMASK = layout.FACEMASK_CHANNELS
PROVENANCE = tuple(layout.PROVENANCE_PREFIX + k
                   for k in ("version", "model", "identities", "synthetic"))
JOB_FILE = layout.JOB_FILE


class PublishError(Exception):
    """A check failed; the message says what is wrong and what to do."""


def load_json(path: str, what: str, schema: str = "") -> dict[str, Any]:
    """``layout.read_document`` with its message as a :class:`PublishError`."""
    try:
        return layout.read_document(path, what, schema)
    except ValueError as exc:
        raise PublishError(str(exc)) from None


def frame_path(pattern: str, frame: int) -> str:
    """``name.####.exr``, ``name.%04d.exr`` or ``name.@@@@.exr`` for one frame."""
    found = SequencePattern.parse(pattern)
    if found is None:
        raise PublishError(f"{pattern} has no frame number pattern (#### or %04d)")
    return found.path(frame)


def parse_frames(text: str) -> list[int]:
    """``1001-1100``, ``1001-1100x2`` or ``1,5,9-12`` → sorted frames."""
    try:
        return parse_frame_range(text)
    except ValueError as exc:
        raise PublishError(str(exc)) from None



def model_card(model_dir: str) -> dict[str, Any]:
    return load_json(os.path.join(model_dir, layout.MODEL_CARD), "model card",
                     layout.MODEL_SCHEMA)


def alignments(shot_dir: str) -> dict[str, Any]:
    return load_json(os.path.join(shot_dir, layout.ALIGNMENTS_FILE), "alignments file",
                     layout.ALIGNMENTS_SCHEMA)
