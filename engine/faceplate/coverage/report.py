"""Does a face set cover a shot? Each shot face's nearest training face, and the gaps in words.

The space: yaw, pitch, mouth opening, mouth width, each eye's opening, brow height and the key
light's direction, each divided by its *step*, the change a model bridges without visibly
failing (``CoverageSettings``), so a distance of 1 is one step on one measure. Roll is left
out (alignment removes it before the model sees the face), and so are exposure and sharpness
(colour matching and augmentation absorb exposure; they are reported as notes instead).
Training flips faces left-right at random, so a set's mirrored faces count as covering.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from ..errors import FaceplateError
from ..extract.faceset import FaceSet
from .descriptors import Descriptor
from .store import ShotFace


def _knob(default, help_text: str):
    return field(default=default, metadata={"help": help_text})


@dataclass(frozen=True)
class CoverageSettings:
    """How far is too far (the CLI flags are generated from these fields)."""

    max_distance: float = _knob(1.5, "a shot face whose nearest training face is farther "
                                "than this many steps is not covered")
    pose_step: float = _knob(8.0, "degrees of yaw or pitch that count as one step")
    expression_step: float = _knob(1.0, "scale of the expression steps (mouth 0.08, eyes "
                                   "0.04, brows 0.05 inter-ocular distances)")
    light_step: float = _knob(0.5, "stops of key-light slope across the face per step")
    mirror: bool = _knob(True, "count left-right flipped faces (training flips at random)")

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, bool) and not value > 0:
                raise FaceplateError(f"coverage setting {f.name} must be above 0, not {value}")

    def steps(self) -> dict[str, float]:
        e = self.expression_step
        return {"yaw": self.pose_step, "pitch": self.pose_step, "mouth_open": 0.08 * e,
                "smile": 0.08 * e, "eye_right": 0.04 * e, "eye_left": 0.04 * e,
                "brow": 0.05 * e, "key_x": self.light_step, "key_y": self.light_step}


DEFAULTS = CoverageSettings()
SPACE = tuple(DEFAULTS.steps())
# (positive words, negative words) per measure; angles take their threshold in degrees.
_WORDS = {
    "yaw": ("turned right more than {}°", "turned left more than {}°", "facing the camera"),
    "pitch": ("looking up more than {}°", "looking down more than {}°", "with the head level"),
    "mouth_open": ("with the mouth open", "with the mouth closed"),
    "smile": ("with a wide (smiling) mouth", "with a narrow mouth"),
    "eye_right": ("with the right eye wide open", "with the right eye closed"),
    "eye_left": ("with the left eye wide open", "with the left eye closed"),
    "brow": ("with the brows raised", "with the brows lowered"),
    "key_x": ("lit from screen right", "lit from screen left"),
    "key_y": ("lit from below", "lit from above"),
}


def vectors(descriptors: list[Descriptor], settings: CoverageSettings) -> np.ndarray:
    """N×len(SPACE) coordinates in steps."""
    steps = settings.steps()
    return np.array([[getattr(d, k) / steps[k] for k in SPACE] for d in descriptors],
                    np.float64).reshape(len(descriptors), len(SPACE))


def nearest(queries: np.ndarray, candidates: np.ndarray, chunk: int = 2048
            ) -> tuple[np.ndarray, np.ndarray]:
    """Index of and distance to each query's nearest candidate (Euclidean, in steps)."""
    index = np.zeros(len(queries), np.int64)
    dist = np.zeros(len(queries))
    for s in range(0, len(queries), chunk):
        q = queries[s:s + chunk]
        d2 = ((q[:, None, :] - candidates[None, :, :]) ** 2).sum(-1)
        index[s:s + chunk] = d2.argmin(axis=1)
        dist[s:s + chunk] = np.sqrt(d2[np.arange(len(q)), index[s:s + chunk]])
    return index, dist


@dataclass
class Match:
    frame: int
    track: int
    distance: float
    nearest: int  # index into the face set's entries
    mirrored: bool


