"""What the publish plugins read from a shot, with the standard library alone (they run in Nuke).

The layouts are the engine's contracts (docs/architecture.md): ``SHOTDIR/alignments.json``,
the model folder's ``card.json`` and ``model.safetensors``, and the convert output's channels
and ``faceplate/*`` metadata, with file names from ``faceplate_client.layout``; frame patterns
and ranges come from the shared ``faceplate_client.frames``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from faceplate_client import layout
from faceplate_client.frames import SequencePattern, parse_frame_range

FAMILY = "faceplate.render"
RGBA = ("R", "G", "B", "A")
FACEMASK = layout.FACEMASK_CHANNELS
PROVENANCE = tuple(layout.PROVENANCE_PREFIX + k
                   for k in ("version", "model", "identities", "synthetic"))
JOB_FILE = layout.JOB_FILE


class PublishError(Exception):
    """A check failed; the message says what is wrong and what to do."""


def load_json(path: str, what: str) -> dict[str, Any]:
    try:
        with open(path) as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise PublishError(f"{what} not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise PublishError(f"{what} {path} cannot be read ({exc})") from None
    if not isinstance(data, dict):
        raise PublishError(f"{what} {path} is not a JSON object")
    return data


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
    card = load_json(os.path.join(model_dir, layout.MODEL_CARD), "model card")
    if card.get("schema") != layout.MODEL_SCHEMA:
        raise PublishError(f"{model_dir}/{layout.MODEL_CARD} is not a Faceplate model card")
    return card


def alignments(shot_dir: str) -> dict[str, Any]:
    data = load_json(os.path.join(shot_dir, layout.ALIGNMENTS_FILE), "alignments")
    if data.get("schema") != layout.ALIGNMENTS_SCHEMA:
        raise PublishError(f"{shot_dir}/{layout.ALIGNMENTS_FILE} is not a Faceplate alignments "
                           "file")
    return data
