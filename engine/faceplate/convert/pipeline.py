"""Convert a shot: plate frames + alignments + model → merged frames on disk.

Per frame, top to bottom: read the plate; cut each face's aligned crop (in network space, from
the face's box only); swap the crops through the target identity's decoder, or take them from
the swap cache; smooth them over their face tracks (:mod:`.temporal`); merge them back, stamp
the frame's provenance and write it (:mod:`.render`: the engine's merge op renders a frame
through the same code). The swap and merge stages are separate functions so the engine can
serve FaceSwap and FaceMerge nodes, and a re-merge with new settings never re-runs the model.
Frames whose valid output from the same job is on disk are skipped, so a killed shot resumes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import FaceplateError, note_skipped
from ..extract import alignments as alignments_io
from ..face.align import alignment_matrix
from ..face.crop import aligned_crop, source_box
from ..io.colour import ColourSpaces, default_space_for
from ..io.images import Geometry, Image, read_geometry, read_plate_frame
from ..io.sequence import (
    FrameLedger,
    Plate,
    SequencePattern,
    format_frame_range,
    open_plate,
)
from ..progress import Listener, Progress
from . import masks
from .cache import SwapCache, SwapKey
from .face_size import shot_face_scale
from .merge import SwappedFace, merge_reach
from .motion import FaceMotion
from .overlap import ordered
from .render import (  # frame_job and merge_frame: the nodes' path, bench and tests use them here
    NO_FACE_DETECTED,
    NO_FACE_IN_ALIGNMENTS,
    FrameRenderer,
    file_stamp,
    frame_job,  # noqa: F401
    matte_path,
    matte_sequence,
    merge_frame,  # noqa: F401
    read_frame_matte,
)
from .settings import MergeSettings
from .swap import Swapper, swap_crops
from .temporal import Smoothing, Windows
from .writer import FrameWriter, OutputSettings, plate_pixel_type, what_is_not_kept

log = logging.getLogger(__name__)
STAGES = ("read", "swap", "merge", "write")


@dataclass
class FacePlacement:
    """Where a face sits in a frame: what convert needs of an alignments record."""

    matrix: np.ndarray  # 2×3 plate pixels → unit crop of the model's face type
    landmarks: np.ndarray  # 68×2 plate pixels
    detection: float | None = None  # extraction's is-it-a-face confidence (None: unknown)
    track: int = 0  # the alignments' face track (temporal smoothing follows it)
    motion: FaceMotion | None = None  # the track's matrices on the frames either side


@dataclass
class FrameReport:
    frame: int
    # "swapped", "skipped" (valid output already there), "passthrough", "failed", or
    # "omitted" (no face, and only frames with faces were asked for: nothing written)
    status: str
    faces: int = 0
    message: str = ""

    def to_dict(self) -> dict:
        return {"frame": self.frame, "status": self.status, "faces": self.faces,
                "message": self.message}


@dataclass
class ConvertSummary:
    out_pattern: str
    colourspace: str = ""  # the plate's, as convert used it
    frames: list[FrameReport] = field(default_factory=list)
    # Busy time per stage; overlapped stages add up to more than ``wall``.
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    wall: float = 0.0
    only_faces: bool = False
    temporal_frames: int = 0  # frames swapped or loaded for temporal smoothing
    not_kept: list[str] = field(default_factory=list)  # what the output drops of the plate
    # The model's pixels per plate pixel of the shot's faces (min, median) and the warning
    # when a face is upscaled more than 2x (face_size.soft_warning); {} with no face.
    face_scale: dict = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(1 for f in self.frames if f.status == status)

    def ledger(self) -> FrameLedger:
        """The output sequence's frames (written now or already there) and which hold a face."""
        out = FrameLedger()
        for f in sorted(self.frames, key=lambda r: r.frame):
            if f.status != "failed":
                out.add(f.frame, written=f.status != "omitted", face=f.faces > 0)
        return out

    def to_dict(self) -> dict:
        worked = max(1, self.count("swapped") + self.count("passthrough"))
        return {"out": self.out_pattern, "colourspace": self.colourspace,
                **{s: self.count(s) for s in ("swapped", "skipped", "passthrough", "failed",
                                              "omitted")},
                "only_faces": self.only_faces, **self.ledger().to_dict(),
                "ms_per_frame": {k: round(1000 * v / worked, 1) for k, v in self.seconds.items()},
                "wall_s": round(self.wall, 3),
                "frames_per_s": round(worked / self.wall, 3) if self.wall > 0 else None,
                "temporal_frames": self.temporal_frames, "not_kept": self.not_kept,
                "face_scale": self.face_scale,
                "frames": [f.to_dict() for f in self.frames if f.status != "skipped"]}