@dataclass
class Gap:
    track: int
    frames: list[int]
    reason: str
    worst_distance: float

    @property
    def text(self) -> str:
        first, last = self.frames[0], self.frames[-1]
        where = f"frame {first}" if first == last else f"frames {first}–{last}"
        return f"{self.reason}: {where}"


@dataclass
class IdentityCoverage:
    identity: str
    faceset: str
    faceset_faces: int
    matches: list[Match]
    gaps: list[Gap]
    notes: list[str]
    files: list[str]  # the face set's crop files, by entry index

    @property
    def covered(self) -> int:
        return len(self.matches) - sum(len(g.frames) for g in self.gaps)

    def to_dict(self) -> dict:
        return {"faceset": self.faceset, "faceset_faces": self.faceset_faces,
                "shot_faces": len(self.matches), "covered": self.covered,
                "gaps": [{**asdict(g), "first": g.frames[0], "last": g.frames[-1],
                          "text": g.text} for g in self.gaps],
                "notes": self.notes,
                "matches": [{"frame": m.frame, "track": m.track,
                             "distance": round(m.distance, 3), "nearest": self.files[m.nearest],
                             "mirrored": m.mirrored} for m in self.matches]}


@dataclass
class CoverageReport:
    shot: str
    settings: CoverageSettings
    shot_faces: list[ShotFace]
    identities: list[IdentityCoverage]

    @property
    def covered(self) -> bool:
        return all(not c.gaps for c in self.identities)

    def to_dict(self) -> dict:
        return {"schema": "faceplate.coverage_report", "version": 1, "shot": self.shot,
                "covered": self.covered, "settings": asdict(self.settings),
                "steps": self.settings.steps(),
                "identities": {c.identity: c.to_dict() for c in self.identities},
                "shot_descriptors": [{"frame": s.frame, "track": s.track,
                                      **s.descriptor.to_json()} for s in self.shot_faces]}

    def summary(self) -> str:
        lines = []
        for c in self.identities:
            n = len(c.matches)
            median = float(np.median([m.distance for m in c.matches])) if n else 0.0
            lines.append(f"{c.identity}: {c.covered}/{n} shot faces covered by {c.faceset_faces} "
                         f"faces in {c.faceset} (median distance {median:.2f} steps, limit "
                         f"{self.settings.max_distance:g})")
            lines += [f"  {g.text}" for g in c.gaps]
            lines += [f"  note: {n}" for n in c.notes]
        return "\n".join(lines)


def coverage(shot_dir: str, shot_faces: list[ShotFace],
             facesets: dict[str, tuple[FaceSet, list[Descriptor]]],
             settings: CoverageSettings = DEFAULTS) -> CoverageReport:
    """The report for a shot's faces against each identity's ``(face set, descriptors)``."""
    if not shot_faces:
        raise FaceplateError(f"the shot {shot_dir} has no faces in its alignments.json")
    shot = vectors([s.descriptor for s in shot_faces], settings)
    result = []
    for identity, (faceset, descs) in facesets.items():
        if not descs:
            raise FaceplateError(f"face set {faceset.root} ({identity}) holds no faces")
        pool = descs + ([d.mirrored() for d in descs] if settings.mirror else [])
        cand = vectors(pool, settings)
        idx, dist = nearest(shot, cand)
        matches = [Match(s.frame, s.track, float(d), int(i) % len(descs), int(i) >= len(descs))
                   for s, i, d in zip(shot_faces, idx, dist)]
        gaps = _gaps(identity, shot, cand, idx, dist, shot_faces, settings)
        notes = _notes(identity, [s.descriptor for s in shot_faces], descs)
        result.append(IdentityCoverage(identity, faceset.root, len(descs), matches, gaps, notes,
                                       [e.file for e in faceset.entries]))
    return CoverageReport(shot_dir, settings, shot_faces, result)


