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
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import FaceplateError
from ..extract.faceset import FaceSet
from ..settings import Settings, setting
from .descriptors import Descriptor
from .store import ShotFace


@dataclass(frozen=True)
class CoverageSettings(Settings):
    """How far is too far (the CLI flags are generated from these fields)."""

    KIND = "coverage"

    max_distance: float = setting(1.5, "a shot face whose nearest training face is farther "
                                  "than this many steps is not covered", bounds=(0.01, 100.0))
    pose_step: float = setting(8.0, "degrees of yaw or pitch that count as one step",
                               bounds=(0.1, 90.0))
    expression_step: float = setting(1.0, "scale of the expression steps (mouth 0.08, eyes "
                                     "0.04, brows 0.05 inter-ocular distances)",
                                     bounds=(0.01, 100.0))
    light_step: float = setting(0.5, "stops of key-light slope across the face per step",
                                bounds=(0.01, 100.0))
    mirror: bool = setting(True, "count left-right flipped faces (training flips at random)")

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


def nearest(queries: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of and distance to each query's nearest candidate (Euclidean, in steps), in
    chunks of queries that keep the distance table near 16 MB."""
    index = np.zeros(len(queries), np.int64)
    dist = np.zeros(len(queries))
    c2 = (candidates ** 2).sum(axis=1)
    chunk = max(1, 2_000_000 // max(len(candidates), 1))
    for s in range(0, len(queries), chunk):
        q = queries[s:s + chunk]
        d2 = (q ** 2).sum(axis=1)[:, None] + c2[None, :] - 2.0 * q @ candidates.T
        index[s:s + chunk] = d2.argmin(axis=1)
        dist[s:s + chunk] = np.sqrt(np.maximum(d2[np.arange(len(q)), index[s:s + chunk]], 0.0))
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
        gaps = _gaps(identity, shot, cand, dist, shot_faces, settings)
        notes = _notes(identity, [s.descriptor for s in shot_faces], descs)
        result.append(IdentityCoverage(identity, faceset.root, len(descs), matches, gaps, notes,
                                       [e.file for e in faceset.entries]))
    return CoverageReport(shot_dir, settings, shot_faces, result)


def _gaps(identity, shot, cand, dist, shot_faces, settings) -> list[Gap]:
    """Runs of consecutive frames (per track) whose nearest face is too far, worded."""
    gaps: list[Gap] = []
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
            for part in _by_reason(run, shot, cand, settings.max_distance) if run else []:
                reason = _reason(identity, shot[part], cand, settings)
                if many_tracks:
                    reason = f"track {track}: {reason}"
                frames = [shot_faces[j].frame for j in part]
                worst = round(float(dist[part].max()), 3)
                if gaps and gaps[-1].reason == reason and gaps[-1].frames[-1] + 1 == frames[0]:
                    gaps[-1].frames += frames
                    gaps[-1].worst_distance = max(gaps[-1].worst_distance, worst)
                else:
                    gaps.append(Gap(track, frames, reason, worst))
            run = [i] if far else []
    return gaps


def _by_reason(run: list[int], shot: np.ndarray, cand: np.ndarray, limit: float,
               shortest: int = 3) -> list[list[int]]:
    """Split a run of uncovered faces where what they lack changes (pieces shorter than
    ``shortest`` frames join the piece before them)."""
    keys = [frozenset(_missing(shot[i], cand, limit)) for i in run]
    parts: list[list[int]] = []
    for i, key in zip(run, keys):
        if parts and key == keys[run.index(parts[-1][-1])]:
            parts[-1].append(i)
        else:
            parts.append([i])
    merged: list[list[int]] = []
    for part in parts:
        if merged and (len(part) < shortest or len(merged[-1]) < shortest):
            merged[-1] += part
        else:
            merged.append(part)
    return merged


def _missing(face: np.ndarray, cand: np.ndarray, limit: float) -> list[tuple[int, bool]]:
    """What the set lacks for one face: the measure (or pair of measures) that, left out,
    brings a training face within ``limit``; with the side of it the shot face lies on."""
    diff = face[None, :] - cand
    d2 = diff ** 2
    total = d2.sum(axis=1)
    n = len(SPACE)
    tries: list[tuple[float, tuple[int, ...]]] = [(float((total - d2[:, k]).min()), (k,))
                                                  for k in range(n)]
    if min(tries)[0] > limit ** 2:
        tries += [(float((total - d2[:, k] - d2[:, m]).min()), (k, m))
                  for k in range(n) for m in range(k + 1, n)]
    best = min(tries)[1]
    j = int((total - d2[:, list(best)].sum(axis=1)).argmin())
    return [(k, bool(diff[j, k] > 0)) for k in best]


def _reason(identity: str, values: np.ndarray, cand: np.ndarray,
            settings: CoverageSettings) -> str:
    """Words for a run: what the set lacks (:func:`_missing`) for at least 40% of its faces."""
    votes: Counter = Counter()
    for face in values:
        votes.update(_missing(face, cand, settings.max_distance))
    chosen = sorted({kd for kd, n in votes.items() if n >= 0.4 * len(values)}
                    or {votes.most_common(1)[0][0]})
    # The claim "no face of B ..." is checked against the set: a candidate has a trait when it
    # lies as far out as the run's least extreme face (or, for an angle range, within the
    # run's range), give or take half a step.
    has = np.ones(len(cand), bool)
    phrases = []
    for k, positive in chosen:
        text, lo, hi = _phrase(SPACE[k], positive, values[:, k], settings.pose_step)
        has &= (cand[:, k] >= lo - 0.5) & (cand[:, k] <= hi + 0.5)
        phrases.append(text)
    for state in ("wide open", "closed"):  # one phrase for both eyes
        pair = [f"with the right eye {state}", f"with the left eye {state}"]
        if all(p in phrases for p in pair):
            phrases = [p for p in phrases if p not in pair] + [f"with both eyes {state}"]
    head = [p for p in phrases if not p.startswith(("with ", "lit "))]
    rest = [p for p in phrases if p.startswith(("with ", "lit "))]
    rest = rest[:1] + [p.removeprefix("with ") for p in rest[1:]]
    what = " ".join(filter(None, [" and ".join(head), " and ".join(rest)]))
    return f"no face of {identity} {what}" + (" that otherwise matches" if has.any() else "")


def _phrase(name: str, positive: bool, run: np.ndarray, step: float
            ) -> tuple[str, float, float]:
    """Words for one measure of a run (values in steps; ``step`` degrees for angles) and the
    range, in steps, a training face would need to lie in to have the trait."""
    words = _WORDS[name]
    if name not in ("yaw", "pitch"):
        edge = run.min() if positive else run.max()
        return (words[0], edge, np.inf) if positive else (words[1], -np.inf, edge)
    deg = run * step
    if positive and deg.min() >= 5:
        return words[0].format(int(deg.min() // 5 * 5)), deg.min() / step, np.inf
    if not positive and deg.max() <= -5:
        return words[1].format(int(-deg.max() // 5 * 5)), -np.inf, deg.max() / step
    if np.abs(deg).max() < 5:
        return words[2], run.min(), run.max()
    side = words[0 if deg.mean() > 0 else 1].split(" more than")[0]
    a, b = int(np.abs(deg).min() // 5 * 5), int(-(-np.abs(deg).max() // 5) * 5)
    return (f"{side} {a}–{b}°" if a else f"{side} as much as {b}°"), run.min(), run.max()


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
