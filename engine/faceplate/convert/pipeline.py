"""Convert a shot: plate frames + alignments + model → merged frames on disk.

Per frame, top to bottom: read the plate; cut each face's aligned crop (in network space, from
the face's box only); swap the crops through the target identity's decoder, or take them from
the swap cache; merge them back (:mod:`.merge`); write the frame with its ``facemask`` layer and
provenance (:mod:`.writer`). The swap and merge stages are separate functions so the engine can
serve FaceSwap and FaceMerge nodes, and a re-merge with new settings never re-runs the model.
Frames whose valid output from the same job is on disk are skipped, so a killed shot resumes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import FaceplateError
from ..extract import alignments as alignments_io
from ..face.align import alignment_matrix, warp_to_crop
from ..io.colour import ColourSpaces, default_space_for
from ..io.images import Image, read_matte, read_plate_frame
from ..io.sequence import Plate, SequencePattern, format_frame_range, open_plate
from ..progress import Listener, Progress
from . import masks
from .cache import SwapCache, SwapKey
from .merge import SwappedFace, merge_faces
from .provenance import job_digest, provenance_for
from .settings import MergeSettings
from .swap import Swapper, swap_crops
from .writer import OUTPUT_CHANNELS, FrameWriter, MergedFrame, OutputSettings, plate_pixel_type

log = logging.getLogger(__name__)
STAGES = ("read", "swap", "merge", "write")


@dataclass
class FacePlacement:
    """Where a face sits in a frame: what convert needs of an alignments record."""

    matrix: np.ndarray  # 2×3 plate pixels → unit crop of the model's face type
    landmarks: np.ndarray  # 68×2 plate pixels
    detection: float | None = None  # extraction's is-it-a-face confidence (None: unknown)


@dataclass
class FrameReport:
    frame: int
    status: str  # "swapped", "skipped" (valid output already there), "passthrough", "failed"
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
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    def count(self, status: str) -> int:
        return sum(1 for f in self.frames if f.status == status)

    def to_dict(self) -> dict:
        worked = max(1, self.count("swapped") + self.count("passthrough"))
        return {"out": self.out_pattern, "colourspace": self.colourspace,
                **{s: self.count(s) for s in ("swapped", "skipped", "passthrough", "failed")},
                "ms_per_frame": {k: round(1000 * v / worked, 1) for k, v in self.seconds.items()},
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
    results: list[tuple[np.ndarray, np.ndarray] | None]
    crops: dict[int, np.ndarray]  # face index → crop, for cache misses

    def swapped(self) -> list[SwappedFace]:
        return [SwappedFace(r[0], r[1], f.matrix, f.landmarks, f.detection)
                for r, f in zip(self.results, self.faces) if r is not None]


def _lookup(rgb: np.ndarray, faces: Sequence[FacePlacement], model: Swapper,
            to_identity: str, colour: ColourSpaces, frame: int,
            cache: SwapCache | None, source: str = "") -> _SwapLookup:
    size = model.card.resolution
    h, w = rgb.shape[:2]
    lookup = _SwapLookup(faces, [], [], {})
    for index, face in enumerate(faces):
        box = masks.face_box(face.matrix, (w, h), size)
        if box.empty:  # off-frame: the crop is all reflection, swap it anyway (cheap)
            box = masks.Box(0, 0, w, h)
        region = rgb[box.slices]
        key = SwapKey.of(model, to_identity, frame, index, face.matrix,
                         f"{colour.plate_space}:{box}:{source}", None if source else region)
        hit = cache.get(key) if cache else None
        if hit is None:
            lookup.crops[index] = warp_to_crop(colour.to_network(region),
                                               masks.box_matrix(face.matrix, box), size)
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
        lk.results[i] = (cache.put(lk.keys[i], swapped[j], learned[j]) if cache
                         else (swapped[j], learned[j]))
    for lk in lookups:
        lk.crops.clear()


# --- the merge stage ----------------------------------------------------------------------

def merge_frame(plate: Image, swaps: list[SwappedFace], colour: ColourSpaces,
                settings: MergeSettings, *, matte: np.ndarray | None = None,
                face_only: bool = False) -> MergedFrame:
    """Merge swapped faces into a plate frame; the plate's pixels are not modified."""
    h, w = plate.height, plate.width
    pixels = np.zeros((h, w, len(OUTPUT_CHANNELS)), np.float32)  # the facemask starts at 0
    pixels[..., :3] = plate_rgb(plate)
    alpha = plate.alpha()
    pixels[..., 3] = 1.0 if alpha is None else alpha
    layers = merge_faces(pixels[..., :3], pixels[..., 3], swaps, colour, settings, matte,
                         face_only, layers=pixels[..., 4:])
    return MergedFrame(pixels, layers, [s.matrix for s in swaps])


