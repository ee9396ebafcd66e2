"""Colour matching a swapped face to the plate it goes into.

:func:`match_colour` takes the swapped ``face`` (float32 ``H×W×3``, network space, 0–1), the
plate's ``target`` pixels over the same box, and a ``weight`` ``H×W`` in 0–1 saying which pixels
are face; statistics are weighted by it, so the background inside the box never pulls the
colour. ``to_network`` converts target pixels when the target is in the plate's colourspace:
only the samples a mode needs are converted, which is what keeps a 4K re-merge cheap — the
statistics come from an even grid of at most ~64k pixels, the seamless membrane from a
≤ 64-pixel area-averaged copy. The result is the whole face, recoloured.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import splu

from ..face.align import crop_matrix, transform_points
from ..face.mask import landmark_mask
from .settings import COLOUR_MODES, SettingsError

_EPS = 1e-6
_MAX_GAIN = 4.0  # Reinhard's largest per-channel spread ratio
STAT_SAMPLES = 65536  # pixels the statistics are measured on


def _same(pixels: np.ndarray) -> np.ndarray:
    return pixels


def face_weight(landmarks: np.ndarray, matrix: np.ndarray, learned: np.ndarray,
                hull: str) -> np.ndarray:
    """Which pixels of a face's aligned crop are face: the landmark hull drawn in the crop
    (``landmarks`` in plate pixels, ``matrix`` plate → unit crop) × the learned mask."""
    size = learned.shape[0]
    points = transform_points(np.asarray(landmarks, np.float64), crop_matrix(matrix, size))
    return landmark_mask(points, (size, size), kind=hull) * learned


def match_colour(mode: str, face: np.ndarray, target: np.ndarray, weight: np.ndarray
                 ) -> np.ndarray:
    """Dispatch on a :data:`~faceplate.convert.settings.COLOUR_MODES` name."""
    if mode not in COLOUR_MODES:
        raise SettingsError(f"colour mode {mode!r}: use one of {', '.join(COLOUR_MODES)}")
    if mode == "none" or weight.sum() < 1.0:  # nothing to measure: leave the face alone
        return face
    if mode == "seamless":
        return seamless(face, target, weight)
    step = max(1, int(np.ceil(np.sqrt(weight.size / STAT_SAMPLES))))
    grid = (slice(None, None, step), slice(None, None, step))
    sample_w = weight[grid]
    if sample_w.sum() < 1.0:
        return face
    sample_t = target[grid]
    if mode == "average":
        return average(face, face[grid], sample_t, sample_w)
    if mode == "reinhard":
        return reinhard(face, face[grid], sample_t, sample_w)
    return histogram(face, face[grid], sample_t, sample_w)


def _weighted_stats(pixels: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = weight.reshape(-1)
    keep = w > 0
    flat = pixels.reshape(-1, pixels.shape[-1])[keep].astype(np.float64)
    w = w[keep].astype(np.float64)[:, None]
    total = w.sum()
    mean = (flat * w).sum(0) / total
    var = (((flat - mean) ** 2) * w).sum(0) / total
    return mean, np.sqrt(var)


@dataclass(frozen=True)
class ColourStats:
    """What the ``average`` and ``reinhard`` modes measure: weighted mean and spread of the
    face and of the plate under it (RGB for ``average``, CIE Lab for ``reinhard``). Convert
    smooths the plate's over time (:mod:`.temporal`) and applies them with :func:`apply_stats`."""

    face_mean: np.ndarray
    face_std: np.ndarray
    target_mean: np.ndarray
    target_std: np.ndarray


STAT_MODES = ("average", "reinhard")  # the modes whose statistics can be given


def measure(mode: str, face_sample: np.ndarray, target_sample: np.ndarray,
            weight: np.ndarray) -> ColourStats:
    """The statistics of ``mode`` (one of :data:`STAT_MODES`) from network-space samples."""
    to_space = _lab if mode == "reinhard" else _same
    fm, fs = _weighted_stats(to_space(face_sample), weight)
    tm, ts = _weighted_stats(to_space(target_sample), weight)
    return ColourStats(fm, fs, tm, ts)


