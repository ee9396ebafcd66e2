"""A whole shot: read → network space → detect/track → select → smooth → align → write.

A face the tracker follows is searched for only near where it is expected, with a whole-frame
search every ``redetect_every`` frames (for new faces), on the last frame, and whenever every
tracked face is lost. A face that a whole-frame search finds for the first time is then followed backwards
over the frames searched only near other faces, so it is found from the frame it entered. Smoothing runs after the last frame, when the whole shot is known.
Problems with one frame (unreadable, no RGB, NaN pixels, no face, a face too small) are noted
for that frame and the shot continues; :class:`ExtractSummary` reports them and its
``exit_code`` says whether every frame had a face (0), some had none (1) or some failed (2).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import FaceplateError
from ..face.align import (
    FACE_TYPES,
    alignment_matrix,
    check_size,
    crop_box,
    crop_matrix,
    transform_points,
    warp_to_crop,
)
from ..io.colour import ColourSpaces, default_space_for
from ..io.images import read_image
from ..io.sequence import Plate, open_plate
from ..progress import Listener, Progress
from . import alignments as alignments_file
from .backends import Backend, Detection, get_backend
from .frame import NetworkFrame, network_frame
from .select import Selection, keep_tracks
from .smooth import jitter, smooth_track
from .track import Describer, Tracker, iou

log = logging.getLogger(__name__)

DEFAULT_SMOOTHING = 0.5
PREVIEW = "preview.png"
DEFAULT_MIN_FACE = 32  # px: smaller faces carry too little detail to align or train on


@dataclass
class ExtractSummary:
    shot_dir: str
    alignments_path: str
    backend: str
    frames: list[int]
    faces: int
    tracks: list[int]
    no_face: list[int] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    warnings: dict[int, list[str]] = field(default_factory=dict)
    seconds: float = 0.0
    jitter_raw: float = 0.0  # RMS landmark acceleration / inter-ocular distance, before …
    jitter_smoothed: float = 0.0  # … and after smoothing
    faceset: str | None = None
    faceset_faces: int = 0
    preview: str | None = None

    @property
    def exit_code(self) -> int:
        return 2 if self.errors else 1 if self.no_face else 0

    @property
    def fps(self) -> float:
        return len(self.frames) / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {"shot_dir": self.shot_dir, "alignments": self.alignments_path,
                "backend": self.backend, "frames": len(self.frames), "faces": self.faces,
                "tracks": self.tracks, "no_face": self.no_face,
                "errors": {str(k): v for k, v in self.errors.items()},
                "warnings": {str(k): v for k, v in self.warnings.items()},
                "seconds": round(self.seconds, 3), "fps": round(self.fps, 3),
                "jitter_raw": round(self.jitter_raw, 5),
                "jitter_smoothed": round(self.jitter_smoothed, 5),
                "faceset": self.faceset, "faceset_faces": self.faceset_faces,
                "preview": self.preview, "exit_code": self.exit_code}

    def report(self) -> str:
        from ..io.sequence import format_frame_range

        lines = [(f"{len(self.frames)} frames, {self.faces} faces in {len(self.tracks)} "
                  f"track(s), backend {self.backend}, {self.fps:.2f} frames/s"),
                 f"alignments: {self.alignments_path}"]
        if self.preview:
            lines.append(f"preview: {self.preview}")
        if self.jitter_raw:
            lines.append(f"landmark jitter {self.jitter_raw:.4f} → {self.jitter_smoothed:.4f} "
                         "(inter-ocular units) after smoothing")
        if self.faceset:
            lines.append(f"face set: {self.faceset_faces} crops in {self.faceset}")
        for frame, messages in sorted(self.warnings.items()):
            lines += [f"frame {frame}: warning: {m}" for m in messages]
        for frame, message in sorted(self.errors.items()):
            lines.append(f"frame {frame}: error: {message}")
        if self.no_face:
            lines.append(f"no face in {len(self.no_face)} frame(s): "
                         f"{format_frame_range(self.no_face)}")
        return "\n".join(lines)


@dataclass
class _Found:
    detection: Detection
    track: int
    landmarks: np.ndarray  # smoothed later


def extract_shot(
    plate: str,
    shot_dir: str,
    *,
    frames: str | list[int] | None = None,
    backend: str | Backend = "auto",
    colourspace: str | None = None,
    face_type: str = "whole_face",
    smoothing: float = DEFAULT_SMOOTHING,
    select: str | Selection | None = None,
    faceset_dir: str | None = None,
    faceset_size: int = 256,
    progress_listener: Listener | None = None,
    progress_stream=None,
    device: str = "auto",
    weights_dir: str | None = None,
    download_weights: bool = False,
    detect_size: int | None = None,
    min_face: float = DEFAULT_MIN_FACE,
    redetect_every: int = 10,
    preview: bool = True,
) -> ExtractSummary:
    """Extract every face of ``plate`` into ``shot_dir/alignments.json`` (and a face set), with
    a picture of a few frames' faces in ``shot_dir/preview.png`` unless ``preview`` is off."""
    if face_type not in FACE_TYPES:
        raise FaceplateError(f"unknown face type {face_type!r}: use one of {', '.join(FACE_TYPES)}")
    if faceset_dir:
        check_size(faceset_size)
    if not 0.0 <= smoothing <= 1.0:
        raise FaceplateError(f"smoothing {smoothing} is outside 0–1 (0 = off, 1 = strongest)")
    selection = select if isinstance(select, Selection) else Selection.parse(select)
    source = open_plate(plate, frames)
    colour = ColourSpaces(colourspace or default_space_for(source.path))
    engine = backend if isinstance(backend, Backend) else get_backend(
        backend, device, weights_dir, detect_size=detect_size, download=download_weights)
    log.info("backend %s, colourspace %s → network", engine.name, colour.plate_space)
    started = time.monotonic()

    summary = ExtractSummary(shot_dir, alignments_file.path_for(shot_dir), engine.name,
                             list(source.frames), 0, [])
    found, size, tracker = _detect_shot(source, colour, engine, summary, min_face,
                                        redetect_every, progress_listener, progress_stream)
    found = _apply_selection(found, selection, engine, tracker)
    summary.jitter_raw, summary.jitter_smoothed = _smooth(found, smoothing)

    records = {frame: [alignments_file.FaceRecord(
        f.detection.bbox, f.detection.score, f.landmarks,
        alignment_matrix(f.landmarks, face_type), f.track) for f in faces]
        for frame, faces in found.items()}
    summary.faces = sum(len(v) for v in records.values())
    summary.tracks = sorted({r.track for v in records.values() for r in v})
    summary.no_face = sorted(f for f, v in records.items() if not v)
    result = alignments_file.Alignments(
        os.path.abspath(source.path), colour.plate_space, engine.name, face_type,
        size or (0, 0), smoothing, records)
    summary.alignments_path = alignments_file.save(result, shot_dir)

    if preview:
        from .preview import write_preview

        summary.preview = write_preview(result, os.path.join(shot_dir, PREVIEW)) or None
    if faceset_dir:
        summary.faceset = faceset_dir
        summary.faceset_faces = _write_faceset(source, colour, result, faceset_dir,
                                               faceset_size, progress_listener, progress_stream)
    summary.seconds = time.monotonic() - started
    return summary


