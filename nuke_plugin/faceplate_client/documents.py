"""Faceplate's JSON documents: one rule to read them, one writer of ``alignments.json``.

Standard library only: the engine and the Nuke nodes both import it.

**Reading** (:func:`read_document`). Every document with a ``schema`` and a ``version`` — the
alignments file, the model card, a face set's index, the farm job, a fix file, the coverage
sidecars, an occlusion model's card — is read by the same rule, from a file or from a dict
already parsed:

- its ``schema`` must be the expected one, else "X is not a Faceplate alignments file";
- a version newer than this Faceplate reads is refused: "X was written by a newer Faceplate
  (alignments file version 2); this one reads up to version 1: upgrade Faceplate";
- every older version (1 up to the newest read) is returned as it is: the caller migrates (a
  model card before version 3 reads as without a face prior). A document without a version
  is version 1 (the field came first; a TD's hand-written fix file may leave it out);
- anything else — no file, not JSON, not an object, a version that is not a whole number from
  1 — is a :class:`DocumentError` too. Its :class:`Problem` lets a caller answer one case its
  own way (no alignments yet: "run faceplate extract first"; a cache sidecar: recompute).

The newest version each side reads is ``faceplate_client.layout``'s ``*_VERSION``, which is also
the version it writes.

**Writing** ``alignments.json`` (:func:`alignments_document`, :func:`face_record`,
:func:`write_alignments`): the engine (``faceplate.extract.alignments``) and the Nuke nodes
(``faceplate_nuke.stages``, which cannot import the engine) build the document here, so its
fields, their order and which optional ones are left out when empty are decided once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Union

from . import layout
from .atomic import write_json_atomic


class Problem(str, Enum):
    """Why a document was not read."""

    MISSING = "missing"  # no such file
    UNREADABLE = "unreadable"  # cannot be opened or is not JSON
    NOT_THIS_KIND = "not_this_kind"  # not an object, or another schema
    NEWER = "newer"  # written by a newer Faceplate
    DAMAGED = "damaged"  # its version is not a whole number from 1

    def __str__(self) -> str:
        return str(self.value)


class DocumentError(ValueError):
    """A document that cannot be read; the message is for the user, ``problem`` says why."""

    def __init__(self, problem: Problem, message: str):
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True)
class Kind:
    """One kind of document: how a message names it and the newest version this side reads."""

    schema: str
    what: str
    version: int


KINDS: dict[str, Kind] = {k.schema: k for k in (
    Kind(layout.ALIGNMENTS_SCHEMA, "alignments file", layout.ALIGNMENTS_VERSION),
    Kind(layout.MODEL_SCHEMA, "model card", layout.MODEL_VERSION),
    Kind(layout.FACESET_SCHEMA, "face set index", layout.FACESET_VERSION),
    Kind(layout.JOB_SCHEMA, "farm job description", layout.JOB_VERSION),
    Kind(layout.FIXES_SCHEMA, "fix file", layout.FIXES_VERSION),
    Kind(layout.COVERAGE_SCHEMA, "coverage sidecar", layout.COVERAGE_VERSION),
    Kind(layout.OCCLUSION_SCHEMA, "occlusion model card", layout.OCCLUSION_VERSION),
    Kind(layout.RUNS_SCHEMA, "run log", layout.RUNS_VERSION),
    Kind(layout.REPORT_SCHEMA, "QC report", layout.REPORT_VERSION),
)}

Source = Union[str, Mapping[str, Any]]


def read_json_object(path: str, what: str) -> dict[str, Any]:
    """The JSON object in ``path``, unchecked; :class:`DocumentError` naming ``what`` and the
    path when it is missing, unreadable or not an object."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise DocumentError(Problem.MISSING, f"{what} not found: {path}") from None
    except (OSError, ValueError, RecursionError) as exc:  # JSON and UTF-8 errors are ValueErrors
        raise DocumentError(Problem.UNREADABLE, f"cannot read {what} {path} ({exc})") from None
    if not isinstance(data, dict):
        raise DocumentError(Problem.NOT_THIS_KIND, f"{what} {path} is not a JSON object")
    return data