def _gaps(identity, shot, cand, idx, dist, shot_faces, settings) -> list[Gap]:
    """Runs of consecutive frames (per track) whose nearest face is too far, worded."""
    gaps = []
    by_track: dict[int, list[int]] = {}
    for i, s in enumerate(shot_faces):
        by_track.setdefault(s.track, []).append(i)
    many_tracks = len(by_track) > 1
    for track, members in sorted(by_track.items()):
        run: list[int] = []
        for i in members + [-1]:
            far = i >= 0 and dist[i] > settings.max_distance
            if far and run and shot_faces[i].frame == shot_faces[run[-1]].frame + 1:
                run.append(i)
                continue
            if run:
                reason = _reason(identity, shot[run], shot[run] - cand[idx[run]], cand,
                                 settings.pose_step)
                if many_tracks:
                    reason = f"track {track}: {reason}"
                gaps.append(Gap(track, [shot_faces[j].frame for j in run], reason,
                                round(float(dist[run].max()), 3)))
            run = [i] if far else []
    return gaps


def _reason(identity: str, values: np.ndarray, deltas: np.ndarray, cand: np.ndarray,
            degrees_per_step: float) -> str:
    """Words for a run: the measures (and directions) on which the run's faces lie beyond
    their nearest training face by a step or more, in at least 40% of the run."""
    votes: Counter = Counter()
    for delta in deltas:
        big = [k for k in range(len(SPACE)) if abs(delta[k]) >= 1.0] or [int(np.abs(delta).argmax())]
        votes.update((k, bool(delta[k] > 0)) for k in big)
    chosen = sorted({kd for kd, n in votes.items() if n >= 0.4 * len(deltas)}
                    or {votes.most_common(1)[0][0]})
    # A candidate "has" the trait when it lies as far out as the run's least extreme face,
    # less half a step: the claim "no face of B ..." is then checked against the set.
    has = np.ones(len(cand), bool)
    phrases = []
    for k, positive in chosen:
        edge = values[:, k].min() if positive else values[:, k].max()
        has &= cand[:, k] >= edge - 0.5 if positive else cand[:, k] <= edge + 0.5
        phrases.append(_phrase(SPACE[k], positive, edge * degrees_per_step))
    head = [p for p in phrases if not p.startswith(("with ", "lit "))]
    rest = [p for p in phrases if p.startswith(("with ", "lit "))]
    rest = rest[:1] + [p.removeprefix("with ") for p in rest[1:]]
    what = " ".join(filter(None, [" and ".join(head), " and ".join(rest)]))
    return f"no face of {identity} {what}" if not has.any() else \
        f"no face of {identity} close enough {what}"


def _phrase(name: str, positive: bool, edge: float) -> str:
    """Words for one measure; for angles ``edge`` is the run's least extreme value in degrees
    (said as "more than" the multiple of 5° below it)."""
    words = _WORDS[name]
    if name not in ("yaw", "pitch"):
        return words[0] if positive else words[1]
    threshold = int(abs(edge) // 5 * 5)
    if threshold < 5 or (edge > 0) != positive:
        return words[2]
    return (words[0] if positive else words[1]).format(threshold)


def _notes(identity: str, shot: list[Descriptor], faceset: list[Descriptor]) -> list[str]:
    notes = []
    sharp_shot = float(np.median([d.sharpness for d in shot]))
    sharp_set = float(np.median([d.sharpness for d in faceset]))
    if sharp_set < 0.5 * sharp_shot:
        notes.append(f"{identity}'s faces are softer than the shot's (median sharpness "
                     f"{sharp_set:.1f} vs {sharp_shot:.1f}): swaps will look soft")
    stops = float(np.median([d.exposure for d in shot]) - np.median([d.exposure for d in faceset]))
    if abs(stops) > 1.5:
        notes.append(f"{identity}'s faces are {abs(stops):.1f} stops "
                     f"{'darker' if stops > 0 else 'brighter'} than the shot's: colour matching "
                     "has to carry that")
    return notes