def _detect_shot(source: Plate, colour: ColourSpaces, engine: Backend, summary: ExtractSummary,
                 min_face: float, redetect_every: int, listener, stream):
    """First pass: every frame's faces with their track ids, the frame size and the tracker
    (which holds each track's face descriptor); problems are noted in ``summary``."""
    tracker = Tracker(Describer())
    found: dict[int, list[_Found]] = {}
    size: tuple[int, int] | None = None
    progress = Progress("extract", len(source.frames), listener=listener, stream=stream)
    for i, frame in enumerate(source.frames):
        try:
            image, warnings = network_frame(source, frame, colour)
            h, w = image.shape[:2]
            if size is None:
                size = (w, h)
            elif size != (w, h):
                raise FaceplateError(f"frame is {w}×{h} but the shot is {size[0]}×{size[1]}")
        except FaceplateError as exc:
            summary.errors[frame] = str(exc)
            progress.advance(message=f"frame {frame}: error")
            continue
        full = (i % redetect_every == 0 or i == len(source.frames) - 1
                or not tracker.active(frame))
        detections = _find_faces(engine, image, tracker, frame, full)
        for d in detections:
            if d.width < min_face:
                warnings.append(f"a face of {d.width:.0f} px at ({d.bbox[0]:.0f}, "
                                f"{d.bbox[1]:.0f}) is below the {min_face:.0f} px minimum; "
                                "skipped")
        detections = [d for d in detections if d.width >= min_face]
        ids = tracker.update(frame, detections, image)
        found[frame] = [_Found(d, t, d.landmarks) for d, t in zip(detections, ids)]
        if full and i > 0:
            seen_before = {f.track for f in found.get(source.frames[i - 1], [])}
            for face in found[frame]:
                if face.track not in seen_before:
                    _backfill(source, colour, engine, found, face, i, redetect_every, min_face)
        if warnings:
            summary.warnings[frame] = warnings
        progress.advance(message=f"frame {frame}: {len(detections)} face(s)")
    return found, size, tracker


