"""The figures that compare a merged face to the plate it went into: is its grain the plate's,
is it as soft, how long a motion blur is. One implementation, for the tests, ``bench/convert.py
--match`` and the QC report.

Grain is measured frame to frame (:func:`temporal_grain`): on a still (or stabilised) face the
difference of consecutive frames holds only the two frames' grain, not the face's texture, so
it is a measurement independent of :func:`~.grain.measure`'s single-frame estimate.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import cv2
import numpy as np

from . import softness
from .grain import as_planes, low_pass


def temporal_grain(frames: Sequence[np.ndarray], weight: np.ndarray,
                   edges: np.ndarray | None = None, bands: int = 3,
                   banding: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Grain measured frame to frame: the std of consecutive frames' differences / √2, per
    brightness band (of the frames' mean, low-passed luminance; quantile bands of the pixels
    inside ``weight`` unless ``edges`` is given) per channel → (edges (B+1,), (B, C) std).
    Pixels weigh by ``weight`` (H×W, 0–1). A band with no pixels reads NaN. ``banding``: an
    H×W×C image whose brightness bands the pixels instead (e.g. the frames before a
    high-pass)."""
    stack = [as_planes(f) for f in frames]
    if len(stack) < 2:
        raise ValueError("temporal grain needs at least two frames")
    w = np.asarray(weight, np.float32)
    lum = low_pass(np.mean(stack, axis=0) if banding is None else as_planes(banding)).mean(axis=2)
    if edges is None:
        inside = lum[w > 0]
        edges = np.quantile(inside, np.linspace(0.0, 1.0, bands + 1))
    edges = np.asarray(edges, np.float64)
    count = len(edges) - 1
    band = np.clip(np.searchsorted(edges[1:-1], lum, side="right"), 0, count - 1)
    c = stack[0].shape[2]
    sq = np.zeros((*lum.shape, c), np.float64)
    for a, b in itertools.pairwise(stack):
        d = (b - a).astype(np.float64)
        sq += d * d
    sq /= 2.0 * (len(stack) - 1)
    std = np.full((count, c), np.nan)
    for i in range(count):
        wb = w * (band == i)
        total = float(wb.sum())
        if total > 0:
            std[i] = np.sqrt(np.einsum("hw,hwc->c", wb, sq) / total)
    return edges, std


def grain_ratio(merged: Sequence[np.ndarray], plate: Sequence[np.ndarray], weight: np.ndarray,
                bands: int = 3) -> np.ndarray:
    """(B, C) the merged frames' temporal grain over the plate's, in the same brightness bands
    (their edges taken from the plate)."""
    edges, plate_std = temporal_grain(plate, weight, bands=bands)
    _, merged_std = temporal_grain(merged, weight, edges=edges)
    return merged_std / np.maximum(plate_std, 1e-30)


def sharpness_ratio(merged: np.ndarray, plate: np.ndarray, weight: np.ndarray) -> float:
    """:func:`~.softness.sharpness` of each (no grain removal), merged / plate."""
    m = softness.sharpness(softness.luminance(merged), weight)
    p = softness.sharpness(softness.luminance(plate), weight)
    return m / max(p, 1e-30)


def focus_ratio(merged: np.ndarray, plate: np.ndarray, weight: np.ndarray) -> float | None:
    """:func:`~.softness.edge_blur` of each, merged / plate: how far the merged face's edges
    spread against the plate's (1: the same focus), whatever the faces' content; None when
    either has too few edges to tell."""
    m = softness.edge_blur(merged, weight)
    p = softness.edge_blur(plate, weight)
    return None if m is None or p is None or p <= 0 else m / p


def line_kernel(length: float, direction: tuple[float, float]) -> np.ndarray:
    """The normalised kernel of a box blur ``length`` px long along ``direction`` (x right,
    y down), anti-aliased: points along the segment splatted bilinearly."""
    dx, dy = direction
    norm = float(np.hypot(dx, dy)) or 1.0
    dx, dy = dx / norm, dy / norm
    radius = int(np.ceil(length / 2.0)) + 1
    side = 2 * radius + 1
    kernel = np.zeros((side, side), np.float64)
    if length <= 1e-6:
        kernel[radius, radius] = 1.0
        return kernel.astype(np.float32)
    n = max(16, int(np.ceil(length * 8)))
    t = (np.arange(n) + 0.5) / n - 0.5
    x, y = radius + t * length * dx, radius + t * length * dy
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    for ox, oy, wt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                       (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(kernel, (y0 + oy, x0 + ox), wt)
    return (kernel / kernel.sum()).astype(np.float32)


def blur_length(blurred: np.ndarray, sharp: np.ndarray, direction: tuple[float, float],
                weight: np.ndarray, longest: float = 64.0) -> float:
    """The length (px) of a box blur along ``direction`` (unit vector, x right / y down) that
    best turns ``sharp`` into ``blurred`` inside ``weight`` (least squares over lengths
    0–``longest``: whole pixels, then a golden-section search around the best)."""
    target, source = as_planes(blurred), np.ascontiguousarray(as_planes(sharp))
    w = np.asarray(weight, np.float32)[..., None]

    def error(length: float) -> float:
        k = line_kernel(length, direction)
        out = cv2.filter2D(source, cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT)
        d = out.reshape(target.shape) - target
        return float(np.sum(w * d * d, dtype=np.float64))

    lengths = np.arange(0.0, float(longest) + 1.0)
    errors = [error(float(x)) for x in lengths]
    best = int(np.argmin(errors))
    low, high = max(0.0, lengths[best] - 1.0), min(float(longest), lengths[best] + 1.0)
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = error(a), error(b)
    while high - low > 0.02:
        if fa < fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = error(a)
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = error(b)
    return float(0.5 * (low + high))
