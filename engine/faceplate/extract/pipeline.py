"""A whole shot: read → network space → detect/track/judge → select → smooth → align → write.

A face the tracker follows is searched for only near where it is expected, with a whole-frame
search every ``redetect_every`` frames (for new faces), on the last frame, at a cut, and
whenever every tracked face is lost. The window search (:func:`_search_window`) is HOG, then
dlib's CNN at two scales (confidence.cnn_look), the CNN only for confident tracks.
Tracking runs both ways: a track that starts inside a shot is followed backwards from its
first frame with the same window search (:func:`_track_back`) until its face is gone (more
than ``MAX_BRIDGE`` frames in a row) or the shot starts; forwards, it is followed while it is
active. Where no face is tracked and none is found, the CNN searches the whole frame (a few
times a shot: ``empty_search_every``, ``empty_search_max``). Each detection gets a confidence
(extract.confidence); low-confidence tracks are held back. Cuts (extract.cuts: not a flash,
not a dissolve; and every change of frame size, as in a folder of stills) stop tracking by
overlap, bridging and smoothing. Bridging over a track's missed frames and smoothing run after
the last frame (extract.resolve).
Problems with one frame (unreadable, no RGB, NaN pixels, no face, a face too small) are noted
for that frame and the shot continues; a frame that cannot be read is skipped (one line each
on the progress stream as it happens, listed as ranges at the end), here and wherever a frame
is read again (backfill, face set, preview). :class:`ExtractSummary` reports them and its
``exit_code`` (:class:`~faceplate.errors.ExitCode`) says whether every frame had a face (OK),
some had none (NO_FACE) or some were skipped (FRAMES_SKIPPED, whatever else happened).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import ExitCode, FaceplateError, note_skipped, skipped_summary
from ..face.align import crop_box, crop_matrix, transform_points
from ..face.crop import aligned_crop, model_input
from ..io.colour import ColourSpaces, default_space_for
from ..io.geometry import Geometry
from ..io.images import read_image, read_plate_frame
from ..io.sequence import Plate, open_plate
from ..progress import Listener, Progress
from . import alignments as alignments_file
from .backends import Backend, Detection, get_backend
from .backends.base import DetectorBox
from .confidence import Judge, cnn_look, found_by_verifier
from .cuts import cut_at, is_cut, scale_for, signature
from .frame import NetworkFrame, network_frame
from .resolve import MAX_BRIDGE, Found, resolve
from .select import Selection
from .settings import ExtractSettings
from .track import Describer, Tracker, iou

log = logging.getLogger(__name__)

PREVIEW = "preview.png"


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
    held_back: list[int] = field(default_factory=list)  # low-confidence tracks, not swapped
    track_confidence: dict[int, float] = field(default_factory=dict)
    cuts: list[int] = field(default_factory=list)
    verified: int = 0  # doubtful detections looked at again by the CNN detector
    recovered: int = 0  # faces the CNN detector found where a track had lost its face
    searched: int = 0  # whole-frame CNN searches of frames where no face was tracked or found
    discovered: int = 0  # faces those searches found
    tracked_back: int = 0  # faces found following tracks backwards from their first frame
    bridged: int = 0  # faces bridged over frames their track missed (a flash, a dissolve)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.FRAMES_SKIPPED if self.errors else \
            ExitCode.NO_FACE if self.no_face else ExitCode.OK

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
                "preview": self.preview, "held_back": self.held_back,
                "track_confidence": {str(k): v for k, v in self.track_confidence.items()},
                "cuts": self.cuts, "verified": self.verified, "recovered": self.recovered,
                "searched": self.searched, "discovered": self.discovered,
                "tracked_back": self.tracked_back, "bridged": self.bridged,
                "exit_code": int(self.exit_code)}

    def report(self) -> str:
        from ..io.sequence import format_frame_range

        lines = [(f"{len(self.frames)} frames, {self.faces} faces in {len(self.tracks)} "
                  f"track(s), backend {self.backend}, {self.fps:.2f} frames/s"),
                 f"alignments: {self.alignments_path}"]
        if self.preview:
            lines.append(f"preview: {self.preview}")
        if self.track_confidence:
            lines.append("track confidence: " + ", ".join(
                f"{t}: {c:.2f}" + (" (held back)" if t in self.held_back else "")
                for t, c in sorted(self.track_confidence.items())))
        if self.held_back:
            lines.append(f"held back (not swapped; review with faceplate alignments): tracks "
                         f"{', '.join(map(str, self.held_back))}")
        if self.cuts:
            lines.append(f"{len(self.cuts)} cut(s), at frames {', '.join(map(str, self.cuts))}")
        if self.verified or self.recovered or self.searched:
            lines.append(f"CNN detector: {self.verified} doubtful face(s) checked, "
                         f"{self.recovered} recovered where a track lost its face, "
                         f"{self.discovered} found in {self.searched} whole-frame search(es)")
        if self.tracked_back or self.bridged:
            lines.append(f"{self.tracked_back} face(s) found tracking back from where a track "
                         f"started, {self.bridged} bridged over frames a track missed")
        if self.jitter_raw:
            lines.append(f"landmark jitter {self.jitter_raw:.4f} → {self.jitter_smoothed:.4f} "
                         "(inter-ocular units) after smoothing")
        if self.faceset:
            lines.append(f"face set: {self.faceset_faces} crops in {self.faceset}")
        for frame, messages in sorted(self.warnings.items()):
            lines += [f"frame {frame}: warning: {m}" for m in messages]
        if self.no_face:
            lines.append(f"no face in {len(self.no_face)} frame(s): "
                         f"{format_frame_range(self.no_face)}")
        if self.errors:  # each one's reason was its own line as it happened (to_dict: errors)
            lines.append(skipped_summary(self.errors, "could not be used"))
        return "\n".join(lines)


def extract_shot(
    plate: str,
    shot_dir: str,
    settings: ExtractSettings | None = None,
    *,
    frames: str | list[int] | None = None,
    colourspace: str | None = None,
    faceset_dir: str | None = None,
    backend: str | Backend | None = None,
    verifier: Backend | None = None,
    progress_listener: Listener | None = None,
    progress_stream=None,
    device: str = "auto",
    weights_dir: str | None = None,
    download_weights: bool = False,
    **changes,
) -> ExtractSummary:
    """Extract every face of ``plate`` into ``shot_dir/alignments.json`` (and a face set), with
    a picture of the faces in ``shot_dir/preview.png`` unless the settings turn it off.

    ``changes`` are :class:`ExtractSettings` fields that override ``settings``; ``backend``
    is a started backend or a backend name, ``verifier`` a started CNN detector (started
    here when the settings verify and none is given)."""
    if isinstance(backend, str):
        changes["backend"] = backend
    settings = replace(settings or ExtractSettings(), **changes)
    selection = Selection.parse(settings.select)
    source = open_plate(plate, frames)
    colour = ColourSpaces(colourspace or default_space_for(source.path))
    engine = backend if isinstance(backend, Backend) else get_backend(
        settings.backend, device, weights_dir, detect_size=settings.detect_size or None,
        download=download_weights)
    if settings.verify and verifier is None:
        from .backends.dlib_backend import DlibCnnDetector

        verifier = DlibCnnDetector()
    if not settings.verify:
        verifier = None
    log.info("backend %s, colourspace %s → network", engine.name, colour.plate_space)
    started = time.monotonic()

    summary = ExtractSummary(shot_dir, alignments_file.path_for(shot_dir), engine.name,
                             list(source.frames), 0, [])
    shot = _detect_shot(source, colour, engine, verifier, settings, summary,
                        progress_listener, progress_stream)
    tracker = shot.tracker

    def distances(tracks: list[int]) -> dict[int, float]:
        reference = reference_descriptor(str(selection.reference), engine,
                                         tracker.describer or Describer())
        found = {t: float(np.linalg.norm(d - reference)) for t in tracks
                 if (d := tracker.descriptor(t)) is not None}
        log.info("descriptor distance to %s per track: %s", selection.reference,
                 {t: round(d, 3) for t, d in found.items()})
        return found

    resolved = resolve(shot.found, shot.cuts, face_type=settings.face_type,
                       smoothing=settings.smoothing, selection=selection,
                       min_confidence=settings.min_confidence, distances=distances)
    summary.jitter_raw, summary.jitter_smoothed = resolved.jitter_raw, resolved.jitter_smoothed
    # Found on each frame's stored pixels; alignments.json holds frame pixels.
    records, held = ({f: [shot.geometries[f].place(r, to_frame=True) for r in rs]
                      for f, rs in found.items()}
                     for found in (resolved.frames, resolved.held_back))
    summary.faces = sum(len(v) for v in records.values())
    summary.tracks = sorted({r.track for v in records.values() for r in v})
    summary.held_back = sorted(t for t, i in resolved.tracks.items() if i.held_back)
    summary.track_confidence = {t: round(i.confidence, 3) for t, i in resolved.tracks.items()}
    summary.cuts = shot.cuts
    summary.verified = shot.judge.looks
    summary.recovered = shot.recovered
    summary.searched, summary.discovered = shot.searched, shot.discovered
    summary.tracked_back, summary.bridged = shot.tracked_back, resolved.bridged
    summary.no_face = sorted(f for f, v in records.items() if not v)
    size = shot.size or (0, 0)
    result = alignments_file.Alignments(
        os.path.abspath(source.path), colour.plate_space, engine.name, settings.face_type,
        size, settings.smoothing, records, resolved.tracks, held, shot.cuts,
        {f: s for f, s in shot.sizes.items() if s != size}, settings.view)
    summary.alignments_path = alignments_file.save(result, shot_dir)

    if settings.preview:
        from .preview import write_preview

        try:
            summary.preview = write_preview(result, os.path.join(shot_dir, PREVIEW)) or None
        except FaceplateError as exc:  # a picture for people: never worth the alignments
            log.warning("preview not written: %s", exc)
    if faceset_dir:
        summary.faceset = faceset_dir
        summary.faceset_faces = _write_faceset(source, colour, result, faceset_dir,
                                               settings.faceset_size, summary,
                                               progress_listener, progress_stream)
    summary.seconds = time.monotonic() - started
    return summary


@dataclass
class _Shot:
    found: dict[int, list[Found]]
    tracker: Tracker
    judge: Judge
    size: tuple[int, int] | None = None  # the first frame's
    sizes: dict[int, tuple[int, int]] = field(default_factory=dict)
    geometries: dict[int, Geometry] = field(default_factory=dict)  # where each frame's pixels sit
    cuts: list[int] = field(default_factory=list)
    recovered: int = 0  # faces the verifier found where a track had lost its face
    empty: int = 0  # frames with no face tracked or found by the first detector
    searched: int = 0  # of those, the ones the verifier searched whole
    discovered: int = 0  # faces it found there
    tracked_back: int = 0  # faces found following a track backwards
    rated: dict[int, list[float]] = field(default_factory=dict)  # track → sum, count

    def add(self, frame: int, detection: Detection, track: int) -> None:
        self.found.setdefault(frame, []).append(Found(detection, track, detection.landmarks))
        total = self.rated.setdefault(track, [0.0, 0.0])
        total[0] += detection.confidence or 0.0
        total[1] += 1

    def track_confidence(self, track: int) -> float:
        total = self.rated.get(track)
        return total[0] / total[1] if total else 0.0


def _detect_shot(source: Plate, colour: ColourSpaces, engine: Backend,
                 verifier: Backend | None, settings: ExtractSettings, summary: ExtractSummary,
                 listener, stream) -> _Shot:
    """First pass: every frame's faces with their track ids and confidence, the cuts, the
    frame sizes and the tracker (which holds each track's face descriptor); problems are
    noted in ``summary``."""
    shot = _Shot({}, Tracker(Describer()), Judge(verifier))
    signatures: dict[int, list[float]] = {}
    previous: int | None = None
    progress = Progress("extract", len(source.frames), listener=listener, stream=stream)
    for i, frame in enumerate(source.frames):
        try:
            image, warnings = network_frame(source, frame, colour, settings.view)
        except FaceplateError as exc:
            summary.errors[frame] = str(exc)
            note_skipped(progress, frame, str(exc), log)
            progress.advance(message=f"frame {frame}: skipped")
            continue
        w, h = image.geometry.frame_size
        shot.size = shot.size or (w, h)
        shot.sizes[frame] = (w, h)
        shot.geometries[frame] = image.geometry
        moved = previous is not None and shot.geometries[previous] != image.geometry
        if (w, h) != shot.size and (previous is None or shot.sizes[previous] == shot.size):
            warnings.append(f"frame is {w}×{h}, the shot's first frame {shot.size[0]}×"
                            f"{shot.size[1]}: taken as a separate still (a cut)")
        elif moved:  # tracking works on the stored pixels: it starts again
            warnings.append(f"the stored pixels (data window) moved to {image.geometry.data}: "
                            "tracking starts again here (a cut)")
        signatures[frame] = signature(image.downscaled(scale_for(image.shape)))
        cut = previous is not None and (moved or _is_cut(source, colour, settings, signatures,
                                                         previous, i))
        if cut:
            shot.cuts.append(frame)
            shot.tracker.cut(frame)
        full = (i % settings.redetect_every == 0 or i == len(source.frames) - 1 or cut
                or not shot.tracker.active(frame))
        following = {t.id for t in shot.tracker.active(frame)}
        detections = _find_faces(engine, image, shot.tracker, frame, full)
        for d in detections:
            if d.width < settings.min_face:
                warnings.append(f"a face of {d.width:.0f} px at ({d.bbox[0]:.0f}, "
                                f"{d.bbox[1]:.0f}) is below the {settings.min_face:.0f} px "
                                "minimum; skipped")
        detections = [d for d in detections if d.width >= settings.min_face]
        if verifier is not None:
            detections += _recover(verifier, image, shot, frame, detections, settings.min_face)
            if not detections and not shot.tracker.active(frame):
                detections = _search_empty(verifier, image, shot, settings)
        ids = shot.tracker.update(frame, detections, image)
        for d, t in zip(detections, ids):
            if d.confidence is None:
                d.confidence = shot.judge.rate(image, d, t)
        shot.found[frame] = []
        for d, t in zip(detections, ids):
            shot.add(frame, d, t)
        if previous is not None and not cut:
            for face in list(shot.found[frame]):
                if face.track not in following:  # a track starts (or comes back) here
                    _track_back(source, colour, engine, verifier, shot, face, i, settings)
        if warnings:
            summary.warnings[frame] = warnings
        previous = frame
        progress.advance(message=f"frame {frame}: {len(detections)} face(s)")
    return shot


def _recover(verifier: Backend, image: NetworkFrame, shot: _Shot, frame: int,
             detections: list[Detection], min_face: float) -> list[Detection]:
    """Where a confident track expected a face and the first detector found none near, the
    stronger detector searches the predicted window."""
    found: list[Detection] = []
    for track in shot.tracker.active(frame):
        if shot.track_confidence(track.id) < 0.5:
            continue  # do not chase what is probably not a face
        box = track.predict(frame)
        if any(_near(d.bbox, box) for d in detections + found):
            continue
        best = _cnn_near(verifier, image, box, min_face, [d.bbox for d in detections + found])
        if best is not None:
            found.append(best)
            shot.recovered += 1
    return found


def _cnn_near(verifier: Backend, image: NetworkFrame, box: DetectorBox, min_face: float,
              taken: list[DetectorBox]) -> Detection | None:
    """The CNN's best face near ``box`` (none overlapping a face in ``taken``), rated."""
    near = cnn_look(verifier, image, box, 1.0, lambda d: d.width >= min_face
                    and _near(d.bbox, box) and not any(iou(d.bbox, t) > 0.3 for t in taken))
    if not near:
        return None
    best = max(near, key=lambda d: d.score)
    best.confidence = found_by_verifier(best)
    return best


def _search_window(engine: Backend, verifier: Backend | None, image: NetworkFrame,
                   box: DetectorBox, min_face: float, taken: list[DetectorBox],
                   judge: Judge, track: int) -> Detection | None:
    """A track's face near ``box``: HOG first, then the CNN (:func:`_cnn_near`); rated."""
    near = [d for d in engine.detect_near(image, box) if d.width >= min_face
            and all(iou(d.bbox, t) < 0.5 for t in taken)]
    if near:
        best = max(near, key=lambda d: iou(d.bbox, box))
        best.confidence = judge.rate(image, best, track)
        return best
    return None if verifier is None else _cnn_near(verifier, image, box, min_face, taken)


def _search_empty(verifier: Backend, image: NetworkFrame, shot: _Shot,
                  settings: ExtractSettings) -> list[Detection]:
    """No face is tracked and the first detector found none: on every
    ``empty_search_every``-th such frame, at most ``empty_search_max`` times a shot, the
    stronger detector searches the whole frame (turned, dim or small faces HOG misses)."""
    shot.empty += 1
    every = settings.empty_search_every
    if not every or (shot.empty - 1) % every or shot.searched >= settings.empty_search_max:
        return []
    shot.searched += 1
    found = [d for d in verifier.detect(image) if d.width >= settings.min_face]
    for d in found:
        d.confidence = found_by_verifier(d)
    shot.discovered += len(found)
    return found


def _near(a: DetectorBox, b: DetectorBox) -> bool:
    """Centres closer than the larger box's size: the same face, however it moved."""
    size = max(a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1])
    return bool(np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2)
                < size)


