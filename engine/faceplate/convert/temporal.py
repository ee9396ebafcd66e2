"""Convert's temporal smoothing: colour statistics, learned masks and (optionally) the swap.

Per-frame colour matching measures the plate under a matte that changes a little every frame,
so a still face pulses. Here each face's values are smoothed over its track the way landmarks
are (:func:`faceplate.extract.smooth.local_quadratic_matrix`, a Gaussian-weighted local
quadratic fit of σ = ``MergeSettings.temporal`` frames), within runs of consecutive frames that
no shot cut interrupts (:func:`faceplate.extract.smooth.segments`, the alignments' ``cuts``):

- the colour transform of any colour mode (a mean shift, Reinhard's statistics, histogram
  tables, the seamless membrane: :class:`~.colour_match.ColourTransform`), measured in the
  aligned crop (the still face: the same skin every frame) and weighted by the mask source
  drawn there, so the face's colour changes as slowly as the shot does;
- the learned mask, in crop space (where a still face's mask should not move);
- with ``temporal_swap`` > 0, the swapped face itself, blended with its neighbours' average.

Determinism: a frame's weights depend only on the frames within ``reach`` (⌈3σ⌉) of it in its
run, and each neighbour's values only on that neighbour (its swap, learned mask and plate crop,
kept together in the swap cache). So a frame renders the same bits whether the render covers
the whole shot, a farm chunk or a resume.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..extract.smooth import local_quadratic_matrix, segments
from .cache import SwapCache, SwapKey
from .colour_match import ColourTransform, face_weight, mean_transform, measure
from .merge import SwappedFace
from .settings import MergeSettings

log = logging.getLogger(__name__)
MIN_RUN = 5  # shorter runs are not smoothed (as landmark smoothing does)


def reach(sigma: float) -> int:
    """How many frames either side weigh into a frame's smoothed values."""
    return math.ceil(3.0 * sigma) if sigma > 0 else 0


class Windows:
    """Which neighbouring frames of the same face track weigh into a frame, and how much."""

    def __init__(self, track_frames: dict[int, list[int]], cuts: Sequence[int], sigma: float):
        self.sigma = float(sigma)
        self.cuts = frozenset(int(c) for c in cuts)
        self._runs: dict[tuple[int, int], list[int]] = {}
        for track, frames in track_frames.items():
            ordered = sorted(frames)
            for run in segments(ordered, self.cuts):
                members = [ordered[i] for i in run]
                for f in members:
                    self._runs[(track, f)] = members

    @classmethod
    def of(cls, shot, sigma: float) -> Windows:
        """From an :class:`~faceplate.extract.alignments.Alignments`: its tracks and cuts."""
        tracks: dict[int, list[int]] = {}
        for frame, records in shot.frames.items():
            for r in records:
                tracks.setdefault(int(r.track), []).append(int(frame))
        return cls(tracks, getattr(shot, "cuts", []), sigma)

    def weights(self, frame: int, track: int) -> list[tuple[int, float]]:
        """``(frame, weight)`` of every neighbour (the frame itself included); the weights
        sum to 1. A frame alone, off any track, or in a short run weighs only itself."""
        run = self._runs.get((track, frame))
        r = reach(self.sigma)
        if not run or r == 0 or len(run) < MIN_RUN:
            return [(frame, 1.0)]
        i = run.index(frame)
        window = run[max(0, i - r):i + r + 1]
        row = local_quadratic_matrix(np.asarray(window, float), self.sigma)[window.index(frame)]
        return [(f, float(w)) for f, w in zip(window, row)]

    def needed(self, frames: Sequence[tuple[int, int]]) -> list[int]:
        """Every frame the ``(frame, track)`` faces need, themselves included."""
        return sorted({f for frame, track in frames for f, _ in self.weights(frame, track)})


@dataclass
class FaceSample:
    """One face of one frame as the swap stage leaves it, all in its aligned crop."""

    face: np.ndarray  # S×S×3 swapped face, network space
    learned: np.ndarray  # S×S the model's mask
    crop: np.ndarray  # S×S×3 the plate's aligned crop, network space
    matrix: np.ndarray  # 2×3 plate → unit crop
    landmarks: np.ndarray  # 68×2 plate pixels


@dataclass
class SteadyFace:
    face: np.ndarray
    learned: np.ndarray
    colour: ColourTransform | None  # the colour mode's transform, averaged over time


def frame_colour(mode: str, sample: FaceSample, hull: str, mask: str) -> ColourTransform | None:
    """One frame's own colour transform (face onto plate) in its crop, weighted by the mask
    source drawn there (:func:`~.colour_match.face_weight`); None when the crop holds (almost)
    no face or the mode is ``none``."""
    return measure(mode, sample.face, sample.crop,
                   face_weight(sample.landmarks, sample.matrix, sample.learned, hull, mask))


