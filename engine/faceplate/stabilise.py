"""The stabilised face sequence of one track, with the ST maps both ways.

For every frame the face crop is warped still (the alignment matrix of the shot) and written as
an EXR in the plate's own colourspace (its values untouched, half float), beside
``face_to_plate`` (crop size) and ``plate_to_face`` (plate size, stored over the face's box
only) ST maps in float: see :mod:`faceplate.face.stmap` for the convention. A paint fix made
on the still face goes back onto the moving plate through Nuke's STMap with ``plate_to_face``.
Every file says where it came from (``faceplate/...`` metadata: plate, frame, matrix, track).
A plate frame that cannot be read is skipped (one line as it happens, listed at the end) and
the others are written.

Plates whose stored pixels are not the frame (an EXR data window other than its display
window: overscan, a cropped render, a window away from (0, 0)); the alignments are in frame
pixels, the plate's array holds its data window:

- the still face is cut from the stored pixels (the alignment moved onto their grid), so
  overscan around the frame is real picture in the crop, not a reflection;
- ``face_to_plate``'s ``s, t`` are normalised to the plate's **frame** (display window: the
  format Nuke's STMap measures its source by; ``faceplate/plate_size`` is that size), so a
  point in the overscan has ``s`` or ``t`` outside 0–1, and ``A`` (inside) says whether it
  lies on the plate's stored pixels;
- ``plate_to_face`` is a map of the plate's **data window**: what a Read of the plate gives
  in Nuke, and so the pixels STMap's output should cover for a Merge over that Read. It is
  written with the plate's windows: its data window is the face's box within the plate's
  data window (placed where those pixels sit), its display window the plate's.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field

import numpy as np
from faceplate_client.layout import PROVENANCE_PREFIX as PREFIX

from . import __version__
from .errors import ExitCode, FaceplateError, note_skipped, skipped_summary
from .extract import alignments as alignments_io
from .face.align import check_size, warp_to_crop
from .face.stmap import face_to_plate, plate_to_face
from .io.images import ImageError, ImagePart, read_plate_frame, write_image, write_parts
from .io.sequence import (
    FrameLedger,
    Plate,
    SequencePattern,
    format_frame_range,
    open_plate,
    parse_frame_range,
)
from .progress import Listener, Progress

log = logging.getLogger(__name__)
CONVENTION = "nuke-stmap: s,t 0-1 from the bottom-left corner; R=s G=t A=inside"


@dataclass(frozen=True)
class StabiliseOutputs:
    """The three sequences: ``OUT/face.####.exr`` → ``face_to_plate`` and ``plate_to_face``
    next to it (named after the face sequence's stem)."""

    face: SequencePattern
    to_plate: SequencePattern
    from_plate: SequencePattern

    @classmethod
    def for_pattern(cls, out: str) -> StabiliseOutputs:
        face = SequencePattern.parse(out)
        if face is None or not face.suffix.lower().endswith(".exr"):
            raise FaceplateError(f"output {out!r} must be an EXR sequence such as "
                                 "OUT/face.####.exr")
        head, base = os.path.split(face.prefix)
        stem = base.rstrip("._-") or "face"
        sep = base[len(stem):] or "."
        return cls(face,
                   SequencePattern(os.path.join(head, f"{stem}_to_plate{sep}"), face.padding,
                                   face.suffix),
                   SequencePattern(os.path.join(head, f"plate_to_{stem}{sep}"), face.padding,
                                   face.suffix))


@dataclass
class StabiliseSummary:
    out: str
    face_to_plate: str
    plate_to_face: str
    track: int
    size: int
    face_type: str
    colourspace: str
    ledger: FrameLedger = field(default_factory=FrameLedger)
    skipped: dict[int, str] = field(default_factory=dict)  # frame → why it was not written

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.FRAMES_SKIPPED if self.skipped else ExitCode.OK

    def to_dict(self) -> dict:
        return {"out": self.out, "face_to_plate": self.face_to_plate,
                "plate_to_face": self.plate_to_face, "track": self.track, "size": self.size,
                "face_type": self.face_type, "colourspace": self.colourspace,
                **self.ledger.to_dict(),
                "skipped": {str(f): m for f, m in sorted(self.skipped.items())},
                "exit_code": int(self.exit_code)}

    def report(self) -> str:
        head = (f"stabilised track {self.track} at {self.size} px: "
                f"{self.ledger.report()} → {self.out}")
        maps = f"  ST maps: {self.face_to_plate} (crop size), {self.plate_to_face} (plate size)"
        skipped = f"\n{skipped_summary(self.skipped, 'could not be read or written')}" \
            if self.skipped else ""
        return f"{head}\n{maps}{skipped}"


def stabilise_shot(shot_dir: str, out: str, *, size: int = 512, track: int | None = None,
                   only_faces: bool = False, frames: str | list[int] | None = None,
                   plate: str | None = None, progress_listener: Listener | None = None,
                   progress_stream=None) -> StabiliseSummary:
    """Write the stabilised face of ``track`` (default: the first) for the shot's frames."""
    size = check_size(size)
    outputs = StabiliseOutputs.for_pattern(out)
    shot = alignments_io.load(shot_dir)
    tracks = shot.tracks()
    if not tracks:
        raise FaceplateError(f"{alignments_io.path_for(shot_dir)} has no faces to stabilise")
    track = tracks[0] if track is None or track < 0 else int(track)
    if track not in tracks:
        raise FaceplateError(f"no track {track} in the shot: it has tracks "
                             f"{', '.join(map(str, tracks))}")
    wanted = parse_frame_range(frames) if isinstance(frames, str) else frames
    todo = sorted(f for f in shot.frames if wanted is None or f in set(wanted))
    if not todo:
        raise FaceplateError(f"none of frames {format_frame_range(wanted or [])} are in the "
                             f"shot's alignments ({format_frame_range(sorted(shot.frames))})")
    source = open_plate(plate or shot.plate, todo)
    summary = StabiliseSummary(outputs.face.hashes, outputs.to_plate.hashes,
                               outputs.from_plate.hashes, track, size, shot.face_type,
                               shot.colourspace)
    os.makedirs(os.path.dirname(os.path.abspath(outputs.face.prefix)), exist_ok=True)
    progress = Progress("stabilise", len(todo), "frames", progress_listener, progress_stream)
    for frame in todo:
        face = next((f for f in shot.faces(frame) if f.track == track), None)
        if face is None and only_faces:
            summary.ledger.add(frame, written=False, face=False)
            progress.advance(1, f"{frame} no face")
            continue
        try:
            _write_frame(source, frame, face, outputs, summary, shot.frame_size(frame))
        except ImageError as exc:  # this frame's plate (or output) only: the others go on
            summary.skipped[frame] = str(exc)
            note_skipped(progress, frame, str(exc), log)
            progress.advance(1, f"{frame} skipped")
            continue
        summary.ledger.add(frame, written=True, face=face is not None)
        progress.advance(1, f"{frame} {'face' if face is not None else 'no face'}")
    return summary


def _write_frame(plate: Plate, frame: int, face, outputs: StabiliseOutputs,
                 summary: StabiliseSummary, shot_size: tuple[int, int]) -> None:
    size = summary.size
    image = read_plate_frame(plate, frame)
    geometry = image.frame
    frame_size = geometry.frame_size  # what the alignments measure: the display window
    if all(shot_size) and frame_size != tuple(shot_size):
        raise FaceplateError(f"{image.source} is {frame_size[0]}×{frame_size[1]} but the "
                             f"alignments were made on {shot_size[0]}×{shot_size[1]}: "
                             "re-run faceplate extract on this plate")
    meta: dict[str, str | int | float] = {
        PREFIX + "version": __version__, PREFIX + "synthetic": 0,
        PREFIX + "plate": plate.path, PREFIX + "source": image.source, PREFIX + "frame": frame,
        PREFIX + "track": summary.track, PREFIX + "face_type": summary.face_type,
        PREFIX + "colourspace": summary.colourspace, PREFIX + "crop_size": size,
        PREFIX + "plate_size": f"{frame_size[0]} {frame_size[1]}",
        PREFIX + "matrix": json.dumps([] if face is None
                                      else np.round(face.matrix, 9).tolist()),
        PREFIX + "status": "face" if face is not None else "no face"}
    stmap_meta = {**meta, PREFIX + "stmap": CONVENTION}
    from_plate, box = np.zeros((1, 1, 4), np.float32), (0, 0, 1, 1)
    if face is None:
        crop = np.zeros((size, size, 3), np.float32)
        to_plate = np.zeros((size, size, 4), np.float32)
    else:
        stored = geometry.to_array(matrix=face.matrix)  # the frame matrix on the array's grid
        crop = warp_to_crop(image.rgb(), stored, size)
        st = face_to_plate(face.matrix, size, frame_size)  # s, t of the frame
        if geometry.data != geometry.display:  # inside: on the stored pixels, not the frame
            st[..., 2] = face_to_plate(stored, size, geometry.stored_size)[..., 2]
        to_plate = _rgba(st)
        placed = plate_to_face(stored, size, geometry.stored_size)
        if placed is not None:
            from_plate, box = _rgba(placed[0]), placed[1]
    write_image(outputs.face.path(frame), crop, ["R", "G", "B"],
                {**meta, PREFIX + "kind": "stabilised face"}, pixel_type="half")
    write_image(outputs.to_plate.path(frame), to_plate, ["R", "G", "B", "A"],
                {**stmap_meta, PREFIX + "kind": "stmap face_to_plate"}, pixel_type="float")
    # The face's box of the plate's stored pixels, where they sit, in the plate's frame.
    x0, y0 = box[:2]
    write_parts(outputs.from_plate.path(frame), [ImagePart(
        from_plate, ["R", "G", "B", "A"], pixel_type="float",
        origin=(geometry.data[0] + x0, geometry.data[1] + y0), display=geometry.display)],
        {**stmap_meta, PREFIX + "kind": "stmap plate_to_face"})


def _rgba(st_inside: np.ndarray) -> np.ndarray:
    """s, t, inside → R=s, G=t, B=0, A=inside (what a Read + STMap(uv=rgb) take)."""
    h, w = st_inside.shape[:2]
    return np.dstack([st_inside[..., :2], np.zeros((h, w), np.float32), st_inside[..., 2]])