def _track_back(source: Plate, colour: ColourSpaces, engine: Backend, verifier: Backend | None,
                shot: _Shot, face: Found, index: int, settings: ExtractSettings) -> None:
    """Follow a track that starts at ``index`` backwards with the window search, until its
    face is missed on more than ``MAX_BRIDGE`` frames in a row, a frame already holds it, or
    the shot starts (a cut). The CNN looks only for a track of real faces."""
    box = face.detection.bbox
    cnn = verifier if shot.track_confidence(face.track) >= 0.5 else None
    missed = 0
    for j in range(index - 1, -1, -1):
        frame = source.frames[j]
        if frame not in shot.found or source.frames[j + 1] in shot.cuts \
                or any(f.track == face.track for f in shot.found[frame]):
            return  # the frame failed to read, the shot starts after it, or it is tracked
        try:
            image, _ = network_frame(source, frame, colour, settings.view)
        except FaceplateError as exc:  # it read before (the file changed): stop here
            log.warning("frame %d: not searched again for track %d: it did not read again",
                        frame, face.track)
            log.debug("frame %d: %s", frame, exc)
            return
        best = _search_window(engine, cnn, image, box, settings.min_face,
                              [f.detection.bbox for f in shot.found[frame]], shot.judge,
                              face.track)
        if best is None:
            missed += 1
            if missed > MAX_BRIDGE:
                return
            continue
        missed = 0
        shot.add(frame, best, face.track)
        shot.found[frame].sort(key=lambda f: -f.detection.width)
        shot.tracked_back += 1
        box = best.bbox