# --- a whole shot -------------------------------------------------------------------------

def placements(records: Sequence, face_type: str, model: Swapper) -> list[FacePlacement]:
    """Alignment records as placements for the model's face type (matrices are refitted from
    the landmarks when the shot was extracted for another face type)."""
    out = []
    for r in records:
        landmarks = np.asarray(r.landmarks, np.float64)
        matrix = np.asarray(r.matrix, np.float64) if face_type == model.card.face_type \
            else alignment_matrix(landmarks, model.card.face_type)
        out.append(FacePlacement(matrix, landmarks, r.confidence))
    return out


def convert_shot(plate: str | Plate, shot_dir: str, model: Swapper, to_identity: str,
                 out_pattern: str | OutputSettings, *, frames: str | list[int] | None = None,
                 settings: MergeSettings | None = None, colourspace: str | None = None,
                 cache_dir: str | None = None, progress_listener: Listener | None = None,
                 progress_stream=None, batch_frames: int = 4,
                 batch_size: int = 8) -> ConvertSummary:
    """Convert every frame of ``plate`` (or ``frames``) and write ``out_pattern``.

    Frames go through in groups of ``batch_frames``: read, then one batched model call for the
    group's faces (``batch_size`` crops at a time), then merge and write frame by frame.
    """
    settings = settings or MergeSettings()
    output = out_pattern if isinstance(out_pattern, OutputSettings) \
        else OutputSettings(out_pattern)
    plate = plate if isinstance(plate, Plate) else open_plate(plate, frames)
    if isinstance(frames, list):
        plate = Plate(plate.path, plate.pattern, tuple(frames))
    if to_identity not in model.card.identities:
        raise FaceplateError(f"model {model.card.model_id} has no identity {to_identity!r}; "
                             f"use --to with one of {', '.join(model.card.identities)}")
    shot = alignments_io.load(shot_dir)
    colour = ColourSpaces(colourspace or shot.colourspace or default_space_for(plate.path))
    run = _ShotRun(plate, shot, model, to_identity, colour, settings,
                   _check_mattes(settings, plate.frames, shot_dir), FrameWriter(output),
                   SwapCache(cache_dir) if cache_dir else None,
                   ConvertSummary(output.pattern, colour.plate_space),
                   batch_size)
    progress = Progress("convert", len(plate.frames), "frames", progress_listener,
                        progress_stream)
    group = max(1, batch_frames)
    for start in range(0, len(plate.frames), group):
        for report in run.group(plate.frames[start:start + group]):
            run.summary.frames.append(report)
            progress.advance(1, f"{report.frame} {report.status}")
            if report.status in ("passthrough", "failed"):
                log.warning("frame %d %s: %s", report.frame, report.status, report.message)
    run.summary.frames.sort(key=lambda r: r.frame)
    return run.summary