def steady(own: FaceSample, neighbours: Sequence[tuple[float, FaceSample]],
           colours: Sequence[tuple[float, ColourTransform | None]],
           swap_blend: float) -> SteadyFace:
    """``own`` with its learned mask (and, by ``swap_blend``, its face) averaged over the
    weighted ``neighbours`` (own included, weights summing to 1), and the colour transform
    averaged over ``colours`` (each neighbour's :func:`frame_colour`): the face's colour then
    changes as slowly as its neighbourhood, not frame by frame.

    A neighbour whose swap holds NaN or infinite values (a broken model on that frame) is left
    out and the weights renormalised; when ``own`` is one, it comes back as it is, so the merge
    fails its frame (:func:`~.merge.check_swappable`) instead of smoothing over it."""
    if not _finite(own):
        return SteadyFace(own.face, own.learned, None)
    kept = [(w, n) for w, n in neighbours if _finite(n)]
    if len(kept) < len(neighbours):
        total = sum(w for w, _ in kept)
        neighbours = [(w / total, n) for w, n in kept] if abs(total) > 1e-6 else [(1.0, own)]
    learned = np.clip(_weighted([(w, n.learned) for w, n in neighbours]), 0.0, 1.0)
    face = own.face
    if swap_blend > 0:
        mean = np.clip(_weighted([(w, n.face) for w, n in neighbours]), 0.0, 1.0)
        face = ((1.0 - swap_blend) * own.face + swap_blend * mean).astype(np.float32)
    return SteadyFace(face, learned.astype(np.float32), mean_transform(colours))


def _finite(sample: FaceSample) -> bool:
    return bool(np.isfinite(sample.face).all() and np.isfinite(sample.learned).all())


def _weighted(items: Sequence[tuple[float, np.ndarray]]) -> np.ndarray:
    out = np.zeros_like(items[0][1], dtype=np.float64)
    for w, a in items:
        out += w * a
    return out.astype(np.float32)


class Smoothing:
    """A shot render's temporal smoothing: which frames' faces it needs in the swap cache,
    each neighbour's face as the cache holds it, and each rendered frame's swaps smoothed over
    their tracks. ``faces(frame)`` gives a frame's faces on its stored pixels (each with its
    ``track``, ``matrix`` and ``landmarks``) and ``keys(frame)`` their swap cache keys, in the
    same order. Neighbours are memoised while a later frame can need them (frames render in
    order)."""

    def __init__(self, windows: Windows, settings: MergeSettings, cache: SwapCache,
                 faces: Callable[[int], Sequence], keys: Callable[[int], list[SwapKey]]):
        self.windows = windows
        self.settings = settings
        self.cache = cache
        self._faces = faces
        self._keys = keys
        self._samples: dict[tuple[int, int], FaceSample | None] = {}
        self._colours: dict[tuple[int, int], ColourTransform | None] = {}

    def prepare(self, faces: Iterable[tuple[int, int]],
                swap: Callable[[list[int]], None]) -> int:
        """Make sure the cache holds every face the ``(frame, track)`` faces to render need,
        theirs and their neighbours': ``swap(frames)`` swaps the frames it lacks (reading only
        those frames' plates). Returns how many frames the smoothing takes part in."""
        needed = self.windows.needed(list(faces))
        missing = [g for g in needed
                   if any(self.cache.get_with_crop(k) is None for k in self._keys(g))]
        if missing:
            log.info("temporal smoothing: swapping %d frame(s) the cache does not hold",
                     len(missing))
            swap(missing)
        return len(needed)

    def swaps(self, frame: int, faces: Sequence, swapped: list[SwappedFace]
              ) -> list[SwappedFace]:
        """The frame's swaps (``swapped``, one per face of ``faces``) with their learned masks,
        colour transforms and (optionally) faces smoothed over their tracks."""
        out = []
        for face, sf in zip(faces, swapped):
            own = self._sample(frame, face.track)
            found = [(g, w, self._sample(g, face.track))
                     for g, w in self.windows.weights(frame, face.track)]
            near = [(g, w, n) for g, w, n in found if n is not None]
            total = sum(w for _, w, _ in near)
            if own is None or abs(total) < 1e-6:
                out.append(sf)
                continue
            result = steady(own, [(w / total, n) for _, w, n in near],
                            [(w / total, self._colour(g, face.track, n)) for g, w, n in near],
                            self.settings.temporal_swap)
            out.append(replace(sf, face=result.face, learned=result.learned,
                               colour=result.colour))
        self._forget(frame)
        return out

    def _sample(self, frame: int, track: int) -> FaceSample | None:
        """One neighbour's face as the cache holds it (memoised)."""
        key = (frame, track)
        if key not in self._samples:
            faces = self._faces(frame)
            index = next((i for i, f in enumerate(faces) if f.track == track), None)
            sample = None
            if index is not None:
                hit = self.cache.get_with_crop(self._keys(frame)[index])
                if hit is not None and hit[2] is not None:
                    sample = FaceSample(hit[0], hit[1], hit[2], faces[index].matrix,
                                        faces[index].landmarks)
            self._samples[key] = sample
        return self._samples[key]

    def _colour(self, frame: int, track: int, sample: FaceSample) -> ColourTransform | None:
        key = (frame, track)
        if key not in self._colours:
            self._colours[key] = frame_colour(self.settings.colour, sample, self.settings.hull,
                                              self.settings.mask)
        return self._colours[key]

    def _forget(self, frame: int) -> None:
        """Drop memoised neighbours no later frame can need (frames render in order)."""
        horizon = frame - reach(self.windows.sigma)
        for memo in (self._samples, self._colours):
            for key in [k for k in memo if k[0] < horizon]:
                del memo[key]