def _is_cut(source: Plate, colour: ColourSpaces, settings: ExtractSettings,
            signatures: dict[int, list[float]], previous: int, index: int) -> bool:
    """Does frame ``index`` start a new shot after ``previous`` (the last frame read;
    extract.cuts.cut_at)? Only where the picture changed is the next frame read early, to
    tell a flash or a dissolve from a cut."""
    frames = source.frames
    before, frame = signatures[previous], signatures[frames[index]]
    if not is_cut(before, frame, settings.cut_threshold):
        return False
    after = None
    if index + 1 < len(frames):
        try:
            image, _ = network_frame(source, frames[index + 1], colour, settings.view)
            after = signature(image.downscaled(scale_for(image.shape)))
        except FaceplateError:
            pass  # reported when its turn comes
    earlier = [f for f in signatures if f < previous]
    before2 = signatures[max(earlier)] if earlier else None
    return cut_at(before2, before, frame, after, settings.cut_threshold)


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


def reference_descriptor(path: str, engine: Backend, describer: Describer) -> np.ndarray:
    """Descriptor of the largest face in a reference photo (any format OpenImageIO reads)."""
    image = read_image(path)
    rgb = np.clip(ColourSpaces(default_space_for(path)).to_network(image.rgb()), 0.0, 1.0)
    faces = engine.detect(rgb)
    if not faces:
        raise FaceplateError(f"no face found in the reference image {path}: use a clear, "
                             "frontal photo of the person to select")
    return describer.describe(rgb, faces[0].landmarks)


