"""Landmark smoothing over a whole shot (non-causal: every frame is known before smoothing).

Each landmark coordinate is replaced by a local quadratic fit over neighbouring frames of the
same track, weighted by a Gaussian of σ frames. A quadratic follows a head's acceleration
without the lag of a moving average and needs no padding at the ends of a shot.

σ is chosen from the data: generalised cross-validation (GCV) picks, per track segment, the σ
that best predicts the landmarks from their neighbours, which is large for a slow, noisy
face and small for a fast, clean one. ``strength`` scales it: 0 is off, 0.5 uses the GCV
choice, 1 smooths twice as wide. Gaps (frames where a track was not seen) split a track into
segments smoothed separately, and so do shot cuts (``cuts``: the frames that start a new shot),
so a face never drifts across a cut or an occlusion.

Artist fixes (:func:`blend_fixed`): frames whose landmarks an artist set are *fixed keys*. They
keep their values exactly and the change is spread to their neighbours by the same kernel,
locally constant and weighted (a key counts as ``FIXED_WEIGHT`` frames), so a fix fades out
over the smoothing window instead of popping; frames out of its reach are left untouched.
"""

from __future__ import annotations

import numpy as np

from ..errors import FaceplateError
from ..face.meanface import LEFT_EYE, RIGHT_EYE

SIGMAS = (0.6, 0.8, 1.0, 1.3, 1.6, 2.0, 2.5, 3.0, 4.0, 5.0, 6.5, 8.0)  # GCV candidates, frames
FIX_SIGMA = 4.0  # frames a fix spreads over at strength 1 (2 at the default 0.5)
FIXED_WEIGHT = 10.0  # a fixed key weighs as much as this many unfixed frames
BLEND_ROWS = 256  # rows of a fix's blend computed at once (bounds its memory)


def smooth_track(frames: list[int], landmarks: np.ndarray, strength: float,
                 cuts: frozenset[int] | set[int] = frozenset(),
                 weights: np.ndarray | None = None) -> np.ndarray:
    """Smoothed copy of ``landmarks`` (N×68×2) of one track at sorted ``frames``;
    ``weights`` (N, 0–1) say how far each frame's landmarks are trusted: a frame of low
    weight (a bridged frame, a profile) takes its landmarks from the fit to the frames
    around it."""
    if not 0.0 <= strength <= 1.0:
        raise FaceplateError(f"smoothing strength {strength} is outside 0–1")
    pts = np.asarray(landmarks, np.float64)
    if strength == 0.0 or len(frames) < 3:
        return pts.copy()
    out = pts.copy()
    trust = np.ones(len(frames)) if weights is None else np.asarray(weights, np.float64)
    for seg in segments(frames, cuts):
        if len(seg) >= 5:
            t = np.asarray([frames[i] for i in seg], float)
            flat = pts[seg].reshape(len(seg), -1)
            w = trust[seg]
            kernel = local_quadratic_matrix(t, 2.0 * strength * gcv_sigma(t, flat, w), w)
            out[seg] = (kernel @ flat).reshape(len(seg), *pts.shape[1:])
    return out


