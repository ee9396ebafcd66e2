"""Colour matching a swapped face to the plate it goes into.

:func:`match_colour` takes the swapped ``face`` (float32 ``H×W×3``, network space, 0–1), the
plate's ``target`` pixels over the same box, and a ``weight`` ``H×W`` in 0–1 saying which pixels
are face; statistics are weighted by it, so the background inside the box never pulls the
colour. ``to_network`` converts target pixels when the target is in the plate's colourspace:
only the samples a mode needs are converted, which is what keeps a 4K re-merge cheap — the
statistics come from an even grid of at most ~64k pixels, the seamless membrane from a
≤ 64-pixel area-averaged copy. The result is the whole face, recoloured.

Samples that are not finite (the NaN the crop marks where the plate had NaN or infinite pixels,
:func:`~faceplate.face.crop.aligned_crop`) weigh nothing: the statistics come from the finite samples only, and
the seamless membrane interpolates over them.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def face_weight(landmarks: np.ndarray, matrix: np.ndarray, learned: np.ndarray,
                hull: str, mask: str = "hull*learned") -> np.ndarray:
    """Which pixels of a face's aligned crop are face, for colour matching: the merge's mask
    source drawn in the crop (``landmarks`` in plate pixels, ``matrix`` plate → unit crop), so
    ``seamless`` takes the plate's values where the blend's matte ends. The landmark hull, the
    learned mask or both; the ``image`` and ``occlusion`` sources (mattes of the plate) measure
    under hull × learned."""
    if mask == "learned":
        return learned
    size = learned.shape[0]
    points = transform_points(np.asarray(landmarks, np.float64), crop_matrix(matrix, size))
    shape = landmark_mask(points, (size, size), kind=hull)
    return shape if mask == "hull" else shape * learned


def match_colour(mode: str, face: np.ndarray, target: np.ndarray, weight: np.ndarray
                 ) -> np.ndarray:
    """``face`` moved to the colour of ``target`` by ``mode`` (one of
    :data:`~faceplate.convert.settings.COLOUR_MODES`); the face itself when there is nothing to
    measure."""
    transform = measure(mode, face, target, weight)
    return face if transform is None else apply(transform, face)


@dataclass(frozen=True)
class ColourTransform:
    """What a colour mode measured on one frame, or the weighted mean of several frames'.

    Its arrays' shapes depend only on the mode (and the crop's size), so a weighted mean of
    transforms is itself one: that is convert's temporal smoothing of every mode
    (:func:`mean_transform`).

    - ``average``: the shift of the face's weighted mean colour onto the plate's (3,);
    - ``reinhard``: face mean and spread, plate mean and spread in CIE Lab (4 × (3,));
    - ``histogram``: per channel, the plate's value at the quantile of each face value on an even
      0–1 grid (3 × BINS);
    - ``seamless``: the harmonic membrane from the plate's boundary values, on the coarse grid.
    """

    mode: str
    parts: tuple[np.ndarray, ...]


BINS = 1024  # the histogram mode's table: face values 0–1 in this many steps


def measure(mode: str, face: np.ndarray, target: np.ndarray, weight: np.ndarray
            ) -> ColourTransform | None:
    """The transform ``mode`` measures from ``face`` and ``target`` (network space) under
    ``weight``; None for ``none`` or when the weight holds (almost) nothing."""
    if mode not in COLOUR_MODES:
        raise SettingsError(f"colour mode {mode!r}: use one of {', '.join(COLOUR_MODES)}")
    if mode == "none":
        return None
    face, target, weight, finite = _finite(face, target, weight)
    if weight.sum() < 1.0:
        return None
    if mode == "seamless":
        return ColourTransform(mode, (_membrane(face, target, weight, finite),))
    step = max(1, int(np.ceil(np.sqrt(weight.size / STAT_SAMPLES))))
    grid = (slice(None, None, step), slice(None, None, step))
    w = weight[grid] if finite is None else weight[grid] * finite[grid]
    if w.sum() < 1.0:
        return None
    f, t = face[grid], target[grid]
    if mode == "average":
        return ColourTransform(mode, ((_weighted_stats(t, w)[0] - _weighted_stats(f, w)[0]),))
    if mode == "reinhard":
        return ColourTransform(mode, (*_weighted_stats(_lab(f), w), *_weighted_stats(_lab(t), w)))
    return ColourTransform(mode, (_histogram_tables(f, t, w),))


def _finite(face: np.ndarray, target: np.ndarray, weight: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """``face``, ``target`` and ``weight`` with their non-finite values zeroed, and the H×W
    samples where face and target are both finite (None: all of them, the common case)."""
    if not np.isfinite(weight).all():
        weight = np.where(np.isfinite(weight), weight, 0.0).astype(np.float32)
    finite = np.isfinite(face).all(axis=-1) & np.isfinite(target).all(axis=-1)
    if finite.all():
        return face, target, weight, None
    keep = finite[..., None]
    return (np.where(keep, face, 0.0).astype(np.float32),
            np.where(keep, target, 0.0).astype(np.float32), weight, finite)


def mean_transform(items: Sequence[tuple[float, ColourTransform | None]]
                   ) -> ColourTransform | None:
    """The weighted mean of transforms of one mode (the missing ones left out, the weights
    renormalised); None when nothing is left."""
    kept = [(w, t) for w, t in items if t is not None]
    total = sum(w for w, _ in kept)
    if not kept or abs(total) < 1e-6:
        return None
    parts = tuple(np.asarray(sum(w * t.parts[i] for w, t in kept) / total)
                  for i in range(len(kept[0][1].parts)))
    return ColourTransform(kept[0][1].mode, parts)


def apply(transform: ColourTransform, face: np.ndarray) -> np.ndarray:
    """The face recoloured by ``transform``."""
    mode, parts = transform.mode, transform.parts
    if mode == "average":
        return face + parts[0].astype(np.float32)
    if mode == "reinhard":
        return _reinhard(face, *parts)
    if mode == "histogram":
        out = np.empty_like(face, dtype=np.float32)
        for c in range(face.shape[-1]):
            out[..., c] = _lookup(face[..., c], 1.0 / BINS, 1.0 / BINS, parts[0][c])
        return out
    h, w = face.shape[:2]
    return face + cv2.resize(np.asarray(parts[0], np.float32), (w, h),
                             interpolation=cv2.INTER_LINEAR)


def _weighted_stats(pixels: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = weight.reshape(-1)
    keep = w > 0
    flat = pixels.reshape(-1, pixels.shape[-1])[keep].astype(np.float64)
    w = w[keep].astype(np.float64)[:, None]
    total = w.sum()
    mean = (flat * w).sum(0) / total
    var = (((flat - mean) ** 2) * w).sum(0) / total
    return mean, np.sqrt(var)


def _reinhard(face: np.ndarray, face_mean: np.ndarray, face_std: np.ndarray,
              target_mean: np.ndarray, target_std: np.ndarray) -> np.ndarray:
    """Reinhard et al. 2001: the face's per-channel mean and spread in CIE Lab moved onto the
    plate's."""
    # A face with almost no spread (an untrained or saturated decoder) would otherwise get an
    # unbounded gain that amplifies quantisation noise; real corrections stay well inside this.
    gain = np.clip(np.maximum(target_std, 0.0) / np.maximum(face_std, _EPS), 1.0 / _MAX_GAIN,
                   _MAX_GAIN).astype(np.float32)
    matched = _lab(face)
    matched -= face_mean.astype(np.float32)
    matched *= gain
    matched += target_mean.astype(np.float32)
    np.clip(matched[..., 0], 0, 100, out=matched[..., 0])
    return cv2.cvtColor(matched, cv2.COLOR_Lab2RGB)


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(rgb, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)