@dataclass
class _Pending:
    """A frame read from disk, waiting for its swaps."""

    frame: int
    found: bool  # the alignments have an entry for this frame
    faces: list[FacePlacement]
    source: str
    job: str
    image: Image
    matte: np.ndarray | None
    lookup: _SwapLookup


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

    def group(self, frames: Sequence[int]):
        """Yield a report per frame: skipped and failed ones at once, the rest once written."""
        pending = []
        for frame in frames:
            item = self._read(frame)
            if isinstance(item, FrameReport):
                yield item
            else:
                pending.append(item)
        self._timed("swap", _swap_missing, [p.lookup for p in pending], self.model,
                    self.to_identity, self.cache, self.batch_size)
        for p in pending:
            yield self._merge_and_write(p)

    def _timed(self, stage: str, fn, *args, **kwargs):
        clock = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.summary.seconds[stage] += time.perf_counter() - clock

    def _read(self, frame: int) -> _Pending | FrameReport:
        records = self.shot.frames.get(frame)
        faces = placements(records or [], self.shot.face_type, self.model)
        source = self.plate.frame_path(frame)
        matte_path = _matte_path(self.matte_pattern, frame)
        job = frame_job(self.model.card, self.to_identity, self.settings,
                        self.colour.plate_space, faces, source, matte_path)
        if self.writer.is_done(frame, job):
            return FrameReport(frame, "skipped", len(faces))
        self.writer.remove_stale_temporaries(frame)
        try:
            image = self._timed("read", read_plate_frame, self.plate, frame)
        except FaceplateError as exc:
            return FrameReport(frame, "failed", len(faces),
                               f"plate unreadable ({exc}); not written")
        size = (image.width, image.height)
        if size != tuple(self.shot.size):
            raise FaceplateError(f"plate frame {frame} is {size[0]}×{size[1]} but the "
                                 f"alignments are for {self.shot.size[0]}×{self.shot.size[1]}: "
                                 "re-run faceplate extract on this plate")
        channel = "A" if self.settings.mask == "occlusion" else self.settings.mask_channel
        matte = None if self.matte_pattern is None else self._timed(
            "read", read_matte, matte_path, channel, size)
        lookup = self._timed("swap", _lookup, plate_rgb(image), faces, self.model,
                             self.to_identity, self.colour, frame, self.cache,
                             file_stamp(source)) if faces \
            else _SwapLookup([], [], [], {})
        return _Pending(frame, records is not None, faces, source, job, image, matte, lookup)

    def _merge_and_write(self, p: _Pending) -> FrameReport:
        merged = self._timed("merge", merge_frame, p.image, p.lookup.swapped(), self.colour,
                             self.settings, matte=p.matte,
                             face_only=bool(self.writer.face_pattern))
        if p.faces:
            status, message = "swapped", ""
        else:
            reason = "no face detected" if p.found else "no face in the alignments"
            status, message = "passthrough", f"{reason}: plate written unchanged"
        provenance = provenance_for(self.model.card, self.to_identity, self.settings, p.job,
                                    p.source, p.frame, merged.matrices,
                                    f"passthrough: {message}" if message else status)
        self._timed("write", self.writer.write, p.frame, merged, provenance.to_metadata(),
                    plate_pixel_type(p.source))
        return FrameReport(p.frame, status, len(p.faces), message)


def _check_mattes(settings: MergeSettings, frames: Sequence[int], shot_dir: str
                  ) -> SequencePattern | str | None:
    """The matte sequence of the ``image`` mask sources (the artist's) or of the ``occlusion``
    source (the occluders), checked before any work starts."""
    if settings.mask == "occlusion":
        text = settings.occlusion_matte or _latest_occlusion(shot_dir)
        advice = f"run faceplate occlusion predict {shot_dir} for them or limit --frames"
    elif settings.mask.startswith("image"):
        text, advice = settings.mask_image, "render them or limit --frames"
    else:
        return None
    pattern: SequencePattern | str = SequencePattern.parse(text) or text
    missing = [f for f in frames if not os.path.isfile(_matte_path(pattern, f))]
    if missing:
        raise FaceplateError(f"matte {text} is missing frames {format_frame_range(missing)}: "
                             f"{advice}")
    return pattern


def _latest_occlusion(shot_dir: str) -> str:
    from ..occlusion import store

    return store.matte_pattern(store.latest(shot_dir))


def _matte_path(pattern: SequencePattern | str | None, frame: int) -> str:
    if pattern is None:
        return ""
    return pattern if isinstance(pattern, str) else pattern.path(frame)


def frame_job(card, to_identity: str, settings: MergeSettings, colourspace: str,
              faces: Sequence[FacePlacement | SwappedFace], source: str,
              matte_path: str = "") -> str:
    """The job digest of one merged frame (written into it; convert skips a frame whose
    digest on disk matches): model, identity, settings, colourspace, every face's matrix,
    landmarks and detection confidence, and the plate's and matte's file stamps. The merge op and convert both use it."""
    return job_digest(card, to_identity, settings, colourspace,
                      [{"m": np.asarray(f.matrix).tolist(), "l": np.asarray(f.landmarks).tolist(),
                        "c": f.detection} for f in faces],
                      file_stamp(source) + file_stamp(matte_path))


def file_stamp(path: str) -> str:
    """``path:size:mtime``: changes whenever the file is replaced (the path itself if missing)."""
    try:
        st = os.stat(path)
    except OSError:
        return path
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"
