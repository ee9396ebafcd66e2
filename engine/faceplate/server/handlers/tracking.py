"""The ``track_faces`` op: a shot's cached detections in, its alignments out (no pixels).

FaceAlign in Nuke detects frame by frame (the ``detect`` op, which also returns each face's
confidence and descriptor and the frame's cut signature) and caches the result; this op runs
the same tracker, cut detection, confidence, selection and smoothing as ``faceplate
extract`` (``faceplate.extract.resolve``) over them, so Nuke, the CLI and the farm agree.
Numbers travel as arrays (a long shot's descriptors would not fit a JSON header); faces are
listed frame by frame in the order of ``frames`` and ``counts``.
"""

from __future__ import annotations

import numpy as np

from ...errors import FaceplateError
from ...extract.settings import ExtractSettings
from ..ops import ArraySpec, Param, Result, operation, settings_from_params, settings_params

MAX_FRAMES = 100_000
TRACKING_SETTINGS = ("face_type", "smoothing", "select", "min_confidence", "cut_threshold",
                     "backend")


@operation("track_faces", "Track, rate, select and smooth a shot's cached detections (no "
                          "pixels): faces with track ids, confidence, smoothed landmarks and "
                          "alignment matrices, held-back tracks and cuts.",
           params=(Param("frames", list, help="frame numbers, in order"),
                   Param("counts", list, help="faces in each frame (their rows in the arrays)"),
                   Param("sizes", list, [], "[width, height] of each frame (a change is a cut)"))
           + settings_params(ExtractSettings, TRACKING_SETTINGS),
           arrays=(ArraySpec("boxes", ("float32", "float64"), ("N", 4)),
                   ArraySpec("scores", ("float32", "float64"), ("N",)),
                   ArraySpec("landmarks", ("float32", "float64"), ("N", 68, 2)),
                   ArraySpec("confidences", ("float32", "float64"), ("N",), required=False,
                             help="from detect; NaN or absent: rated here without a CNN"),
                   ArraySpec("descriptors", ("float32", "float64"), ("N", 128), required=False,
                             help="from detect; a NaN row: that face is not re-identified"),
                   ArraySpec("signatures", ("float32", "float64"), ("F", None), required=False,
                             help="cut signature of each frame (detect's 'signature')")),
           lane="pool", timeout_s=600.0)
def track_faces(req) -> Result:
    from ...extract.backends.base import Detection
    from ...extract.cuts import find_cuts
    from ...extract.resolve import resolve, track_detections
    from ...extract.select import Selection
    from .frames import backend_for, describer_for

    p, a = req.params, req.arrays
    settings = settings_from_params(ExtractSettings, p)  # the TRACKING_SETTINGS
    frames, counts, sizes = _layout(p, a)
    n = len(a["boxes"])
    confidences = a.get("confidences", np.full(n, np.nan))
    descriptors = a.get("descriptors")
    detections: dict[int, list[Detection]] = {}
    row = 0
    for frame, count in zip(frames, counts):
        detections[frame] = []
        for k in range(row, row + count):
            box = tuple(float(v) for v in a["boxes"][k])
            descriptor = None if descriptors is None or not np.isfinite(descriptors[k]).all() \
                else np.asarray(descriptors[k], np.float64)
            confidence = float(confidences[k]) if np.isfinite(confidences[k]) else None
            detections[frame].append(Detection(
                (box[0], box[1], box[2], box[3]), float(a["scores"][k]),
                np.asarray(a["landmarks"][k], np.float64), confidence, descriptor))
        row += count
    signatures = a.get("signatures")
    cuts = find_cuts({f: None if signatures is None or not np.isfinite(signatures[i]).all()
                      else signatures[i].tolist() for i, f in enumerate(frames)},
                     dict(zip(frames, sizes)) if sizes else {}, settings.cut_threshold)
    found, tracker = track_detections(detections, cuts)
    selection = Selection.parse(settings.select)

    def distances(tracks: list[int]) -> dict[int, float]:
        from ...extract.pipeline import reference_descriptor

        reference = reference_descriptor(str(selection.reference),
                                         backend_for(req.engine, settings.backend),
                                         describer_for(req.engine))
        return {t: float(np.linalg.norm(d - reference)) for t in tracks
                if (d := tracker.descriptor(t)) is not None}

    resolved = resolve(found, cuts, face_type=settings.face_type,
                       smoothing=settings.smoothing, selection=selection,
                       min_confidence=settings.min_confidence, distances=distances)
    faces, landmarks, matrices = [], [], []
    for frame in frames:  # each output face names its input row by (frame, index in frame)
        for held, records in ((0, resolved.frames.get(frame, [])),
                              (1, resolved.held_back.get(frame, []))):
            for record in records:
                index = next(i for i, d in enumerate(detections[frame])
                             if d.bbox == record.bbox)
                faces.append([frame, index, record.track,
                              round(float(record.confidence or 0.0), 4), held])
                landmarks.append(record.landmarks)
                matrices.append(record.matrix)
    return Result({"faces": faces, "cuts": cuts, "face_type": settings.face_type,
                   "tracks": {str(t): i.to_json() for t, i in resolved.tracks.items()}},
                  {"landmarks": np.asarray(landmarks, np.float64).reshape(-1, 68, 2),
                   "matrices": np.asarray(matrices, np.float64).reshape(-1, 2, 3)})


def _layout(p: dict, a: dict) -> tuple[list[int], list[int], list[tuple[int, int]]]:
    """Frame numbers, faces per frame and frame sizes, checked against the arrays."""
    frames, counts, sizes = p["frames"], p["counts"], p["sizes"]
    if len(frames) > MAX_FRAMES:
        raise FaceplateError(f"track_faces takes at most {MAX_FRAMES} frames, not {len(frames)}")
    if not all(type(v) is int for v in frames + counts) or len(frames) != len(counts) \
            or any(c < 0 for c in counts) or len(set(frames)) != len(frames):
        raise FaceplateError("frames and counts must be equally long lists of integers "
                             "(distinct frames, counts ≥ 0)")
    if sum(counts) != len(a["boxes"]):
        raise FaceplateError(f"counts add up to {sum(counts)} faces but the arrays hold "
                             f"{len(a['boxes'])}")
    if sizes and (len(sizes) != len(frames) or not all(
            isinstance(s, list) and len(s) == 2 and all(type(v) is int for v in s)
            for s in sizes)):
        raise FaceplateError("sizes must be one [width, height] of integers per frame")
    if "signatures" in a and len(a["signatures"]) != len(frames):
        raise FaceplateError("signatures must have one row per frame")
    return frames, counts, [(s[0], s[1]) for s in sizes]
