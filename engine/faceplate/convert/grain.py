"""The plate's film grain or sensor noise near one face: measured, and made again for the swap.

A swapped face is a clean network render; on a grainy plate it reads as pasted on. The merge
measures the grain of the plate around each face (:func:`measure`) and adds new grain of the
same character to the swap (:func:`synthesize`).

The grain model (:class:`Grain`): Gaussian white noise, mixed across channels (their
correlation), filtered by a Gaussian of sigma ``size`` plate pixels and scaled per pixel by a
standard deviation per channel that depends on that channel's own low-passed value (shot noise
and a film's dye layers rise with their own exposure, so on skin red grain is not blue's): its
variance a non-negative a + b·v + c·v² (read noise, shot noise, multiplicative grain) fitted
over brightness bands (:data:`MODEL`), piecewise-linear between the band centres.

Measuring: the box holds the face, hair and background edges, not only grain, so a plain
high-pass std reads texture as grain. :func:`measure` takes the high-pass residual (the image
minus a Gaussian low-pass, :data:`HIGHPASS_SIGMA`), its energy over small square tiles, and in
each brightness band (of the tiles' mean of channels; a large box is measured on a bounded grid
of patches, :data:`MEASURE_SIDE`) a low quantile of the tiles' energies: the flattest tiles, where there is
grain and little else. The same estimator run on synthetic unit grain of each candidate size
(:func:`_calibration`, computed once) turns that statistic into the grain's std, so the
filter's attenuation and the quantile's bias cancel. The size comes the same way from the ratio
of the residual's neighbour-difference energy to its energy on those tiles (fine grain has
more of its energy between neighbours), matched against the calibration.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

# Gaussian sigma (plate px) of the low-pass whose value (per channel) picks a pixel's grain
# amplitude in that channel.
LUMINANCE_SIGMA = 1.5
# Gaussian sigma (plate px) of the low-pass the grain residual is taken against.
HIGHPASS_SIGMA = 1.5
# Gaussian sigma (plate px) of the next band down, whose energy says which tiles are flat.
COARSE_SIGMA = 3.0
# Side (plate px) of the square tiles whose residual energy is compared.
TILE = 12
# The share of each band's tiles (the flattest) whose energy is taken as grain.
QUANTILE = 0.2
# Fewer measurable tiles per band than this and the band is merged with others; fewer than this
# in all and there is no measurement.
MIN_TILES = 12
# The grain sizes (Gaussian sigma, plate px) the measurement can tell apart.
SIZES = tuple(float(s) for s in np.round(np.arange(0.0, 3.01, 0.1), 2))
# A box larger than this (px a side) is measured on a grid of PATCHES × PATCHES patches spread
# over it, MEASURE_SIDE / PATCHES px a side each: the statistics do not need every tile, and the
# merge measures every face of every frame.
MEASURE_SIDE = 384
PATCHES = 3
# Context (px) each patch is filtered with: the residual's and the low-pass's reach.
_HALO = 18
_CALIBRATION_SIDE = 768


@dataclass(frozen=True)
class Grain:
    """The plate's grain near one face."""

    size: float  # Gaussian sigma (plate px) of the grain's spatial correlation; 0 = white
    levels: np.ndarray  # (B, C) band centres: each channel's low-passed plate value
    sigma: np.ndarray  # (B, C) grain std per brightness band per channel (plate values)
    mixing: np.ndarray  # (C, C) lower-triangular Cholesky factor of the channels' correlation

    @property
    def channels(self) -> int:
        return int(self.sigma.shape[1])

    def amplitude(self, low: np.ndarray) -> np.ndarray:
        """H×W×C low-passed image (:func:`low_pass`) → H×W×C grain std at each pixel. Each
        channel's variance is piecewise-linear in that channel's own value between its band
        centres (exact for shot noise, whose variance rises linearly with exposure), clamped
        at the ends."""
        low = as_planes(low)
        if low.shape[2] != self.channels:
            raise ValueError(f"the grain has {self.channels} channels, the image {low.shape[2]}")
        out = np.empty(low.shape, np.float32)
        levels = np.asarray(self.levels, np.float64).reshape(-1, self.channels)
        variance = np.square(np.asarray(self.sigma, np.float64))
        for c in range(self.channels):
            order = np.argsort(levels[:, c], kind="stable")
            out[..., c] = np.interp(low[..., c], levels[order, c], variance[order, c])
        return np.sqrt(out, out=out)

    def scaled(self, amount: float = 1.0, size: float = 0.0) -> Grain:
        """This grain with its std multiplied by ``amount``; ``size`` > 0 overrides its size."""
        return Grain(size=float(size) if size > 0 else self.size, levels=self.levels,
                     sigma=self.sigma * float(amount), mixing=self.mixing)

    def to_dict(self) -> dict:
        """JSON-able and rounded (frame metadata ``faceplate/grain``): ``levels`` and
        ``sigma`` are a list per band of per-channel values."""

        def r(values: np.ndarray) -> list:
            return [float(f"{v:.4g}") for v in np.asarray(values, np.float64).ravel()]

        return {"size": round(float(self.size), 2), "levels": [r(row) for row in self.levels],
                "sigma": [r(row) for row in self.sigma],
                "mixing": [[round(float(v), 3) for v in row] for row in self.mixing]}