def _histogram_tables(face: np.ndarray, target: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per-channel weighted histogram matching as tables: for each face value on an even 0–1
    grid, the plate's value at the same quantile (the face's CDF mapped onto the plate's)."""
    w = weight.ravel()
    tables = np.empty((face.shape[-1], BINS), np.float32)
    for c in range(face.shape[-1]):
        f, t = np.clip(face[..., c].ravel(), 0.0, 1.0), target[..., c].ravel()
        f_hist, _ = np.histogram(f, BINS, (0.0, 1.0), weights=w)
        span = t[w > 0]  # the samples that count (the weighed-out ones may be zeroed)
        t_hist, t_edges = np.histogram(t, BINS, (float(span.min()), float(span.max()) + _EPS),
                                       weights=w)
        f_cdf = np.cumsum(f_hist) / max(f_hist.sum(), _EPS)
        t_cdf = np.cumsum(t_hist) / max(t_hist.sum(), _EPS)
        tables[c] = np.interp(f_cdf, t_cdf, t_edges[1:])
    return tables


def _lookup(x: np.ndarray, first: float, step: float, table: np.ndarray) -> np.ndarray:
    """Linear interpolation in ``table`` sampled at ``first + i·step`` (clamped at the ends)."""
    pos = (x - np.float32(first)) * np.float32(1.0 / step)
    np.clip(pos, 0, len(table) - 1, out=pos)
    index = np.minimum(pos.astype(np.int32), len(table) - 2)
    pos -= index
    low = table[index]
    return low + pos * (table[index + 1] - low)


def _membrane(face: np.ndarray, target: np.ndarray, weight: np.ndarray,
              finite: np.ndarray | None = None, coarse: int = 64) -> np.ndarray:
    """The ``seamless`` mode: a Poisson (gradient-domain) clone in float that keeps the face's
    gradients and takes the plate's values on the mask boundary.

    With the face's own gradients as the guidance field the solution is the face plus a
    harmonic membrane that interpolates ``target − face`` from the boundary. The membrane is
    smooth, so it is solved (and returned) on a grid of at most ``coarse`` pixels a side and
    upsampled when applied: a few milliseconds, and unlike ``cv2.seamlessClone`` it keeps
    float and values above 1.0.

    ``finite`` (H×W, None: everywhere) says which samples hold values: the coarse grid's
    ``target − face`` is averaged over those only, and a cell with none of them is solved for
    like the face's own cells (no correction where it meets the grid's border).
    """
    h, w = weight.shape
    step = max(1, int(np.ceil(max(h, w) / coarse)))
    size = (max(2, w // step), max(2, h // step))

    def small(x: np.ndarray) -> np.ndarray:
        return cv2.resize(np.ascontiguousarray(x, np.float32), size, interpolation=cv2.INTER_AREA)

    if finite is None:
        diff = small(target) - small(face)
        inside = small(weight) > 0.5
    else:
        have = small(finite.astype(np.float32))
        known = have > 1e-3
        diff = (small((target - face) * finite[..., None])
                / np.maximum(have, 1e-3)[..., None]) * known[..., None]
        inside = (small(weight) > 0.5) | ~known
    inside[0, :] = inside[-1, :] = inside[:, 0] = inside[:, -1] = False
    membrane = diff.copy()
    ys, xs = np.nonzero(inside)
    if len(ys):
        membrane[ys, xs] = _solve_membrane(diff, inside, ys, xs)
    return membrane


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