def plate_rgb(plate: Image) -> np.ndarray:
    """The plate's RGB without a copy when they are its first channels (as OIIO reads them);
    read-only use only."""
    if plate.channels[:3] == ["R", "G", "B"]:
        return plate.pixels[..., :3]
    return plate.rgb()


# --- the swap stage -----------------------------------------------------------------------

def swap_frame(rgb: np.ndarray, faces: Sequence[FacePlacement], model: Swapper,
               to_identity: str, colour: ColourSpaces, *, frame: int = 0,
               cache: SwapCache | None = None, batch_size: int = 8,
               source: str = "") -> list[SwappedFace]:
    """Swapped faces for one frame (``rgb`` in the plate's colourspace), from the cache where
    it has them; new swaps are added to the cache. Only faces the cache misses are cropped.

    ``source`` stamps the plate file the pixels came from (path, size, time): the cache key
    then uses it instead of a digest of the plate pixels under each face."""
    lookup = _lookup(rgb, faces, model, to_identity, colour, frame, cache, source)
    _swap_missing([lookup], model, to_identity, cache, batch_size)
    return lookup.swapped()


@dataclass
class _SwapLookup:
    """One frame's faces: cached swaps found, crops cut for the ones still to swap."""

    faces: Sequence[FacePlacement]
    keys: list[SwapKey]
    results: list[tuple[np.ndarray, np.ndarray, np.ndarray | None] | None]  # face, mask, crop
    crops: dict[int, np.ndarray]  # face index → crop, for cache misses

    def swapped(self) -> list[SwappedFace]:
        return [SwappedFace(r[0], r[1], f.matrix, f.landmarks, f.detection, crop=r[2],
                            motion=f.motion)
                for r, f in zip(self.results, self.faces) if r is not None]


def _swap_keys(faces: Sequence[FacePlacement], model: Swapper, to_identity: str,
               colour: ColourSpaces, frame: int, frame_size: tuple[int, int], source: str,
               rgb: np.ndarray | None = None) -> list[tuple[SwapKey, masks.Box]]:
    """Each face's cache key and plate box; ``rgb`` is hashed when there is no ``source``."""
    size = model.card.resolution
    w, h = frame_size
    out = []
    for index, face in enumerate(faces):
        box = source_box(face.matrix, (w, h), size)
        pixels = None if source or rgb is None else rgb[box.slices]
        out.append((SwapKey.of(model, to_identity, frame, index, face.matrix,
                               f"{colour.plate_space}:{box}:{source}", pixels), box))
    return out


def _lookup(rgb: np.ndarray, faces: Sequence[FacePlacement], model: Swapper,
            to_identity: str, colour: ColourSpaces, frame: int,
            cache: SwapCache | None, source: str = "") -> _SwapLookup:
    size = model.card.resolution
    lookup = _SwapLookup(faces, [], [], {})
    keyed = _swap_keys(faces, model, to_identity, colour, frame, rgb.shape[1::-1], source, rgb)
    for index, (key, _) in enumerate(keyed):
        hit = cache.get_with_crop(key, need_crop=False) if cache else None
        if hit is None:
            lookup.crops[index] = aligned_crop(rgb, faces[index].matrix, size, colour.to_network)
        lookup.keys.append(key)
        lookup.results.append(hit)
    return lookup