def low_pass(image: np.ndarray) -> np.ndarray:
    """H×W×C → H×W×C float32: each channel Gaussian low-passed (:data:`LUMINANCE_SIGMA`); what
    picks a pixel's grain amplitude in each channel, on the plate when measuring and on the
    swap when synthesizing."""
    image = np.ascontiguousarray(as_planes(image))
    out = cv2.GaussianBlur(image, (0, 0), LUMINANCE_SIGMA, borderType=cv2.BORDER_REFLECT)
    return out.reshape(image.shape)


def amplitude_map(grain: Grain, image: np.ndarray) -> np.ndarray:
    """``grain.amplitude(low_pass(image))``, computed cheaply: the low-pass and the amplitude on
    an image a quarter the size (the amplitude is smooth), interpolated back up."""
    image = as_planes(image)
    h, w, c = image.shape
    # A quarter the size: on the camera-shot round trip as accurate as the full low-pass.
    f = 4
    if min(h, w) < 16 * f:
        return grain.amplitude(low_pass(image))
    small = cv2.resize(image, ((w + f - 1) // f, (h + f - 1) // f), interpolation=cv2.INTER_AREA)
    # The box average already blurred by √((f²−1)/12) px; the rest of the Gaussian, small px
    # (at least a quarter of one: the linear interpolation back up smooths a little more).
    rest = max(np.sqrt(max(LUMINANCE_SIGMA ** 2 - (f * f - 1) / 12.0, 0.0)), 1.0) / f
    small = cv2.GaussianBlur(small, (0, 0), rest, borderType=cv2.BORDER_REFLECT)
    amp = grain.amplitude(small.reshape(small.shape[0], small.shape[1], c))
    up = cv2.resize(amp, (w, h), interpolation=cv2.INTER_LINEAR)
    return up.reshape(h, w, c)


def grain_kernel(size: float) -> np.ndarray:
    """The 1-D Gaussian (sigma ``size`` px, sum 1) the grain's white noise is filtered with;
    ``[1]`` for white grain."""
    if size < 0.05:
        return np.ones(1, np.float32)
    radius = max(1, int(np.ceil(4.0 * size)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / size) ** 2)
    return (k / k.sum()).astype(np.float32)


def unit_grain(shape: tuple[int, int, int], size: float, mixing: np.ndarray | None,
               rng: np.random.Generator) -> np.ndarray:
    """H×W×C grain of std 1 per channel, spatial size ``size``, channel correlation
    ``mixing @ mixing.T`` (None: independent)."""
    noise = rng.standard_normal(shape, dtype=np.float32)
    if mixing is not None and not np.allclose(mixing, np.eye(shape[2])):
        m = np.asarray(mixing, np.float32)
        mixed = (cv2.transform(noise, m) if shape[2] <= 4 else noise @ m.T)
        noise = np.ascontiguousarray(mixed, np.float32).reshape(shape)
    k = grain_kernel(size)
    if k.size == 1:
        return noise
    # Filtered white noise of std 1 has std sqrt(sum of the 2-D kernel's squares) = sum(k²).
    gain = float(np.sum(k.astype(np.float64) ** 2))
    out = cv2.sepFilter2D(noise, cv2.CV_32F, k, k, borderType=cv2.BORDER_REFLECT)
    out *= np.float32(1.0 / gain)
    return out.reshape(shape)


def synthesize(grain: Grain, base: np.ndarray, seed: Sequence[int]) -> np.ndarray:
    """New grain (H×W×C float32, zero mean) for ``base`` (H×W×C; each channel's low-passed
    value picks that channel's amplitude at each pixel) with ``grain``'s size, per-channel per-band std and channel
    correlation. Bit-identical for the same ``seed`` (an SFC64 generator seeded with it)."""
    base = as_planes(base)
    h, w, c = base.shape
    if c != grain.channels:
        raise ValueError(f"the grain has {grain.channels} channels, the image {c}")
    # SFC64: the same Gaussians a third quicker than the default PCG64 (the merge makes grain
    # for every face of every frame).
    rng = np.random.Generator(np.random.SFC64(list(seed)))
    noise = unit_grain((h, w, c), grain.size, grain.mixing, rng)
    noise *= amplitude_map(grain, base)
    return noise


# --- measuring ----------------------------------------------------------------------------------


def as_planes(image: np.ndarray) -> np.ndarray:
    """``image`` as float32 H×W×C (an H×W one as a single plane)."""
    image = np.asarray(image, np.float32)
    return image[..., None] if image.ndim == 2 else image


def _tiles(values: np.ndarray, tile: int) -> np.ndarray:
    """H×W×K → (n, K) tile means over the tile grid (the image cropped to whole tiles)."""
    h, w = values.shape[0] // tile, values.shape[1] // tile
    k = values.shape[2] if values.ndim == 3 else 1
    if h == 0 or w == 0:
        return np.zeros((0, k))
    v = np.ascontiguousarray(values[:h * tile, :w * tile], np.float32)
    # An area resize by a whole factor is the tiles' exact means, and many times quicker than
    # numpy's strided mean.
    means = cv2.resize(v, (w, h), interpolation=cv2.INTER_AREA)
    return means.reshape(h * w, k).astype(np.float64)


@dataclass
class _Residual:
    energy: np.ndarray  # (n, C) tile mean of the high-pass residual's square
    neighbours: np.ndarray  # (n, C) tile mean of its squared right and down neighbour differences
    coarse: np.ndarray  # (n, C) tile mean of the next band's square (what picks flat tiles)
    keep: np.ndarray  # (n,) bool: tiles wholly inside the measured pixels
    residual: np.ndarray  # (n, TILE², C) the high-pass residual's pixels in each tile
    low: np.ndarray  # (n, C) tile mean of the low-passed image (:func:`low_pass`)


def _tile_pixels(values: np.ndarray, tile: int) -> np.ndarray:
    """H×W×C → (n, tile², C): each whole tile's pixels."""
    h, w = values.shape[0] // tile, values.shape[1] // tile
    c = values.shape[2]
    v = values[:h * tile, :w * tile].reshape(h, tile, w, tile, c).transpose(0, 2, 1, 3, 4)
    return v.reshape(h * w, tile * tile, c)


def _residual(image: np.ndarray, where: np.ndarray | None,
              inner: tuple[int, int, int, int] | None = None) -> _Residual:
    """The tile statistics of ``image`` (filtered whole) over the tiles of ``inner`` (y0, y1,
    x0, x1; None: all of it)."""
    image = np.ascontiguousarray(as_planes(image))
    c = image.shape[2]
    low = cv2.GaussianBlur(image, (0, 0), HIGHPASS_SIGMA, borderType=cv2.BORDER_REFLECT)
    lower = cv2.GaussianBlur(low, (0, 0), COARSE_SIGMA, borderType=cv2.BORDER_REFLECT)
    low = low.reshape(image.shape)
    lower = lower.reshape(image.shape)
    y0, y1, x0, x1 = inner if inner is not None else (0, image.shape[0], 0, image.shape[1])
    # The tiles' pixels plus one row and column past them, for the neighbour differences.
    ye, xe = min(y1 + 1, image.shape[0]), min(x1 + 1, image.shape[1])
    r = image[y0:ye, x0:xe] - low[y0:ye, x0:xe]
    band = low[y0:y1, x0:x1] - lower[y0:y1, x0:x1]
    dx = np.empty_like(r)
    dx[:, :-1] = r[:, 1:] - r[:, :-1]
    dx[:, -1] = dx[:, -2] if r.shape[1] > 1 else 0.0
    dy = np.empty_like(r)
    dy[:-1] = r[1:] - r[:-1]
    dy[-1] = dy[-2] if r.shape[0] > 1 else 0.0
    r, dx, dy = r[:y1 - y0, :x1 - x0], dx[:y1 - y0, :x1 - x0], dy[:y1 - y0, :x1 - x0]
    energy = _tiles(r * r, TILE)
    neighbours = _tiles(0.5 * (dx * dx + dy * dy), TILE)
    coarse = _tiles(band * band, TILE)
    if inner is None:
        smooth = low_pass(image)
    else:
        # The low-pass's reach is inside the halo: filter only around the tiles.
        reach = int(np.ceil(4 * LUMINANCE_SIGMA))
        a, b = max(y0 - reach, 0), min(y1 + reach, image.shape[0])
        e, f = max(x0 - reach, 0), min(x1 + reach, image.shape[1])
        smooth = low_pass(image[a:b, e:f])[y0 - a:y1 - a, x0 - e:x1 - e]
    lows = _tiles(smooth[:y1 - y0, :x1 - x0], TILE)
    if where is None:
        keep = np.ones(energy.shape[0], bool)
    else:
        inside = np.asarray(where, bool)[y0:y1, x0:x1].astype(np.float32)[..., None]
        keep = _tiles(inside, TILE)[:, 0] > 0.999
    return _Residual(energy.reshape(-1, c), neighbours.reshape(-1, c), coarse.reshape(-1, c),
                     keep, _tile_pixels(r, TILE), lows.reshape(-1, c))


def _patches(h: int, w: int) -> list[tuple[int, int, int, int]]:
    """The measured parts (y0, y1, x0, x1) of an h×w box: all of it when it is small, else
    :data:`PATCHES` × :data:`PATCHES` patches spread evenly over it (deterministic)."""
    if h <= MEASURE_SIDE and w <= MEASURE_SIDE:
        return [(0, h, 0, w)]

    def spans(n: int) -> list[tuple[int, int]]:
        if n <= MEASURE_SIDE:
            return [(0, n)]
        side = max(TILE, (MEASURE_SIDE // PATCHES) // TILE * TILE)
        starts = np.linspace(0, n - side, PATCHES).round().astype(int)
        return [(int(s), int(s) + side) for s in starts]

    return [(a, b, e, f) for a, b in spans(h) for e, f in spans(w)]


def _measure_tiles(region: np.ndarray, where: np.ndarray | None) -> _Residual:
    """:func:`_residual` over :func:`_patches` of ``region``, each filtered with its context."""
    h, w = region.shape[:2]
    parts = _patches(h, w)
    if len(parts) == 1:
        return _residual(region, where)
    found = []
    for y0, y1, x0, x1 in parts:
        a, b = max(y0 - _HALO, 0), min(y1 + _HALO, h)
        e, f = max(x0 - _HALO, 0), min(x1 + _HALO, w)
        sub_where = None if where is None else np.asarray(where)[a:b, e:f]
        found.append(_residual(region[a:b, e:f], sub_where, (y0 - a, y1 - a, x0 - e, x1 - e)))
    return _Residual(*(np.concatenate([getattr(r, k) for r in found])
                       for k in ("energy", "neighbours", "coarse", "keep", "residual", "low")))


def _flattest(select: np.ndarray, group: np.ndarray) -> np.ndarray:
    """The share :data:`QUANTILE` of ``group``'s tiles with the least ``select``."""
    count = max(1, round(QUANTILE * group.size))
    return group[np.argsort(select[group], kind="stable")[:count]]


@functools.lru_cache(maxsize=1)
def _calibration() -> tuple[np.ndarray, np.ndarray]:
    """For each of :data:`SIZES`: what unit grain reads as through the estimator (the mean
    residual energy of its flattest tiles) and its neighbour / residual energy ratio there."""
    rng = np.random.default_rng(20240607)
    side = _CALIBRATION_SIDE
    white = rng.standard_normal((side, side), dtype=np.float32)
    energy, ratio = [], []
    for size in SIZES:
        k = grain_kernel(size)
        g = white if k.size == 1 else cv2.sepFilter2D(
            white, cv2.CV_32F, k, k, borderType=cv2.BORDER_REFLECT) / float(np.sum(
                k.astype(np.float64) ** 2))
        res = _residual(g, None)
        flat = _flattest(res.coarse[:, 0], np.arange(len(res.coarse)))
        energy.append(float(res.energy[flat, 0].mean()))
        ratio.append(float(res.neighbours[flat, 0].sum() / res.energy[flat, 0].sum()))
    return np.array(energy), np.array(ratio)


def _size_from_ratio(ratio: float) -> float:
    _, ratios = _calibration()
    # The ratio falls as the grain grows; np.interp wants rising abscissae.
    return float(np.interp(ratio, ratios[::-1], np.array(SIZES)[::-1]))


def _unit_energy(size: float) -> float:
    energies, _ = _calibration()
    return float(np.interp(size, SIZES, energies))


def _bands(lum: np.ndarray, bands: int) -> list[np.ndarray]:
    """Tile indices split into ``bands`` groups of (nearly) equal count by luminance."""
    order = np.argsort(lum, kind="stable")
    return [part for part in np.array_split(order, bands) if part.size]


# How each channel's variance is modelled against its value: "bands" (the measured variance of
# each band, piecewise-linear between them) or "fit" (a non-negative a + b·v + c·v², read noise
# + shot noise + multiplicative grain, fitted to :data:`FIT_BANDS` bands' measurements and read
# at their centres).
MODEL = "fit"
FIT_BANDS = 8


def measure(region: np.ndarray, where: np.ndarray | None = None, bands: int | None = None
            ) -> Grain | None:
    """The grain of ``region`` (H×W×C float32 plate values) measured on the pixels ``where`` is
    true (None: all). ``bands``: how many brightness bands (None: the model's own). None when
    there are too few pixels to tell."""
    region = as_planes(region)
    c = region.shape[2]
    if bands is None:
        bands = FIT_BANDS if MODEL == "fit" else 4
    res = _measure_tiles(region, where)
    keep = (res.keep & np.all(np.isfinite(res.energy), axis=1)
            & np.all(np.isfinite(res.low), axis=1))
    n = int(keep.sum())
    bands = min(int(bands), n // MIN_TILES)
    if bands < 1:
        return None
    energy, neighbours, coarse = res.energy[keep], res.neighbours[keep], res.coarse[keep]
    low = res.low[keep]
    groups = _bands(low.mean(axis=1), bands)
    # Per band and channel the flattest tiles; the band's measurement is the grain where they
    # sit (that channel's mean value there: the grain's amplitude varies within a band, and a
    # band can hold clipped blacks with no grain at all).
    stat = np.zeros((len(groups), c))
    at = np.zeros((len(groups), c))
    ratio = np.zeros((len(groups), c))
    for b, g in enumerate(groups):
        for ch in range(c):
            sel = _flattest(coarse[:, ch], g)
            stat[b, ch] = float(np.mean(energy[sel, ch]))
            at[b, ch] = float(np.mean(low[sel, ch]))
            ratio[b, ch] = neighbours[sel, ch].sum() / max(energy[sel, ch].sum(), 1e-30)
    size = _size_from_ratio(_pooled_ratio(ratio, stat))
    variance = np.maximum(stat, 0.0) / _unit_energy(size)
    if MODEL == "fit" and len(groups) >= 3:
        variance = np.stack([_fit(at[:, ch], variance[:, ch]) for ch in range(c)], axis=1)
    together = coarse / np.maximum(coarse.mean(axis=0), 1e-30)
    chosen = np.concatenate([_flattest(together.mean(axis=1), g) for g in groups])
    mixing = _mixing(res.residual[np.flatnonzero(keep)[chosen]], c)
    return Grain(size=size, levels=at, sigma=np.sqrt(variance), mixing=mixing)


def _pooled_ratio(ratio: np.ndarray, stat: np.ndarray) -> float:
    """The neighbour / residual energy ratio of the grain: the bands' and channels' ratios
    weighed by their energy (the face's own texture, smoother than grain, lowers a band's
    ratio most where there is little grain: in the dark)."""
    return float(np.sum(ratio * stat) / max(float(np.sum(stat)), 1e-30))



def _fit(value: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """The non-negative a + b·v + c·v² nearest ``variance`` at ``value`` (relative error:
    each band weighs by its own variance), read at ``value``."""
    from scipy.optimize import nnls

    v = np.maximum(np.asarray(value, np.float64), 0.0)
    scale = max(float(v.max()), 1e-12)
    x = v / scale
    design = np.stack([np.ones_like(x), x, x * x], axis=1)
    weight = np.maximum(variance, 1e-3 * max(float(variance.max()), 1e-30)) ** -1.0
    coef, _ = nnls(design * weight[:, None], variance * weight)
    return design @ coef


def _mixing(tiles: np.ndarray, c: int) -> np.ndarray:
    """The Cholesky factor of the channel correlation of the residual's pixels in ``tiles``
    ((n, TILE², C))."""
    if c == 1:
        return np.eye(1)
    samples = tiles.reshape(-1, c).astype(np.float64)
    cov = samples.T @ samples / max(len(samples), 1)
    d = np.sqrt(np.maximum(np.diag(cov), 1e-30))
    corr = np.clip(cov / np.outer(d, d), -1.0, 1.0)
    np.fill_diagonal(corr, 1.0)
    # Keep it positive definite (fully correlated channels, e.g. a grey plate as RGB).
    vals, vecs = np.linalg.eigh(corr)
    corr = (vecs * np.maximum(vals, 1e-4)) @ vecs.T
    d = np.sqrt(np.diag(corr))
    corr = corr / np.outer(d, d)
    return np.linalg.cholesky(corr)