def gcv_sigma(t: np.ndarray, values: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The candidate σ with the least GCV score n·Σ w‖(I−H)y‖² / (n − tr H)² over all
    columns (each frame's residual weighted by its trust)."""
    n = len(t)
    w = np.ones(n) if weights is None else weights
    best, best_score = SIGMAS[0], np.inf
    for sigma in SIGMAS:
        hat = local_quadratic_matrix(t, sigma, weights)
        dof = n - np.trace(hat)
        if dof <= 0.5:
            continue
        score = n * (w[:, None] * (values - hat @ values) ** 2).sum() / dof ** 2
        if score < best_score:
            best, best_score = sigma, score
    return best


def local_quadratic_matrix(t: np.ndarray, sigma: float, weights: np.ndarray | None = None,
                           degree: int = 2) -> np.ndarray:
    """N×N linear smoother: row i evaluates at t[i] the Gaussian-weighted polynomial fit
    (quadratic; ``degree`` 0 is the weighted mean), each sample also weighted by ``weights``.
    Row i is zero outside ``ceil(3σ)`` frames of i."""
    n = len(t)
    out = np.zeros((n, n))
    reach = int(np.ceil(3 * sigma))
    for i in range(n):
        lo, hi = max(0, i - reach), min(n, i + reach + 1)
        dt = t[lo:hi] - t[i]
        w = np.exp(-0.5 * (dt / sigma) ** 2)
        if weights is not None:
            w = w * weights[lo:hi]
        x = np.stack([dt ** k for k in range(degree + 1)], axis=1)
        xtw = x.T * w
        # Row of the hat matrix at dt = 0: e0ᵀ (XᵀWX)⁻¹ XᵀW (lstsq copes with short windows).
        out[i, lo:hi] = np.linalg.lstsq(xtw @ x, xtw, rcond=None)[0][0]
    return out


def blend_fixed(frames: list[int], landmarks: np.ndarray, fixed: dict[int, np.ndarray],
                strength: float, cuts: frozenset[int] | set[int] = frozenset()) -> np.ndarray:
    """``landmarks`` (N×68×2 of one track at sorted ``frames``) with the fixed keys set:
    ``fixed`` maps an index into ``frames`` to its landmarks (earlier fixes included, with
    their values, so they stay put). Each key's change is blended into the frames of its
    segment within ``ceil(3 · FIX_SIGMA · strength)`` frames; other frames come back
    bit-identical. Work and memory grow with the frames near keys, not the track's length."""
    pts = np.asarray(landmarks, np.float64)
    out = pts.copy()
    delta = np.zeros_like(pts)
    for i, value in fixed.items():
        delta[i] = np.asarray(value, np.float64) - pts[i]
    sigma = FIX_SIGMA * strength
    reach = int(np.ceil(3 * sigma))
    for seg in segments(frames, cuts) if strength > 0.0 else []:
        keys = [k for k, i in enumerate(seg) if i in fixed]
        near = sorted({p for k in keys for p in range(max(0, k - reach),
                                                      min(len(seg), k + reach + 1))})
        for a in range(0, len(near), BLEND_ROWS):  # rows near a key, a block at a time
            rows = near[a:a + BLEND_ROWS]
            lo, hi = max(0, rows[0] - reach), min(len(seg), rows[-1] + reach + 1)
            window = seg[lo:hi]
            weights = np.asarray([FIXED_WEIGHT if i in fixed else 1.0 for i in window])
            kernel = local_quadratic_matrix(np.asarray([frames[i] for i in window], float),
                                            sigma, weights, degree=0)
            change = kernel[[p - lo for p in rows]] @ delta[window].reshape(len(window), -1)
            for p, c in zip(rows, change):
                out[seg[p]] = pts[seg[p]] + c.reshape(pts.shape[1:])
    for i, value in fixed.items():
        out[i] = np.asarray(value, np.float64)
    return out


def jitter(landmarks: np.ndarray) -> float:
    """Frame-to-frame shake of a track: RMS second difference of all landmarks over time, in
    units of the inter-ocular distance (motion at constant speed scores zero)."""
    pts = np.asarray(landmarks, np.float64)
    if len(pts) < 3:
        return 0.0
    accel = pts[2:] - 2 * pts[1:-1] + pts[:-2]
    return float(np.sqrt((accel ** 2).sum(axis=-1).mean()) / np.mean(interocular(pts)))


def interocular(landmarks: np.ndarray) -> np.ndarray:
    """Distance between the eye centres, per face (…×68×2 → …)."""
    pts = np.asarray(landmarks, np.float64)
    return np.linalg.norm(pts[..., RIGHT_EYE, :].mean(axis=-2) - pts[..., LEFT_EYE, :].mean(axis=-2),
                          axis=-1)


def segments(frames: list[int], cuts: frozenset[int] | set[int] = frozenset()
              ) -> list[list[int]]:
    """Indices of runs of consecutive frame numbers that no cut interrupts."""
    runs: list[list[int]] = []
    for i, f in enumerate(frames):
        if runs and f == frames[runs[-1][-1]] + 1 and f not in cuts:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs
