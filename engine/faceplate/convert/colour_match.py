"""Colour matching a swapped face to the plate it goes into.

Every function takes the swapped ``face`` and the plate's ``target`` over the same face box,
both float32 ``H×W×3`` in network space (sRGB-encoded, 0–1; the target may exceed 1), and a
``weight`` ``H×W`` in 0–1 saying which pixels are face. Statistics are weighted by it, so the
background inside the box never pulls the colour. The result is the face, recoloured.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import splu

from .settings import COLOUR_MODES, SettingsError

_EPS = 1e-6


def match_colour(mode: str, face: np.ndarray, target: np.ndarray,
                 weight: np.ndarray) -> np.ndarray:
    """Dispatch on a :data:`~faceplate.convert.settings.COLOUR_MODES` name."""
    if weight.sum() < 1.0:  # no face pixels to measure: leave the face alone
        return face
    if mode == "none":
        return face
    if mode == "average":
        return average(face, target, weight)
    if mode == "reinhard":
        return reinhard(face, target, weight)
    if mode == "histogram":
        return histogram(face, target, weight)
    if mode == "seamless":
        return seamless(face, target, weight)
    raise SettingsError(f"colour mode {mode!r}: use one of {', '.join(COLOUR_MODES)}")


def _weighted_stats(pixels: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = weight.reshape(-1, 1).astype(np.float64)
    flat = pixels.reshape(-1, pixels.shape[-1]).astype(np.float64)
    total = w.sum()
    mean = (flat * w).sum(0) / total
    var = (((flat - mean) ** 2) * w).sum(0) / total
    return mean, np.sqrt(var)


def average(face: np.ndarray, target: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Shift the face's mean colour onto the plate's."""
    fm, _ = _weighted_stats(face, weight)
    tm, _ = _weighted_stats(target, weight)
    return (face + (tm - fm)).astype(np.float32)


def reinhard(face: np.ndarray, target: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Reinhard et al. 2001: match mean and spread per channel in CIE Lab."""
    face_lab = cv2.cvtColor(np.clip(face, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)
    target_lab = cv2.cvtColor(np.clip(target, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)
    fm, fs = _weighted_stats(face_lab, weight)
    tm, ts = _weighted_stats(target_lab, weight)
    matched = (face_lab - fm) * (ts / np.maximum(fs, _EPS)) + tm
    matched[..., 0] = np.clip(matched[..., 0], 0, 100)
    return cv2.cvtColor(matched.astype(np.float32), cv2.COLOR_Lab2RGB)


def histogram(face: np.ndarray, target: np.ndarray, weight: np.ndarray,
              bins: int = 1024) -> np.ndarray:
    """Per-channel weighted histogram matching (the face's CDF mapped onto the plate's)."""
    out = np.empty_like(face, dtype=np.float32)
    w = weight.ravel()
    for c in range(face.shape[-1]):
        f, t = face[..., c].ravel(), target[..., c].ravel()
        lo = float(min(f.min(), t.min()))
        hi = float(max(f.max(), t.max())) + _EPS
        edges = np.linspace(lo, hi, bins + 1)
        f_hist, _ = np.histogram(f, edges, weights=w)
        t_hist, _ = np.histogram(t, edges, weights=w)
        f_cdf = np.cumsum(f_hist) / max(f_hist.sum(), _EPS)
        t_cdf = np.cumsum(t_hist) / max(t_hist.sum(), _EPS)
        quantile = np.interp(f, edges[1:], f_cdf)
        out[..., c] = np.interp(quantile, t_cdf, edges[1:]).reshape(face.shape[:2])
    return out


def seamless(face: np.ndarray, target: np.ndarray, weight: np.ndarray,
             coarse: int = 64) -> np.ndarray:
    """Poisson (gradient-domain) clone in float: keep the face's gradients, take the plate's
    values on the mask boundary.

    With the face's own gradients as the guidance field the solution is the face plus a
    harmonic membrane that interpolates ``target − face`` from the boundary. The membrane is
    smooth, so it is solved on a grid of at most ``coarse`` pixels a side and upsampled: a few
    milliseconds at any plate resolution, and unlike ``cv2.seamlessClone`` it keeps float and
    values above 1.0.
    """
    h, w = weight.shape
    step = max(1, int(np.ceil(max(h, w) / coarse)))
    ch, cw = max(2, h // step), max(2, w // step)
    diff = cv2.resize((target - face).astype(np.float32), (cw, ch), interpolation=cv2.INTER_AREA)
    inside = cv2.resize(weight.astype(np.float32), (cw, ch), interpolation=cv2.INTER_AREA) > 0.5
    inside[0, :] = inside[-1, :] = inside[:, 0] = inside[:, -1] = False
    membrane = diff.copy()
    ys, xs = np.nonzero(inside)
    if len(ys):
        membrane[ys, xs] = _solve_membrane(diff, inside, ys, xs)
    membrane = cv2.resize(membrane, (w, h), interpolation=cv2.INTER_LINEAR)
    return (face + membrane).astype(np.float32)


def _solve_membrane(diff: np.ndarray, inside: np.ndarray, ys: np.ndarray,
                    xs: np.ndarray) -> np.ndarray:
    """Laplace's equation on the ``inside`` pixels with ``diff`` as the Dirichlet boundary."""
    index = -np.ones(inside.shape, dtype=np.int64)
    index[ys, xs] = np.arange(len(ys))
    rows, cols, vals = [np.arange(len(ys))], [np.arange(len(ys))], [np.full(len(ys), 4.0)]
    rhs = np.zeros((len(ys), diff.shape[-1]), dtype=np.float64)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ny, nx = ys + dy, xs + dx  # never out of range: the grid's border is never inside
        neighbour = index[ny, nx]
        is_unknown = neighbour >= 0
        rows.append(np.nonzero(is_unknown)[0])
        cols.append(neighbour[is_unknown])
        vals.append(np.full(int(is_unknown.sum()), -1.0))
        known = ~is_unknown
        rhs[known] += diff[ny[known], nx[known]]
    a = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                   shape=(len(ys), len(ys))).tocsc()
    return splu(a).solve(rhs).astype(np.float32)
