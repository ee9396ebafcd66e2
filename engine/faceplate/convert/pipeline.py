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
from ..extract.align import alignment_matrix, warp_to_crop
from ..io.colour import ColourSpaces, default_space_for
from ..io.images import Image, read_plate_frame
from ..io.sequence import Plate, SequencePattern, format_frame_range, open_plate
from ..progress import Listener, Progress
from . import masks
from .cache import SwapCache, SwapKey
from .merge import MergeLayers, SwappedFace, merge_faces
from .provenance import job_digest, provenance_for
from .settings import MergeSettings
from .swap import Swapper, swap_crops
from .writer import OUTPUT_CHANNELS, FrameWriter, OutputSettings, plate_pixel_type

log = logging.getLogger(__name__)
STAGES = ("read", "swap", "merge", "write")


@dataclass
class FacePlacement:
    """Where a face sits in a frame: what convert needs of an alignments record."""

    matrix: np.ndarray  # 2×3 plate pixels → unit crop of the model's face type
    landmarks: np.ndarray  # 68×2 plate pixels


@dataclass
class MergedFrame:
    """A merged frame as the one buffer it is written from: ``OUTPUT_CHANNELS`` in order."""

    pixels: np.ndarray  # H×W×7: premultiplied R, G, B, A, then the facemask layer
    layers: MergeLayers  # views of the facemask channels, the box and the face-only image
    matrices: list[np.ndarray]  # the faces that were swapped in

    channels = OUTPUT_CHANNELS

    @property
    def rgb(self) -> np.ndarray:
        return self.pixels[..., :3]

    @property
    def alpha(self) -> np.ndarray:
        return self.pixels[..., 3]

    def face_rgba(self) -> np.ndarray | None:
        if self.layers.face_rgb is None:
            return None
        return np.concatenate([self.layers.face_rgb, self.layers.face[..., None]], axis=-1)


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
    frames: list[FrameReport] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    def count(self, status: str) -> int:
        return sum(1 for f in self.frames if f.status == status)

    def to_dict(self) -> dict:
        worked = max(1, self.count("swapped") + self.count("passthrough"))
        return {"out": self.out_pattern,
                **{s: self.count(s) for s in ("swapped", "skipped", "passthrough", "failed")},
                "ms_per_frame": {k: round(1000 * v / worked, 1) for k, v in self.seconds.items()},
                "frames": [f.to_dict() for f in self.frames if f.status != "skipped"]}


# --- the swap stage -----------------------------------------------------------------------

def swap_frame(rgb: np.ndarray, faces: Sequence[FacePlacement], model: Swapper,
               to_identity: str, colour: ColourSpaces, *, frame: int = 0,
               cache: SwapCache | None = None, batch_size: int = 8) -> list[SwappedFace]:
    """Swapped faces for one frame (``rgb`` in the plate's colourspace), from the cache where
    it has them; new swaps are added to the cache. Only faces the cache misses are cropped."""
    size = model.card.resolution
    h, w = rgb.shape[:2]
    results: list[tuple[np.ndarray, np.ndarray] | None] = []
    keys, crops = [], {}
    for index, face in enumerate(faces):
        box = masks.face_box(face.matrix, (w, h), size)
        if box.empty:  # off-frame: the crop is all reflection, swap it anyway (cheap)
            box = masks.Box(0, 0, w, h)
        region = rgb[box.slices]
        key = SwapKey.of(model, to_identity, frame, index, face.matrix,
                         f"{colour.plate_space}:{box}", region)
        hit = cache.get(key) if cache else None
        if hit is None:
            crops[index] = warp_to_crop(colour.to_network(region),
                                        masks.box_matrix(face.matrix, box), size)
        keys.append(key)
        results.append(hit)
    if crops:
        order = sorted(crops)
        swapped, learned = swap_crops(model, np.stack([crops[i] for i in order]), to_identity,
                                      batch_size)
        for j, i in enumerate(order):
            results[i] = (swapped[j], learned[j])
            if cache:
                cache.put(keys[i], swapped[j], learned[j])
    return [SwappedFace(r[0], r[1], f.matrix, f.landmarks)
            for r, f in zip(results, faces) if r is not None]


# --- the merge stage ----------------------------------------------------------------------

def merge_frame(plate: Image, swaps: list[SwappedFace], colour: ColourSpaces,
                settings: MergeSettings, *, matte: np.ndarray | None = None,
                face_only: bool = False) -> MergedFrame:
    """Merge swapped faces into a plate frame; the plate's pixels are not modified."""
    h, w = plate.height, plate.width
    pixels = np.zeros((h, w, len(OUTPUT_CHANNELS)), np.float32)  # the facemask starts at 0
    if plate.channels[:3] == ["R", "G", "B"]:  # OIIO's order: one strided copy
        pixels[..., :3] = plate.pixels[..., :3]
    else:
        pixels[..., :3] = plate.rgb()
    alpha = plate.alpha()
    pixels[..., 3] = 1.0 if alpha is None else alpha
    layers = merge_faces(pixels[..., :3], pixels[..., 3], swaps, colour, settings, matte,
                         face_only, layers=pixels[..., 4:])
    return MergedFrame(pixels, layers, [s.matrix for s in swaps])


def convert_frame(plate: Image, faces: Sequence[FacePlacement], model: Swapper,
                  to_identity: str, colour: ColourSpaces, settings: MergeSettings, *,
                  frame: int = 0, cache: SwapCache | None = None,
                  matte: np.ndarray | None = None, face_only: bool = False) -> MergedFrame:
    """Swap and merge one frame held in memory (what the engine serves per frame)."""
    swaps = swap_frame(plate.rgb(), faces, model, to_identity, colour, frame=frame, cache=cache)
    return merge_frame(plate, swaps, colour, settings, matte=matte, face_only=face_only)


