"""One frame's merge, written once: the matte it needs, its job digest, the merge, its
provenance and its write. ``faceplate convert`` (:mod:`.pipeline`, every frame of a shot) and
the engine's ``merge`` op (the FaceMerge node, one frame) both render through
:class:`FrameRenderer`, so the same plate, swaps and settings give the same bits and the same
status from either.

The matte rule (:func:`matte_sequence`), the same for both callers:

- ``hull``, ``learned``, ``hull*learned`` read no matte (an inline one is ignored);
- ``image`` and ``image*learned`` read the artist's matte ``mask_image`` (a sequence pattern
  gives the frame's file), or take the op's inline matte;
- ``occlusion`` cuts out the occluders' matte: the op's inline matte, ``occlusion_matte``, or
  — convert only, which knows the shot — the shot's latest ``faceplate occlusion predict``.

A mask source that needs a matte never renders without one: convert stops before any work
when a frame's matte file is missing, and the op answers ``bad_params``. (The op used to merge
``hull × learned`` when the occlusion source had no matte; that frame would say
``mask: occlusion`` in its provenance with no occluder cut out, and differ from convert's
render of the same settings. Convert's rule is the one kept: fail, say why.)

Statuses: ``swapped`` (at least one face merged), ``passthrough`` (no face: the plate written
unchanged, with the reason) or ``failed`` (a face that cannot be swapped — a non-finite swap,
no finite plate under the face — or a write that failed: nothing written, with the reason).
The texts are :data:`SWAPPED`, :data:`PASSTHROUGH`, :data:`FAILED`; a passthrough frame's
``faceplate/status`` is ``passthrough: <message>``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..errors import FaceplateError
from ..io.colour import ColourSpaces
from ..io.images import Geometry, Image, read_matte
from ..io.sequence import SequencePattern
from .merge import SwappedFace, merge_faces
from .provenance import job_digest, provenance_for
from .settings import MergeSettings
from .swap import SwapCard, SwapFailed
from .writer import MergedFrame

SWAPPED, PASSTHROUGH, FAILED = "swapped", "passthrough", "failed"
# Why a frame without a face passes through: the alignments hold it with no face (``[]``: the
# op's empty face arrays say the same), or do not hold it at all.
NO_FACE_DETECTED = "no face detected"
NO_FACE_IN_ALIGNMENTS = "no face in the alignments"


class _Face(Protocol):
    matrix: np.ndarray
    landmarks: np.ndarray
    detection: float | None


# --- the matte rule -----------------------------------------------------------------------

def matte_sequence(settings: MergeSettings, shot_dir: str | None = None) -> str:
    """The matte file or sequence (``####``, ``%04d``) the mask source reads, "" for none.
    The occlusion source without ``occlusion_matte`` takes the latest ``faceplate occlusion
    predict`` of ``shot_dir``; with no shot (the op) that is an error, never a silent
    ``hull × learned`` (module docstring)."""
    if settings.mask == "occlusion":
        if settings.occlusion_matte:
            return settings.occlusion_matte
        if shot_dir is None:
            raise FaceplateError("the occlusion mask source needs the occluders' matte: give "
                                 "occlusion_matte (a faceplate occlusion predict sequence) or "
                                 "the matte array")
        from ..occlusion import store

        return store.matte_pattern(store.latest(shot_dir))
    if settings.mask.startswith("image"):
        return settings.mask_image
    return ""


def matte_path(pattern: SequencePattern | str | None, frame: int) -> str:
    """The frame's matte file of a sequence (a plain path is every frame's); "" for none."""
    if pattern is None:
        return ""
    if isinstance(pattern, str):
        pattern = SequencePattern.parse(pattern) or pattern
    return pattern if isinstance(pattern, str) else pattern.path(frame)


def read_frame_matte(settings: MergeSettings, path: str, plate: Geometry) -> np.ndarray:
    """The frame's matte over the plate's stored pixels: the occluders' ``A``, or the artist's
    ``mask_channel``."""
    channel = "A" if settings.mask == "occlusion" else settings.mask_channel
    return read_matte(path, channel, plate)


def needs_matte(settings: MergeSettings) -> bool:
    return settings.mask == "occlusion" or settings.mask.startswith("image")


# --- the job digest -----------------------------------------------------------------------

def frame_job(card, to_identity: str, settings: MergeSettings, colourspace: str,
              faces: Sequence[_Face], source: str, matte: str = "", context: str = "") -> str:
    """The job digest of one merged frame (written into it; convert skips a frame whose
    digest on disk matches): model, identity, settings, colourspace, every face's matrix,
    landmarks and detection confidence, the plate's and matte's file stamps, and ``context``
    (what else decides the frame: its neighbours under temporal smoothing)."""
    return job_digest(card, to_identity, settings, colourspace,
                      [{"m": np.asarray(f.matrix).tolist(), "l": np.asarray(f.landmarks).tolist(),
                        "c": f.detection, **_motion_key(f)} for f in faces],
                      file_stamp(source) + file_stamp(matte) + context)


def _motion_key(face: _Face) -> dict:
    """A face's neighbours' matrices (its motion blur and vectors), when it has them."""
    motion = getattr(face, "motion", None)
    return {} if motion is None else {"v": motion.key()}


def file_stamp(path: str) -> str:
    """``path:size:mtime``: changes whenever the file is replaced (the path itself if missing)."""
    try:
        st = os.stat(path)
    except OSError:
        return path
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


# --- the merge ----------------------------------------------------------------------------

def merge_frame(plate: Image, swaps: list[SwappedFace], colour: ColourSpaces,
                settings: MergeSettings, *, matte: np.ndarray | None = None,
                face_only: bool = False, frame: int = 0) -> MergedFrame:
    """Merge swapped faces into a plate frame; the plate's pixels are not modified.

    The merged colour keeps the plate's channels (no alpha for an RGB plate) and pixel type
    (half plates stay half: no full-frame conversion on the way in or out, and untouched pixels
    are the plate's bits, :meth:`Image.colour`); the merge itself works in float32 inside each
    face's box only, and the layers cost only the rows the faces reach (:func:`merge_faces`)."""
    pixels = plate.colour()
    layers = merge_faces(pixels[..., :3], pixels[..., 3] if pixels.shape[-1] == 4 else None,
                         swaps, colour, settings, matte, face_only, frame, plate.view)
    return MergedFrame(pixels, layers, [plate.frame.to_frame(s.matrix) for s in swaps],
                       plate.rows, plate)


# --- one frame, end to end ----------------------------------------------------------------

@dataclass(frozen=True)
class Rendered:
    """What became of one frame."""

    frame: int
    status: str  # SWAPPED, PASSTHROUGH or FAILED
    faces: int
    message: str = ""  # "" when swapped; a passthrough's reason, a failure's error
    metadata: Mapping[str, str | int] = field(default_factory=dict)  # {} when failed
    merged: MergedFrame | None = None  # the frame, when it was not written (the op's reply)
    path: str = ""  # the file written, "" when none


def _call(_stage: str, fn: Callable, *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)


@dataclass(frozen=True)
class FrameRenderer:
    """What stays the same over the frames of one render: model card, identity, settings."""

    card: SwapCard
    to_identity: str
    settings: MergeSettings
    colour: ColourSpaces
    face_only: bool = False  # keep the face-only image (convert's --face-output)

    def job(self, faces: Sequence[_Face], source: str, matte: str = "",
            context: str = "") -> str:
        """:func:`frame_job` of this render: ``faces`` on the stored pixels' grid, ``source``
        the plate file ("" inline), ``matte`` the frame's matte file ("" none or inline)."""
        return frame_job(self.card, self.to_identity, self.settings, self.colour.plate_space,
                         faces, source, matte, context)

    def render(self, plate: Image, swaps: list[SwappedFace], *, frame: int, job: str,
               source: str = "", matte: np.ndarray | None = None,
               no_face: str = NO_FACE_DETECTED,
               write: Callable[[MergedFrame, dict[str, str | int]], str] | None = None,
               timed: Callable[..., Any] = _call) -> Rendered:
        """Merge ``swaps`` (on the plate's stored pixels, as ``plate`` holds them) into
        ``plate`` with ``matte`` (already read: :func:`read_frame_matte`), stamp the frame's
        provenance (``job`` from :meth:`job`, ``source`` the plate file or "" inline) and
        confidence, and ``write`` it (``write(merged, metadata)`` → the path written) or keep
        it in the result. ``no_face`` is the reason a frame without faces passes through.
        ``timed(stage, fn, *args)`` runs the "merge" and "write" stages (convert times them).
        """
        settings = self.settings
        if matte is None and needs_matte(settings):
            raise FaceplateError(f"mask source {settings.mask!r} needs its matte for frame "
                                 f"{frame}: none was read")
        try:
            merged = timed("merge", merge_frame, plate, swaps, self.colour, settings,
                           matte=matte, face_only=self.face_only, frame=frame)
        except SwapFailed as exc:  # a non-finite swap, or no finite plate under the face
            return Rendered(frame, FAILED, len(swaps), f"{exc}; not written")
        status, message = (SWAPPED, "") if swaps \
            else (PASSTHROUGH, f"{no_face}: plate written unchanged")
        provenance = provenance_for(self.card, self.to_identity, settings, job,
                                    source or plate.source, frame, merged.matrices,
                                    f"{status}: {message}" if message else status)
        metadata = provenance.to_metadata() | merged.confidence_metadata() \
            | merged.match_metadata()
        if write is None:
            return Rendered(frame, status, len(swaps), message, metadata, merged)
        try:
            path = timed("write", write, merged, metadata)
        except FaceplateError as exc:  # the plate's other rows did not read, a full disk
            return Rendered(frame, FAILED, len(swaps), f"{exc}; not written")
        return Rendered(frame, status, len(swaps), message, metadata, None, path)
