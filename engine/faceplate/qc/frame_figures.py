"""Per-frame QC figures of a converted shot, measured on the delivered files.

Each kept face of each merged frame is cut from the plate and from the merged frame at its
alignment (:data:`CROP` px, display-referred network space) and measured:

confidence   the merged frame's ``faceplate/confidence`` metadata for that face, with its parts;
flicker      the change of the merged face to the next frame over the plate's own change, both
             low-passed and taken in their aligned crops (motion removed), with a floor so a
             still plate does not turn a hair of change into a large ratio; never across a cut;
identity     dlib's face descriptor of the swap against the mean of the target face set's
             (:class:`faceplate.train.evaluate.Recogniser`, never used in training);
consistency  the same descriptor against the median of that track's swaps over the shot: a
             frame with someone else's face stands out however well the model reads as the
             target (a poorly trained swap is far from the target on every frame alike);
expression   NME of the swap's landmarks against the plate's, both found by dlib's 68-point
             predictor in the same box, so its bias cancels: a frozen or misplaced face reads
             high;
face_scale   model pixels per plate pixel (:func:`faceplate.convert.face_size.face_scale`);
coverage     the coverage check's distance from this face to its nearest target training face;
focus        edge spread of the merged face over the plate's, either way (≥ 1);
grain        the merged face's grain over the plate's, both measured inside the face's matte at
             plate resolution (:func:`faceplate.convert.grain.measure`) and compared at the
             plate's own brightness there, either way (≥ 1): a clean swap on a grainy plate
             reads high.

A frame's figure is its worst face's. Only the previous frame's crops are kept (for flicker): a
worst frame's thumbnail is cut again from its files, so a long shot's report holds one frame.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
from faceplate_client.layout import (
    CONFIDENCE_KEY,
    CONFIDENCE_PARTS,
    FACEMASK_CHANNELS,
    PLATE_MATCH_KEY,
)

from ..convert.face_size import face_scale
from ..convert.flicker import flicker
from ..convert.grain import amplitude_map, measure
from ..convert.match_figures import focus_ratio
from ..convert.writer import read_provenance
from ..errors import FaceplateError
from ..extract.alignments import FaceRecord
from ..face.align import crop_box, crop_matrix, transform_points, warp_to_crop
from ..io.colour import ColourSpaces
from ..io.images import Image, read_image, read_plate_frame
from ..io.sequence import open_plate
from ..train.data import face_mask
from ..train.evaluate import Recogniser, landmark_nme
from .shot_inputs import ShotInputs
from .thresholds import CHECKS

log = logging.getLogger(__name__)

CROP = 256  # aligned crop side the figures are measured at
FLICKER_SIDE = 64  # … and the flicker, after a low-pass: the pulsing, not the texture
FLICKER_FLOOR = 0.004  # mean |Δ| (network space) a plate's face changes by at least
TARGET_FACES = 64  # target face-set crops the identity reference is the mean of
FIGURES = tuple(c.name for c in CHECKS)


@dataclass
class FaceCrops:
    plate: np.ndarray  # CROP×CROP×3 network-space 0–1
    merged: np.ndarray
    matte: np.ndarray  # CROP×CROP facemask.face
    mask: np.ndarray  # CROP×CROP bool: the face (landmark hull with forehead)
    landmarks: np.ndarray  # 68×2 crop px, the plate's (alignments)


@dataclass
class FrameFigures:
    frame: int
    status: str  # "swapped", "no face", "missing", "unreadable: why", or a passthrough reason
    faces: int = 0
    values: dict[str, float | None] = field(default_factory=dict)  # figure → worst face's
    parts: dict[str, float] = field(default_factory=dict)  # confidence parts of the weakest
    plate_match: list = field(default_factory=list)  # the frame's faceplate/plate_match

    def to_dict(self) -> dict:
        return {"frame": self.frame, "status": self.status, "faces": self.faces,
                **{k: None if v is None else round(v, 4) for k, v in self.values.items()},
                "confidence_parts": {k: round(v, 4) for k, v in self.parts.items()},
                "plate_match": self.plate_match}


def _worst(name: str, values: list[float | None]) -> float | None:
    found = [v for v in values if v is not None and np.isfinite(v)]
    if not found:
        return None
    below = next(c for c in CHECKS if c.name == name).worse == "below"
    return min(found) if below else max(found)


class FramePair:
    """One frame's plate and merged picture, read once: each in its own values (grain is
    measured there) and in display-referred network space, where the crops are cut. A plate's
    NaN or Inf pixels (renders, grades) read as black in network space, as in the crops the
    model sees: never a NaN figure."""

    def __init__(self, plate: Image, merged: Image, colour: ColourSpaces):
        self.plate, self.merged = plate, merged
        self.plate_values, self.merged_values = plate.rgb(), merged.rgb()
        self.plate_rgb, self.merged_rgb = (
            np.nan_to_num(colour.to_network(values), nan=0.0, posinf=1.0, neginf=0.0)
            for values in (self.plate_values, self.merged_values))
        name = FACEMASK_CHANNELS[0]
        self.matte = merged.channel(name) if name in merged.channels \
            else np.zeros(self.merged_rgb.shape[:2], np.float32)

    def crops(self, record: FaceRecord) -> FaceCrops:
        """One face cut from both at its alignment (``record``: an alignments face)."""
        m = record.matrix
        points = transform_points(record.landmarks, crop_matrix(m, CROP))
        on_plate, on_merged = (self.plate.frame.to_array(matrix=m),
                               self.merged.frame.to_array(matrix=m))
        return FaceCrops(np.clip(warp_to_crop(self.plate_rgb, on_plate, CROP), 0, 1),
                         np.clip(warp_to_crop(self.merged_rgb, on_merged, CROP), 0, 1),
                         warp_to_crop(self.matte, on_merged, CROP),
                         face_mask(points, CROP) > 0, points)

    def grain_match(self, matrix: np.ndarray) -> float | None:
        """Grain inside the face's matte, merged over plate (≥ 1 either way); None when the
        two are not on one pixel grid, or either has too few flat pixels to measure."""
        plate = self.plate
        if plate.frame != self.merged.frame or \
                self.plate_values.shape != self.merged_values.shape:
            return None
        box = crop_box(plate.frame.to_array(matrix=matrix), (plate.width, plate.height), CROP)
        if box is None:
            return None
        x0, y0, x1, y1 = box
        where = self.matte[y0:y1, x0:x1] > 0.9
        region = self.plate_values[y0:y1, x0:x1]
        plate_grain, merged_grain = (measure(image, where) for image in
                                     (region, self.merged_values[y0:y1, x0:x1]))
        if plate_grain is None or merged_grain is None or not where.any():
            return None
        plate_amp, merged_amp = (float(amplitude_map(g, region)[where].mean())
                                 for g in (plate_grain, merged_grain))
        if plate_amp <= 0 or merged_amp <= 0:
            return None
        ratio = merged_amp / plate_amp
        return max(ratio, 1.0 / ratio)


class ShotFigures:
    """Measures frame after frame (in order: flicker needs the previous frame's crops)."""

    def __init__(self, inputs: ShotInputs, coverage: dict[tuple[int, int], float]):
        self.inputs = inputs
        self.coverage = coverage
        self.colour = ColourSpaces(inputs.colourspace)
        self.plate = open_plate(inputs.plate)
        self.merged = open_plate(inputs.merged)
        self.resolution = inputs.card.resolution if inputs.card else 0
        import dlib

        from ..extract.backends.dlib_backend import PREDICTOR_FILE, model_path

        self.predictor = dlib.shape_predictor(model_path(PREDICTOR_FILE))
        self.rect = dlib.rectangle
        self.recogniser = Recogniser()
        self.reference = self._target_reference()
        self.previous: dict[int, tuple[int, FaceCrops]] = {}  # track → (frame, crops)
        self.descriptors: dict[tuple[int, int], np.ndarray] = {}  # (frame, track) → swap's

    def _target_reference(self) -> np.ndarray | None:
        if not self.inputs.faceset:
            return None
        from ..train.data import load_faceset

        fs = load_faceset(self.inputs.faceset, self.inputs.identity, CROP)
        pick = np.unique(np.linspace(0, len(fs) - 1, min(TARGET_FACES, len(fs))).astype(int))
        return self.recogniser.describe(fs.rgb()[pick], fs.landmarks[pick]).mean(0)

    def measure(self, frame: int) -> FrameFigures:
        records = self.inputs.alignments.faces(frame)
        if frame not in self.merged.frames:
            return FrameFigures(frame, "missing")
        meta = read_provenance(self.merged.frame_path(frame))
        status = meta.get("faceplate/status", "swapped")
        if not records:
            self.previous.clear()
            return FrameFigures(frame, "no face")
        cut = frame in self.inputs.alignments.cuts
        try:
            pair = self.read(frame)
        except FaceplateError as exc:  # a damaged file is this frame's finding, not the end
            self.previous.clear()
            return FrameFigures(frame, f"unreadable: {exc}", len(records))
        confidences = _face_confidences(meta)
        per_face: dict[str, list[float | None]] = {name: [] for name in FIGURES}
        crops_here = []
        for i, record in enumerate(records):
            m = record.matrix
            crops = pair.crops(record)
            crops_here.append(crops)
            conf = confidences[i] if i < len(confidences) else \
                (confidences[0] if confidences else None)
            per_face["confidence"].append(None if conf is None else conf["confidence"])
            per_face["face_scale"].append(face_scale(self.resolution, m)
                                          if self.resolution else None)
            per_face["coverage"].append(self.coverage.get((frame, record.track)))
            per_face["expression"].append(self._expression(crops))
            found = self.recogniser.describe(crops.merged[None], crops.landmarks[None])[0]
            self.descriptors[(frame, record.track)] = found
            per_face["identity"].append(None if self.reference is None else
                                        float(np.linalg.norm(found - self.reference)))
            per_face["consistency"].append(None)  # once the whole shot is measured
            focus = focus_ratio(crops.merged, crops.plate, crops.mask.astype(np.float32))
            per_face["focus"].append(max(focus, 1.0 / focus) if focus else None)  # 0: can't tell
            per_face["grain"].append(pair.grain_match(m))
            before = self.previous.get(record.track)
            per_face["flicker"].append(None if before is None or cut or before[0] != frame - 1
                                       else _flicker(before[1], crops))
        self.previous = {r.track: (frame, c) for r, c in zip(records, crops_here)}
        weakest = min(confidences, key=lambda c: c["confidence"]) if confidences else {}
        return FrameFigures(
            frame, status, len(records), {n: _worst(n, v) for n, v in per_face.items()},
            {p: float(weakest[p]) for p in CONFIDENCE_PARTS if p in weakest},
            _plate_match(meta))

    def read(self, frame: int) -> FramePair:
        """The frame's plate and merged picture (ImageError for a damaged file)."""
        return FramePair(read_plate_frame(self.plate, frame),
                         read_image(self.merged.frame_path(frame)), self.colour)

    def _landmarks(self, crop: np.ndarray, around: np.ndarray) -> np.ndarray:
        image = (crop * 255).round().astype(np.uint8)
        x0, y0 = around.min(0)
        x1, y1 = around.max(0)
        shape = self.predictor(image, self.rect(int(x0), int(y0), int(x1), int(y1)))
        return np.array([(p.x, p.y) for p in shape.parts()], np.float64)

    def _expression(self, crops: FaceCrops) -> float:
        plate = self._landmarks(crops.plate, crops.landmarks)
        return landmark_nme(self._landmarks(crops.merged, crops.landmarks), plate)

    def consistency(self, figures: list[FrameFigures]) -> None:
        """Fill in each frame's consistency: its faces' distance to their track's median."""
        tracks: dict[int, list[np.ndarray]] = {}
        for (_, track), d in self.descriptors.items():
            tracks.setdefault(track, []).append(d)
        median = {t: np.median(np.stack(ds), axis=0) for t, ds in tracks.items()}
        worst: dict[int, float] = {}
        for (frame, track), d in self.descriptors.items():
            worst[frame] = max(worst.get(frame, 0.0), float(np.linalg.norm(d - median[track])))
        for f in figures:
            if f.frame in worst:
                f.values["consistency"] = worst[f.frame]


def _flicker(before: FaceCrops, now: FaceCrops) -> float:
    """The merged face's change over the plate's, between two consecutive aligned crops."""

    def small(image: np.ndarray) -> np.ndarray:
        return cv2.resize(image, (FLICKER_SIDE, FLICKER_SIDE), interpolation=cv2.INTER_AREA)

    unit = np.array([[1.0 / FLICKER_SIDE, 0, 0], [0, 1.0 / FLICKER_SIDE, 0]])
    mask = small(before.mask.astype(np.float32))
    found = flicker([small(before.plate), small(now.plate)],
                    [small(before.merged), small(now.merged)], [unit, unit], [mask, mask],
                    erode_px=1, lowpass=0.04)
    if not found.pairs:
        return 1.0
    return (found.merged + FLICKER_FLOOR) / (max(found.plate, 0.0) + FLICKER_FLOOR)


def _face_confidences(meta: dict[str, str]) -> list[dict]:
    try:
        faces = json.loads(meta.get(f"{CONFIDENCE_KEY}/faces", "[]"))
    except json.JSONDecodeError:
        faces = []
    return [f for f in faces if isinstance(f, dict) and "confidence" in f]


def _plate_match(meta: dict[str, str]) -> list:
    try:
        found = json.loads(meta.get(PLATE_MATCH_KEY, "[]"))
    except json.JSONDecodeError:
        return []
    return found if isinstance(found, list) else []


def shot_coverage(inputs: ShotInputs, progress_stream=None) -> dict[tuple[int, int], float]:
    """(frame, track) → distance in coverage steps to the target face set's nearest face; {}
    without a face set."""
    if not inputs.faceset:
        return {}
    from ..coverage.report import coverage
    from ..coverage.store import faceset_descriptors, shot_descriptors
    from ..extract.faceset import load_faceset

    try:
        faceset = load_faceset(inputs.faceset)
        report = coverage(inputs.shot_dir, shot_descriptors(inputs.shot_dir, progress_stream),
                          {inputs.identity: (faceset, faceset_descriptors(faceset,
                                                                          progress_stream))})
    except FaceplateError as exc:
        log.warning("coverage left out of the report: %s", exc)
        return {}
    return {(m.frame, m.track): m.distance for m in report.identities[0].matches}


def measure_shot(inputs: ShotInputs, advance: Callable[[str], object] | None = None
                 ) -> tuple[list[FrameFigures], ShotFigures]:
    figures = ShotFigures(inputs, shot_coverage(inputs))
    result = []
    for frame in inputs.report_frames:
        result.append(figures.measure(frame))
        if advance:
            advance(f"frame {frame}")
    figures.consistency(result)
    return result, figures