# --- a whole shot -------------------------------------------------------------------------

def placements(records: Sequence, face_type: str, model: Swapper) -> list[FacePlacement]:
    """Alignment records as placements for the model's face type (matrices are refitted from
    the landmarks when the shot was extracted for another face type)."""
    out = []
    for r in records:
        landmarks = np.asarray(r.landmarks, np.float64)
        matrix = np.asarray(r.matrix, np.float64) if face_type == model.card.face_type \
            else alignment_matrix(landmarks, model.card.face_type)
        out.append(FacePlacement(matrix, landmarks))
    return out


def convert_shot(plate: str | Plate, shot_dir: str, model: Swapper, to_identity: str,
                 out_pattern: str | OutputSettings, *, frames: str | list[int] | None = None,
                 settings: MergeSettings | None = None, colourspace: str | None = None,
                 cache_dir: str | None = None, progress_listener: Listener | None = None,
                 progress_stream=None) -> ConvertSummary:
    """Convert every frame of ``plate`` (or ``frames``) and write ``out_pattern``."""
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
    space = colourspace or shot.colourspace or default_space_for(plate.path)
    colour = ColourSpaces(space)
    matte_pattern = _check_mattes(settings, plate.frames)
    writer = FrameWriter(output)
    cache = SwapCache(cache_dir) if cache_dir else None
    summary = ConvertSummary(output.pattern)
    progress = Progress("convert", len(plate.frames), "frames", progress_listener,
                        progress_stream)
    for frame in plate.frames:
        report = _convert_one(frame, plate, shot, model, to_identity, colour, settings,
                              matte_pattern, writer, cache, summary)
        summary.frames.append(report)
        progress.advance(1, f"{frame} {report.status}")
        if report.status in ("passthrough", "failed"):
            log.warning("frame %d %s: %s", frame, report.status, report.message)
    return summary


def _convert_one(frame: int, plate: Plate, shot, model: Swapper, to_identity: str,
                 colour: ColourSpaces, settings: MergeSettings,
                 matte_pattern: SequencePattern | str | None, writer: FrameWriter,
                 cache: SwapCache | None, summary: ConvertSummary) -> FrameReport:
    records = shot.frames.get(frame)
    faces = placements(records or [], shot.face_type, model)
    source = plate.frame_path(frame)
    job = job_digest(model, to_identity, settings, colour.plate_space,
                     [{"m": f.matrix.tolist(), "l": f.landmarks.tolist()} for f in faces],
                     _file_stamp(source) + _file_stamp(_matte_path(matte_pattern, frame)))
    if writer.is_done(frame, job):
        return FrameReport(frame, "skipped", len(faces))
    writer.remove_stale_temporaries(frame)
    clock = time.perf_counter()
    try:
        image = read_plate_frame(plate, frame)
    except FaceplateError as exc:
        return FrameReport(frame, "failed", len(faces), f"plate unreadable ({exc}); not written")
    if (image.width, image.height) != tuple(shot.size):
        raise FaceplateError(f"plate frame {frame} is {image.width}×{image.height} but the "
                             f"alignments are for {shot.size[0]}×{shot.size[1]}: re-run "
                             "faceplate extract on this plate")
    matte = None
    if matte_pattern is not None:
        matte = masks.read_matte(_matte_path(matte_pattern, frame), settings.mask_channel,
                                 (image.width, image.height))
    summary.seconds["read"] += time.perf_counter() - clock

    clock = time.perf_counter()
    swaps = swap_frame(image.rgb(), faces, model, to_identity, colour, frame=frame, cache=cache) \
        if faces else []
    summary.seconds["swap"] += time.perf_counter() - clock

    clock = time.perf_counter()
    merged = merge_frame(image, swaps, colour, settings, matte=matte,
                         face_only=bool(writer.face_pattern))
    summary.seconds["merge"] += time.perf_counter() - clock

    if not faces:
        reason = "no face in the alignments" if records is None else "no face detected"
        status, message = "passthrough", f"{reason}: plate written unchanged"
    else:
        status, message = "swapped", ""
    provenance = provenance_for(model, to_identity, settings, job, source, frame,
                                merged.matrices, status if not message
                                else f"passthrough: {message}")
    clock = time.perf_counter()
    b = merged.layers.box
    writer.write(frame, merged.pixels, provenance.to_metadata(), plate_pixel_type(source),
                 merged.face_rgba(), None if b.empty else (b.x0, b.y0, b.width, b.height))
    summary.seconds["write"] += time.perf_counter() - clock
    return FrameReport(frame, status, len(faces), message)


def _check_mattes(settings: MergeSettings, frames: Sequence[int]
                  ) -> SequencePattern | str | None:
    """The matte sequence for the ``image`` mask sources, checked before any work starts."""
    if not settings.mask.startswith("image"):
        return None
    pattern: SequencePattern | str = SequencePattern.parse(settings.mask_image) \
        or settings.mask_image
    missing = [f for f in frames if not os.path.isfile(_matte_path(pattern, f))]
    if missing:
        raise FaceplateError(f"matte {settings.mask_image} is missing frames "
                             f"{format_frame_range(missing)}: render them or limit --frames")
    return pattern


def _matte_path(pattern: SequencePattern | str | None, frame: int) -> str:
    if pattern is None:
        return ""
    return pattern if isinstance(pattern, str) else pattern.path(frame)


def _file_stamp(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return path
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"
