"""Frame sequences: ``plate.####.exr``, ``plate.%04d.exr``, ``plate.@@@@.exr`` and frame ranges.

A plate is either an image sequence or a single video file. Both are seen as an ordered
mapping *frame number → source* so the rest of the pipeline never cares which it was. Patterns
(:class:`SequencePattern`) and ranges are the stdlib ``faceplate_client.frames``, shared with
the Nuke side.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from faceplate_client import frames
from faceplate_client.frames import SequencePattern, format_frame_range

from ..errors import FaceplateError

VIDEO_EXTENSIONS = {".mov", ".mp4", ".m4v", ".avi", ".mkv", ".webm", ".mxf"}
IMAGE_EXTENSIONS = {".exr", ".dpx", ".tif", ".tiff", ".png", ".jpg", ".jpeg"}


class SequenceError(FaceplateError):
    """A plate path or frame range the user gave cannot be understood."""


def parse_frame_range(text: str) -> list[int]:
    """``"1001-1100"``, ``"1001-1100x2"``, ``"1,5,9-12"`` or ``"1001"`` → sorted unique frames."""
    try:
        return frames.parse_frame_range(text)
    except ValueError as exc:
        raise SequenceError(str(exc)) from None


@dataclass(frozen=True)
class Plate:
    """A source of frames: an image sequence or a video file, with the frames to process."""

    path: str
    pattern: SequencePattern | None
    frames: tuple[int, ...]
    files: tuple[str, ...] = ()  # a folder of stills: frame n is files[n - 1]

    @property
    def is_video(self) -> bool:
        return os.path.splitext(self.path)[1].lower() in VIDEO_EXTENSIONS

    def frame_path(self, frame: int) -> str:
        if self.files:
            return self.files[frame - 1]
        if self.pattern is None:
            return self.path
        return self.pattern.path(frame)


def open_plate(path: str, frames: str | list[int] | None = None) -> Plate:
    """Resolve a plate argument to its frames.

    ``path`` may be a sequence pattern, one frame of a sequence (``plate.1001.exr`` is taken as
    the whole sequence only when it has a pattern), a single still, or a video file (frames are
    numbered from 1, or as given). ``frames`` limits what is processed.
    """
    wanted = parse_frame_range(frames) if isinstance(frames, str) else frames
    if os.path.isdir(path):
        return _stills(path, wanted)
    ext = os.path.splitext(path)[1].lower()
    if ext in VIDEO_EXTENSIONS:
        if not os.path.isfile(path):
            raise SequenceError(f"video file not found: {path}")
        count = _video_frame_count(path)
        available = list(range(1, count + 1))
        chosen = [f for f in (wanted or available) if f in set(available)]
        if wanted and not chosen:
            raise SequenceError(f"{path} has frames 1-{count}; none of {format_frame_range(wanted)}")
        return Plate(path, None, tuple(chosen))
    if ext not in IMAGE_EXTENSIONS:
        raise SequenceError(
            f"unsupported plate type {ext or '(none)'!r} for {path}: use one of "
            + ", ".join(sorted(IMAGE_EXTENSIONS | VIDEO_EXTENSIONS))
        )
    pattern = SequencePattern.parse(path)
    if pattern is None:
        if not os.path.isfile(path):
            raise SequenceError(f"plate file not found: {path}")
        frame = wanted[0] if wanted and len(wanted) == 1 else 1
        return Plate(path, None, (frame,))
    if wanted is not None:
        return Plate(path, pattern, tuple(wanted))
    found = pattern.existing_frames()
    if not found:
        raise SequenceError(f"no frames on disk match {pattern.hashes}")
    return Plate(path, pattern, tuple(found))


def _stills(folder: str, wanted: list[int] | None) -> Plate:
    """A folder of stills (any sizes), numbered 1… in name order."""
    files = tuple(sorted(os.path.join(folder, n) for n in os.listdir(folder)
                         if os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS
                         and os.path.isfile(os.path.join(folder, n))))
    if not files:
        raise SequenceError(f"no images in {folder} (looked for "
                            f"{', '.join(sorted(IMAGE_EXTENSIONS))})")
    available = range(1, len(files) + 1)
    chosen = tuple(f for f in (wanted or available) if 1 <= f <= len(files))
    if not chosen:
        raise SequenceError(f"{folder} has stills 1-{len(files)}; none of "
                            f"{format_frame_range(wanted or [])}")
    return Plate(folder, None, chosen, files)


def _video_frame_count(path: str) -> int:
    import cv2  # engine side only

    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            raise SequenceError(f"cannot open video {path}")
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()


@dataclass
class FrameLedger:
    """Which frames a sequence writer wrote and which of them held a face, listed as ranges:
    what ``faceplate stabilise`` and ``faceplate convert --only-faces`` report."""

    written: list[int] = field(default_factory=list)
    face_frames: list[int] = field(default_factory=list)
    no_face: list[int] = field(default_factory=list)

    def add(self, frame: int, *, written: bool, face: bool) -> None:
        if written:
            self.written.append(frame)
        (self.face_frames if face else self.no_face).append(frame)

    def to_dict(self) -> dict:
        written = sorted(self.written)
        return {"written": len(written), "ranges": format_frame_range(written),
                "face_ranges": format_frame_range(sorted(self.face_frames)),
                "no_face_ranges": format_frame_range(sorted(self.no_face)),
                "first": written[0] if written else None,
                "last": written[-1] if written else None}

    def report(self) -> str:
        """``N frames (ranges)`` and, when some had no face, where."""
        d = self.to_dict()
        text = f"{d['written']} frames ({d['ranges'] or 'none'})"
        return text + (f"; no face on {d['no_face_ranges']}" if self.no_face else "")