def _swap_missing(lookups: list[_SwapLookup], model: Swapper, to_identity: str,
                  cache: SwapCache | None, batch_size: int) -> None:
    """Swap every crop the lookups still need in one batched model call."""
    todo = [(lk, i) for lk in lookups for i in sorted(lk.crops)]
    if not todo:
        return
    swapped, learned = swap_crops(model, np.stack([lk.crops[i] for lk, i in todo]),
                                  to_identity, batch_size)
    for j, (lk, i) in enumerate(todo):
        lk.results[i] = (cache.put(lk.keys[i], swapped[j], learned[j], lk.crops[i]) if cache
                         else (swapped[j], learned[j], lk.crops[i]))
    for lk in lookups:
        lk.crops.clear()


# --- a whole shot -------------------------------------------------------------------------

def placements(records: Sequence, face_type: str, model: Swapper) -> list[FacePlacement]:
    """Alignment records as placements for the model's face type (matrices are refitted from
    the landmarks when the shot was extracted for another face type)."""
    out = []
    for r in records:
        landmarks = np.asarray(r.landmarks, np.float64)
        matrix = np.asarray(r.matrix, np.float64) if face_type == model.card.face_type \
            else alignment_matrix(landmarks, model.card.face_type)
        out.append(FacePlacement(matrix, landmarks, r.confidence, int(getattr(r, "track", 0))))
    return out


def convert_shot(plate: str | Plate, shot_dir: str, model: Swapper, to_identity: str,
                 out_pattern: str | OutputSettings, *, frames: str | list[int] | None = None,
                 settings: MergeSettings | None = None, colourspace: str | None = None,
                 cache_dir: str | None = None, progress_listener: Listener | None = None,
                 progress_stream=None, batch_frames: int = 4, batch_size: int = 8,
                 only_faces: bool = False, serial: bool = False) -> ConvertSummary:
    """Convert every frame of ``plate`` (or ``frames``) and write ``out_pattern``.

    Frames go through in groups of ``batch_frames``: read, then one batched model call for the
    group's faces (``batch_size`` crops at a time), then merge and write frame by frame; the
    stages overlap in threads (:mod:`.overlap`) unless ``serial``. ``only_faces`` writes only
    the frames that hold a kept face (their own frame numbers; the summary lists the ranges).
    With ``settings.temporal`` > 0 a first pass makes sure every face the smoothing needs —
    the frames asked for and their neighbours — is in the swap cache (a temporary one when
    ``cache_dir`` is None), then the frames are merged from it (:mod:`.temporal`).
    The view swapped is the alignments' (a stereo plate's other views pass through).
    """
    clock = time.perf_counter()
    settings = settings or MergeSettings()
    output = out_pattern if isinstance(out_pattern, OutputSettings) \
        else OutputSettings(out_pattern)
    plate = plate if isinstance(plate, Plate) else open_plate(plate, frames)
    if isinstance(frames, list):
        plate = Plate(plate.path, plate.pattern, tuple(frames), plate.files)
    if to_identity not in model.card.identities:
        raise FaceplateError(f"model {model.card.model_id} has no identity {to_identity!r}; "
                             f"use --to with one of {', '.join(model.card.identities)}")
    shot = alignments_io.load(shot_dir)
    colour = ColourSpaces(colourspace or shot.colourspace or default_space_for(plate.path))
    progress = Progress("convert", len(plate.frames), "frames", progress_listener,
                        progress_stream)
    with contextlib.ExitStack() as stack:
        if cache_dir is None and settings.temporal > 0:
            cache_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="faceplate-"))
        run = _ShotRun(plate, shot, model, to_identity, colour, settings,
                       _check_mattes(settings, plate.frames, shot_dir), FrameWriter(output),
                       SwapCache(cache_dir) if cache_dir else None,
                       ConvertSummary(output.pattern, colour.plate_space,
                                      only_faces=only_faces),
                       batch_size, max(1, batch_frames), serial,
                       Windows.of(shot, settings.temporal) if settings.temporal > 0 else None)
        if not plate.is_video and plate.frames:  # said once, before the work
            run.summary.not_kept = what_is_not_kept(plate.frame_path(plate.frames[0]), output,
                                                    shot.view)
            for note in run.summary.not_kept:
                log.warning("%s", note)
        run.summary.face_scale = shot_face_scale(model.card.resolution, shot, plate.frames)
        if "warning" in run.summary.face_scale:  # said once, before the work
            log.warning("%s", run.summary.face_scale["warning"])
        todo = []
        for frame in plate.frames:
            planned = run.plan(frame, only_faces)
            if isinstance(planned, FrameReport):
                run.report(planned, progress)
            else:
                todo.append(planned)
        if run.smoothing is not None and todo:
            run.summary.temporal_frames = run.smoothing.prepare(
                [(p.frame, f.track) for p in todo for f in p.faces],
                lambda frames: run.swap_for_smoothing(frames, progress))
        # closing: a cancelled job (the listener raises) stops the stage threads at once.
        with contextlib.closing(run.render(todo)) as reports:
            for report in reports:
                run.report(report, progress)
    run.summary.frames.sort(key=lambda r: r.frame)
    run.summary.wall = time.perf_counter() - clock
    return run.summary