def _write_faceset(source: Plate, colour: ColourSpaces, result: alignments_file.Alignments,
                   root: str, size: int, summary: ExtractSummary, listener, stream) -> int:
    """Write the aligned crops of every face; a frame that no longer reads is skipped (noted in
    ``summary.errors``: the set misses its faces)."""
    from ..convert.face_size import face_px
    from .faceset import FaceSetWriter

    writer = FaceSetWriter(root, result.face_type, size)
    frames = [f for f in sorted(result.frames) if result.frames[f]]
    progress = Progress("faceset", len(frames), listener=listener, stream=stream)
    count = 0
    for frame in sorted(result.frames):
        writer.replace_frame(result.plate, frame)
    for frame in frames:
        try:
            image = read_plate_frame(source, frame, view=result.view)
            rgb = image.rgb()
        except FaceplateError as exc:
            summary.errors[frame] = f"face set: {exc}"
            note_skipped(progress, frame, f"face set: {exc}", log)
            progress.advance(message=f"frame {frame}: skipped")
            continue
        for face in result.frames[frame]:
            matrix = image.frame.to_array(face.matrix)  # the record is in frame pixels
            if crop_box(matrix, rgb.shape[1::-1], size) is None:
                continue  # off the stored pixels
            # What convert gives the model (not the detector's clipped NetworkFrame pixels).
            crop = model_input(aligned_crop(rgb, matrix, size, colour.to_network))
            landmarks = transform_points(face.landmarks, crop_matrix(face.matrix, size))
            writer.add(crop, result.plate, frame, face.track, landmarks, face_px(face.matrix))
            count += 1
        progress.advance(message=f"frame {frame}")
    writer.close()
    return count