def _backfill(source: Plate, colour: ColourSpaces, engine: Backend,
              found: dict[int, list[_Found]], face: _Found, index: int, reach: int,
              min_face: float) -> None:
    """A face that a whole-frame search found first at ``index`` may have entered up to
    ``reach`` frames earlier, while only tracked faces were searched for: walk back near it."""
    box = face.detection.bbox
    for j in range(index - 1, max(index - reach, 0) - 1, -1):
        frame = source.frames[j]
        if frame not in found:
            return  # the frame failed to read
        image, _ = network_frame(source, frame, colour)
        near = [d for d in engine.detect_near(image, box) if d.width >= min_face
                and all(iou(d.bbox, f.detection.bbox) < 0.5 for f in found[frame])]
        if not near:
            return
        best = max(near, key=lambda d: iou(d.bbox, box))
        found[frame].append(_Found(best, face.track, best.landmarks))
        found[frame].sort(key=lambda f: -f.detection.width)
        box = best.bbox


def _find_faces(engine: Backend, image: NetworkFrame, tracker: Tracker, frame: int,
                full: bool) -> list[Detection]:
    """Search near the faces being tracked; the whole frame when asked or when all are lost."""
    active = tracker.active(frame)
    if full or not active:
        return engine.detect(image)
    found: list[Detection] = []
    for track in active:
        for d in engine.detect_near(image, track.predict(frame)):
            if all(iou(d.bbox, f.bbox) < 0.5 for f in found):
                found.append(d)
    if not found:
        return engine.detect(image)
    return sorted(found, key=lambda d: -d.width)


def _apply_selection(found: dict[int, list[_Found]], selection: Selection, engine: Backend,
                     tracker: Tracker) -> dict[int, list[_Found]]:
    if selection.everything:
        return found
    if selection.indices is not None:
        return {frame: [f for k, f in enumerate(faces) if k in selection.indices]
                for frame, faces in found.items()}
    tracks = sorted({f.track for faces in found.values() for f in faces})
    distances = None
    if selection.reference is not None:
        reference = reference_descriptor(selection.reference, engine,
                                         tracker.describer or Describer())
        distances = {t: float(np.linalg.norm(tracker.descriptor(t) - reference))
                     for t in tracks if tracker.descriptor(t) is not None}
        log.info("descriptor distance to %s per track: %s", selection.reference,
                 {t: round(d, 3) for t, d in distances.items()})
    keep = keep_tracks(selection, tracks, distances)
    return {frame: [f for f in faces if f.track in keep] for frame, faces in found.items()}


def reference_descriptor(path: str, engine: Backend, describer: Describer) -> np.ndarray:
    """Descriptor of the largest face in a reference photo (any format OpenImageIO reads)."""
    image = read_image(path)
    rgb = np.clip(ColourSpaces(default_space_for(path)).to_network(image.rgb()), 0.0, 1.0)
    faces = engine.detect(rgb)
    if not faces:
        raise FaceplateError(f"no face found in the reference image {path}: use a clear, "
                             "frontal photo of the person to select")
    return describer.describe(rgb, faces[0].landmarks)


def _smooth(found: dict[int, list[_Found]], strength: float) -> tuple[float, float]:
    """Smooth every track over the shot in place; returns the jitter before and after."""
    by_track: dict[int, list[_Found]] = {}
    frames_of: dict[int, list[int]] = {}
    for frame in sorted(found):
        for f in found[frame]:
            by_track.setdefault(f.track, []).append(f)
            frames_of.setdefault(f.track, []).append(frame)
    raw, smoothed, weight = 0.0, 0.0, 0
    for track, faces in by_track.items():
        pts = np.stack([f.landmarks for f in faces])
        out = smooth_track(frames_of[track], pts, strength)
        for f, lm in zip(faces, out):
            f.landmarks = lm
        if len(faces) >= 3:
            raw += jitter(pts) * len(faces)
            smoothed += jitter(out) * len(faces)
            weight += len(faces)
    return (raw / weight, smoothed / weight) if weight else (0.0, 0.0)


def _write_faceset(source: Plate, colour: ColourSpaces, result: alignments_file.Alignments,
                   root: str, size: int, listener, stream) -> int:
    from .faceset import FaceSetWriter

    writer = FaceSetWriter(root, result.face_type, size)
    frames = [f for f in sorted(result.frames) if result.frames[f]]
    progress = Progress("faceset", len(frames), listener=listener, stream=stream)
    count = 0
    for frame in sorted(result.frames):
        writer.replace_frame(result.plate, frame)
    for frame in frames:
        image, _ = network_frame(source, frame, colour)
        h, w = image.shape[:2]
        for face in result.frames[frame]:
            box = crop_box(face.matrix, (w, h), size)
            if box is None:
                continue
            window = image.window(*box)
            shifted = face.matrix.copy()
            shifted[:, 2] += face.matrix[:, :2] @ np.array(box[:2], float)
            crop = warp_to_crop(window, shifted, size)
            landmarks = transform_points(face.landmarks, crop_matrix(face.matrix, size))
            writer.add(crop, result.plate, frame, face.track, landmarks)
            count += 1
        progress.advance(message=f"frame {frame}")
    writer.close()
    return count