@dataclass
class _Planned:
    """A frame to render: what the alignments say of it and its job digest."""

    frame: int
    found: bool  # the alignments have an entry for this frame
    faces: list[FacePlacement]
    source: str
    matte_path: str
    job: str
    render: bool = True  # False: only swapped, for its neighbours' smoothing


@dataclass
class _Pending:
    """A frame read from disk, waiting for its swaps."""

    plan: _Planned
    image: Image
    matte: np.ndarray | None
    lookup: _SwapLookup
    swaps: list[SwappedFace] = field(default_factory=list)


@dataclass
class _ShotRun:
    """What stays the same over a shot's frames."""

    plate: Plate
    shot: alignments_io.Alignments
    model: Swapper
    to_identity: str
    colour: ColourSpaces
    settings: MergeSettings
    matte_pattern: SequencePattern | str | None
    writer: FrameWriter
    cache: SwapCache | None
    summary: ConvertSummary
    batch_size: int
    batch_frames: int
    serial: bool
    windows: Windows | None  # temporal smoothing's neighbourhoods, when it is on
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _geometries: dict = field(default_factory=dict)  # frame → Geometry
    _placed: dict = field(default_factory=dict)  # frame → its placed faces
    _cuts: frozenset[int] = field(init=False, default=frozenset())  # the alignments' cuts
    renderer: FrameRenderer = field(init=False)  # one frame's merge, provenance and write
    smoothing: Smoothing | None = field(init=False, default=None)  # when windows are given

    def __post_init__(self) -> None:
        self._cuts = frozenset(int(c) for c in self.shot.cuts)
        self.renderer = FrameRenderer(self.model.card, self.to_identity, self.settings,
                                      self.colour, face_only=bool(self.writer.face_pattern))
        if self.windows is not None:
            assert self.cache is not None  # convert_shot gives temporal smoothing a cache
            self.smoothing = Smoothing(self.windows, self.settings, self.cache, self._faces,
                                       self._keys)

    def report(self, report: FrameReport, progress: Progress) -> None:
        self.summary.frames.append(report)
        if report.status == "failed":  # one line, as it happens (the farm log's)
            note_skipped(progress, report.frame, report.message, log)
        elif report.status == "passthrough":
            log.warning("frame %d %s: %s", report.frame, report.status, report.message)
        progress.advance(1, f"{report.frame} {report.status}")

    def _timed(self, stage: str, fn, *args, **kwargs):
        clock = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            with self._lock:
                self.summary.seconds[stage] += time.perf_counter() - clock

    def _geometry(self, frame: int) -> Geometry:
        """Where the frame's stored pixels sit, from its header (read once)."""
        if frame not in self._geometries:
            found = None if self.plate.is_video else read_geometry(self.plate.frame_path(frame),
                                                                   self.shot.view)
            self._geometries[frame] = found or Geometry.plain(*self.shot.frame_size(frame))
        return self._geometries[frame]

    def _faces(self, frame: int) -> list[FacePlacement]:
        """The frame's faces, placed on its stored pixels (alignments are in frame pixels),
        with their motion: the same track's matrices on the frames either side, where no cut
        lies between (on this frame's pixels too)."""
        if frame not in self._placed:
            geometry = self._geometry(frame)
            faces = self._records(frame)
            before = {f.track: f for f in self._records(frame - 1)} \
                if frame not in self._cuts else {}
            after = {f.track: f for f in self._records(frame + 1)} \
                if frame + 1 not in self._cuts else {}
            self._placed[frame] = [geometry.place(replace(f, motion=FaceMotion(
                _matrix(before.get(f.track), geometry), _matrix(after.get(f.track), geometry))))
                for f in faces]
        return self._placed[frame]

    def _records(self, frame: int) -> list[FacePlacement]:
        """The frame's faces in frame pixels (none when the alignments have no such frame)."""
        return placements(self.shot.frames.get(frame) or [], self.shot.face_type, self.model)

    # --- planning: what to do with each frame, decided before any pixel is read -----------

    def plan(self, frame: int, only_faces: bool) -> _Planned | FrameReport:
        records = self.shot.frames.get(frame)
        faces = self._faces(frame)
        if only_faces and not faces:
            return FrameReport(frame, "omitted", 0, "no face: not written (only faces)")
        source = self.plate.frame_path(frame)
        matte = matte_path(self.matte_pattern, frame)
        job = self.renderer.job(faces, source, matte, self._context(frame, faces))
        if self.writer.is_done(frame, job):
            self.writer.remove_stale_temporaries(frame)  # a kill's leftovers beside it
            return FrameReport(frame, "skipped", len(faces))
        return _Planned(frame, records is not None, faces, source, matte, job)

    def _context(self, frame: int, faces: Sequence[FacePlacement]) -> str:
        """What else decides a smoothed frame: its neighbours' faces and plate files."""
        if self.windows is None:
            return ""
        parts = []
        for face in faces:
            for g, w in self.windows.weights(frame, face.track):
                if g != frame:
                    other = self._track_face(g, face.track)
                    parts.append([g, round(w, 12), file_stamp(self.plate.frame_path(g)),
                                  None if other is None else np.asarray(other.matrix).tolist()])
        return json.dumps(parts)

    def _track_face(self, frame: int, track: int) -> FacePlacement | None:
        return next((f for f in self._faces(frame) if f.track == track), None)

    # --- the temporal pass: every face the smoothing needs, into the swap cache -----------

    def _keys(self, frame: int) -> list[SwapKey]:
        """The swap cache keys of the frame's faces (its plate file stamps them)."""
        return [k for k, _ in _swap_keys(self._faces(frame), self.model, self.to_identity,
                                         self.colour, frame, self._geometry(frame).stored_size,
                                         file_stamp(self.plate.frame_path(frame)))]

    def swap_for_smoothing(self, frames: list[int], progress: Progress) -> None:
        """Swap the faces of ``frames`` into the cache, reading only those frames' plates
        (:meth:`Smoothing.prepare` names the frames it lacks)."""
        plans = [_Planned(g, True, self._faces(g), self.plate.frame_path(g), "", "", False)
                 for g in frames]
        with contextlib.closing(ordered(
                plans, self._read_plate, self._swap_group, lambda p: p.plan.frame,
                ready=lambda x: isinstance(x, FrameReport), group=self.batch_frames,
                serial=self.serial)) as swapped:
            for done in swapped:  # the listener may cancel here too
                progress.advance(0, f"{done if isinstance(done, int) else done.frame} "
                                    "swapped for temporal smoothing")

    # --- rendering: read, swap, merge, write (overlapped) ---------------------------------

    def render(self, todo: Sequence[_Planned]):
        return ordered(todo, self._read, self._swap_group, self._merge_and_write,
                       ready=lambda x: isinstance(x, FrameReport), group=self.batch_frames,
                       serial=self.serial)

    def _rows(self, plan: _Planned) -> tuple[int, int] | None:
        """The plate rows the frame's work looks at, when no other need be decoded: the faces'
        crops for a frame only swapped; for a rendered one, what the merge reaches when the
        writer copies the plate's other rows (:mod:`faceplate.io.plate_rows`). None: all."""
        geometry = self._geometry(plan.frame)
        size, frame_size = self.model.card.resolution, geometry.stored_size
        if not plan.render:
            box = masks.Box(0, 0, 0, 0)
            for face in plan.faces:
                box = box.union(source_box(face.matrix, frame_size, size))
            return box.y0, box.y1
        rows = self.writer.plate_rows(plan.source, geometry.part)
        if rows is None:
            return None
        box, dy = merge_reach(plan.faces, size, self.settings, frame_size), geometry.data[1]
        y0, y1 = rows.band(box.y0 + dy, box.y1 + dy)  # whole chunks: every row the writer writes
        return y0 - dy, y1 - dy

    def _read_plate(self, plan: _Planned) -> _Pending | FrameReport:
        frame = plan.frame
        try:
            image = self._timed("read", read_plate_frame, self.plate, frame, keep_half=True,
                                rows=self._rows(plan), view=self.shot.view)
        except FaceplateError as exc:  # "cannot read PLATE (why)": this frame only
            return FrameReport(frame, "failed", len(plan.faces), str(exc))
        size, expected = image.frame.frame_size, self.shot.frame_size(frame)
        if size != expected or image.frame != self._geometry(frame):
            # a stray frame of another plate, or one replaced since planning: this frame only
            return FrameReport(frame, "failed", len(plan.faces),
                               f"{image.source} is {size[0]}×{size[1]} but the alignments are "
                               f"for {expected[0]}×{expected[1]}: re-run faceplate "
                               "extract on this plate")
        lookup = self._timed("swap", _lookup, plate_rgb(image), plan.faces, self.model,
                             self.to_identity, self.colour, frame, self.cache,
                             file_stamp(plan.source)) if plan.faces \
            else _SwapLookup([], [], [], {})
        return _Pending(plan, image, None, lookup)

    def _read(self, plan: _Planned) -> _Pending | FrameReport:
        self.writer.remove_stale_temporaries(plan.frame)
        pending = self._read_plate(plan)
        if isinstance(pending, _Pending) and self.matte_pattern is not None:
            try:
                pending.matte = self._timed("read", read_frame_matte, self.settings,
                                            plan.matte_path, pending.image.frame)
            except FaceplateError as exc:  # a damaged matte frame or one of another size
                return FrameReport(plan.frame, "failed", len(plan.faces), str(exc))
        return pending

    def _swap_group(self, pending: list[_Pending]) -> None:
        self._timed("swap", _swap_missing, [p.lookup for p in pending], self.model,
                    self.to_identity, self.cache, self.batch_size)
        for p in pending:
            if p.plan.render:
                p.swaps = self.smoothing.swaps(p.plan.frame, p.plan.faces, p.lookup.swapped()) \
                    if self.smoothing is not None else p.lookup.swapped()

    def _merge_and_write(self, p: _Pending) -> FrameReport:
        plan = p.plan
        pixel_type = plate_pixel_type(plan.source)
        done = self.renderer.render(
            p.image, p.swaps, frame=plan.frame, job=plan.job, source=plan.source,
            matte=p.matte, no_face=NO_FACE_DETECTED if plan.found else NO_FACE_IN_ALIGNMENTS,
            write=lambda merged, metadata: self.writer.write(plan.frame, merged, metadata,
                                                             pixel_type, plan.source),
            timed=self._timed)
        return FrameReport(plan.frame, done.status, len(plan.faces), done.message)


def _matrix(face: FacePlacement | None, geometry: Geometry) -> np.ndarray | None:
    """A neighbour's matrix (frame pixels) on this frame's stored pixels."""
    return None if face is None else geometry.to_array(face.matrix)


def _check_mattes(settings: MergeSettings, frames: Sequence[int], shot_dir: str
                  ) -> SequencePattern | str | None:
    """The matte sequence of the ``image`` mask sources (the artist's) or of the ``occlusion``
    source (the occluders), checked before any work starts."""
    text = matte_sequence(settings, shot_dir)  # the rule: faceplate.convert.render
    if not text:
        return None
    advice = f"run faceplate occlusion predict {shot_dir} for them or limit --frames" \
        if settings.mask == "occlusion" else "render them or limit --frames"
    pattern: SequencePattern | str = SequencePattern.parse(text) or text
    missing = [f for f in frames if not os.path.isfile(matte_path(pattern, f))]
    if missing:
        raise FaceplateError(f"matte {text} is missing frames {format_frame_range(missing)}: "
                             f"{advice}")
    return pattern