def apply_stats(mode: str, face: np.ndarray, stats: ColourStats) -> np.ndarray:
    """Move the face's statistics onto the plate's: a mean shift (``average``) or Reinhard et
    al. 2001's per-channel mean and spread match in CIE Lab (``reinhard``)."""
    fm, tm = stats.face_mean.astype(np.float32), stats.target_mean.astype(np.float32)
    if mode == "average":
        return face + (stats.target_mean - stats.face_mean).astype(np.float32)
    # A face with almost no spread (an untrained or saturated decoder) would otherwise get an
    # unbounded gain that amplifies quantisation noise; real corrections stay well inside this.
    gain = np.clip(stats.target_std / np.maximum(stats.face_std, _EPS), 1.0 / _MAX_GAIN,
                   _MAX_GAIN).astype(np.float32)
    matched = _lab(face)
    matched -= fm
    matched *= gain
    matched += tm
    np.clip(matched[..., 0], 0, 100, out=matched[..., 0])
    return cv2.cvtColor(matched, cv2.COLOR_Lab2RGB)


def average(face: np.ndarray, face_sample: np.ndarray, target_sample: np.ndarray,
            weight: np.ndarray) -> np.ndarray:
    """Shift the face's mean colour onto the plate's."""
    return apply_stats("average", face, measure("average", face_sample, target_sample, weight))


def reinhard(face: np.ndarray, face_sample: np.ndarray, target_sample: np.ndarray,
             weight: np.ndarray) -> np.ndarray:
    """Reinhard et al. 2001: match mean and spread per channel in CIE Lab."""
    return apply_stats("reinhard", face, measure("reinhard", face_sample, target_sample,
                                                 weight))


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(rgb, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)


def histogram(face: np.ndarray, face_sample: np.ndarray, target_sample: np.ndarray,
              weight: np.ndarray, bins: int = 1024) -> np.ndarray:
    """Per-channel weighted histogram matching (the face's CDF mapped onto the plate's)."""
    out = np.empty_like(face, dtype=np.float32)
    w = weight.ravel()
    for c in range(face.shape[-1]):
        channel = face[..., c]
        f, t = face_sample[..., c].ravel(), target_sample[..., c].ravel()
        lo = float(min(channel.min(), t.min()))
        hi = float(max(channel.max(), t.max())) + _EPS
        f_hist, edges = np.histogram(f, bins, (lo, hi), weights=w)
        t_hist, _ = np.histogram(t, bins, (lo, hi), weights=w)
        f_cdf = np.cumsum(f_hist) / max(f_hist.sum(), _EPS)
        t_cdf = np.cumsum(t_hist) / max(t_hist.sum(), _EPS)
        # One lookup table over the bins (face value → plate value at the same quantile),
        # then a uniform-grid interpolation of every face pixel.
        table = np.interp(f_cdf, t_cdf, edges[1:]).astype(np.float32)
        out[..., c] = _lookup(channel, float(edges[1]), (hi - lo) / bins, table)
    return out


def _lookup(x: np.ndarray, first: float, step: float, table: np.ndarray) -> np.ndarray:
    """Linear interpolation in ``table`` sampled at ``first + i·step`` (clamped at the ends)."""
    pos = (x - np.float32(first)) * np.float32(1.0 / step)
    np.clip(pos, 0, len(table) - 1, out=pos)
    index = np.minimum(pos.astype(np.int32), len(table) - 2)
    pos -= index
    low = table[index]
    return low + pos * (table[index + 1] - low)


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
    size = (max(2, w // step), max(2, h // step))

    def small(x: np.ndarray) -> np.ndarray:
        return cv2.resize(np.ascontiguousarray(x, np.float32), size, interpolation=cv2.INTER_AREA)

    diff = small(target) - small(face)
    inside = small(weight) > 0.5
    inside[0, :] = inside[-1, :] = inside[:, 0] = inside[:, -1] = False
    membrane = diff.copy()
    ys, xs = np.nonzero(inside)
    if len(ys):
        membrane[ys, xs] = _solve_membrane(diff, inside, ys, xs)
    return face + cv2.resize(membrane, (w, h), interpolation=cv2.INTER_LINEAR)


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