def read_document(source: Source, schema: str, versions_read: int | None = None, *,
                  what: str = "", name: str = "") -> dict[str, Any]:
    """The document in ``source`` (a file path, or a dict already parsed), checked by the rule
    in the module docstring: ``schema`` matches and its version is 1 to ``versions_read`` (the
    newest this Faceplate reads; default: ``KINDS[schema].version``). Returns the object, with
    ``version`` 1 filled in when it had none (a dict given is not changed).

    ``what`` names the kind in messages (default: ``KINDS[schema].what``); ``name`` names a
    dict source (default: "this document"). Raises :class:`DocumentError`."""
    kind = KINDS.get(schema)
    what = what or (kind.what if kind else f"{schema} document")
    newest = versions_read if versions_read is not None else (kind.version if kind else 1)
    if isinstance(source, str):
        label = source
        data: Any = read_json_object(source, what)
    else:
        label = name or "this document"
        data = source
        if not isinstance(data, Mapping):
            raise DocumentError(Problem.NOT_THIS_KIND, f"{label} is not a Faceplate {what} "
                                                       "(not a JSON object)")
    found = data.get("schema")
    if found != schema:
        said = f" (its schema is {found!r})" if found is not None else ""
        raise DocumentError(Problem.NOT_THIS_KIND, f"{label} is not a Faceplate {what}{said}")
    version = data.get("version", 1)
    if type(version) is not int or version < 1:
        raise DocumentError(Problem.DAMAGED, f"{label} is damaged: its version {version!r} is "
                                             "not a whole number from 1")
    if version > newest:
        raise DocumentError(Problem.NEWER, f"{label} was written by a newer Faceplate ({what} "
                                           f"version {version}); this one reads up to version "
                                           f"{newest}: upgrade Faceplate")
    if "version" not in data:
        return {**data, "version": version}
    return data if isinstance(data, dict) else dict(data)


# -- alignments.json ---------------------------------------------------------------------------

# A face's fields in the order they are written; ``confidence`` is left out when unknown (files
# from before it) and ``fixed`` unless an artist set the landmarks.
FACE_FIELDS = ("bbox", "score", "landmarks", "matrix", "track", "confidence", "fixed", "bridged")


def face_record(face: Mapping[str, Any]) -> dict[str, Any]:
    """One face of ``alignments.json`` from a mapping holding at least ``bbox``, ``score``,
    ``landmarks`` and ``matrix`` as JSON values (frame pixels); other keys are not written."""
    out = {"bbox": face["bbox"], "score": face["score"], "landmarks": face["landmarks"],
           "matrix": face["matrix"], "track": face.get("track", 0)}
    if face.get("confidence") is not None:
        out["confidence"] = face["confidence"]
    if face.get("fixed"):
        out["fixed"] = True
    if face.get("bridged"):  # not detected: bridged over a frame its track missed
        out["bridged"] = True
    return out


def _by_number(items: Iterable[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    return sorted(items, key=lambda kv: int(kv[0]))


def _frames(frames: Mapping[Any, Iterable[Mapping[str, Any]]]) -> dict[str, list]:
    return {str(f): [face_record(face) for face in faces] for f, faces in _by_number(frames.items())}


def alignments_document(*, plate: str, colourspace: str, backend: str, face_type: str,
                        size: Iterable[int], smoothing: float,
                        frames: Mapping[Any, Iterable[Mapping[str, Any]]],
                        tracks: Mapping[Any, Mapping[str, Any]] | None = None,
                        held_back: Mapping[Any, Iterable[Mapping[str, Any]]] | None = None,
                        cuts: Iterable[int] = (),
                        sizes: Mapping[Any, Iterable[int]] | None = None,
                        view: str = "") -> dict[str, Any]:
    """The ``alignments.json`` object (docs/architecture.md). Frames (and tracks, sizes) are
    keyed by number, as int or str; they are written in frame order. The later, optional
    fields (``tracks``, ``held_back``, ``cuts``, ``sizes``, ``view``) are left out when empty,
    so a file without them reads the same."""
    out: dict[str, Any] = {
        "schema": layout.ALIGNMENTS_SCHEMA, "version": layout.ALIGNMENTS_VERSION,
        "plate": plate, "colourspace": colourspace, "backend": backend,
        "face_type": face_type, "size": [int(v) for v in size], "smoothing": float(smoothing),
        "frames": _frames(frames)}
    if tracks:
        out["tracks"] = {str(t): dict(info) for t, info in _by_number(tracks.items())}
    if held_back:
        out["held_back"] = _frames(held_back)
    cuts = sorted(int(f) for f in cuts)
    if cuts:
        out["cuts"] = cuts
    if sizes:
        out["sizes"] = {str(f): [int(v) for v in wh] for f, wh in _by_number(sizes.items())}
    if view:
        out["view"] = view
    return out


def write_alignments(path: str, document: Mapping[str, Any]) -> str:
    """Write an :func:`alignments_document` to ``path`` atomically; returns ``path``."""
    read_document(document, layout.ALIGNMENTS_SCHEMA, name=path)  # never write what we cannot read
    write_json_atomic(path, document)
    return path
