"""The plate's film grain or sensor noise near one face: measured, and made again for the swap.

A swapped face is a clean network render; on a grainy plate it reads as pasted on. The merge
measures the grain of the plate around each face (:func:`measure`) and adds new grain of the
same character to the swap (:func:`synthesize`).

The grain model (:class:`Grain`): Gaussian white noise, mixed across channels (their
correlation), filtered by a Gaussian of sigma ``size`` plate pixels and scaled per pixel by a
standard deviation per channel that depends on the image's low-passed luminance (grain in linear
light rises with exposure), piecewise-linear between a few brightness band centres.

Measuring: the box holds the face, hair and background edges, not only grain, so a plain
high-pass std reads texture as grain. :func:`measure` takes the high-pass residual (the image
minus a Gaussian low-pass, :data:`HIGHPASS_SIGMA`), its energy over small square tiles, and in
each brightness band a low quantile of the tiles' energies: the flattest tiles, where there is
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

# Gaussian sigma (plate px) of the low-pass whose luminance picks a pixel's grain amplitude.
LUMINANCE_SIGMA = 3.0
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
_CALIBRATION_SIDE = 768


@dataclass(frozen=True)
class Grain:
    """The plate's grain near one face."""

    size: float  # Gaussian sigma (plate px) of the grain's spatial correlation; 0 = white
    levels: np.ndarray  # (B,) band centres: luminance (mean of channels) of the low-passed plate
    sigma: np.ndarray  # (B, C) grain std per brightness band per channel (plate values)
    mixing: np.ndarray  # (C, C) lower-triangular Cholesky factor of the channels' correlation

    @property
    def channels(self) -> int:
        return int(self.sigma.shape[1])

    def amplitude(self, luminance: np.ndarray) -> np.ndarray:
        """H×W low-passed luminance → H×W×C grain std at each pixel. The variance is
        piecewise-linear in luminance between the band centres (exact for shot noise, whose
        variance rises linearly with exposure), clamped at the ends."""
        lum = np.asarray(luminance, np.float32)
        out = np.empty((*lum.shape, self.channels), np.float32)
        variance = np.square(self.sigma)
        for c in range(self.channels):
            out[..., c] = np.interp(lum, self.levels, variance[:, c])
        return np.sqrt(out, out=out)

    def scaled(self, amount: float = 1.0, size: float = 0.0) -> Grain:
        """This grain with its std multiplied by ``amount``; ``size`` > 0 overrides its size."""
        return Grain(size=float(size) if size > 0 else self.size, levels=self.levels,
                     sigma=self.sigma * float(amount), mixing=self.mixing)

    def to_dict(self) -> dict:
        """JSON-able and rounded (frame metadata ``faceplate/grain``)."""

        def r(values: np.ndarray) -> list:
            return [float(f"{v:.4g}") for v in np.asarray(values, np.float64).ravel()]

        return {"size": round(float(self.size), 2), "levels": r(self.levels),
                "sigma": [r(row) for row in self.sigma],
                "mixing": [[round(float(v), 3) for v in row] for row in self.mixing]}


def low_luminance(image: np.ndarray) -> np.ndarray:
    """H×W×C → H×W: the mean of the channels, Gaussian low-passed (:data:`LUMINANCE_SIGMA`);
    what picks a pixel's grain amplitude, on the plate when measuring and on the swap when
    synthesizing."""
    image = _hwc(image)
    lum = np.ascontiguousarray(image.mean(axis=2, dtype=np.float32))
    return cv2.GaussianBlur(lum, (0, 0), LUMINANCE_SIGMA, borderType=cv2.BORDER_REFLECT)


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
        noise = np.ascontiguousarray(noise @ np.asarray(mixing, np.float32).T)
    k = grain_kernel(size)
    if k.size == 1:
        return noise
    # Filtered white noise of std 1 has std sqrt(sum of the 2-D kernel's squares) = sum(k²).
    gain = float(np.sum(k.astype(np.float64) ** 2))
    out = cv2.sepFilter2D(noise, cv2.CV_32F, k, k, borderType=cv2.BORDER_REFLECT)
    out *= np.float32(1.0 / gain)
    return out.reshape(shape)


def synthesize(grain: Grain, base: np.ndarray, seed: Sequence[int]) -> np.ndarray:
    """New grain (H×W×C float32, zero mean) for ``base`` (H×W×C; its low-passed luminance picks
    each pixel's amplitude) with ``grain``'s size, per-channel per-band std and channel
    correlation. Bit-identical for the same ``seed`` (``np.random.default_rng(seed)``)."""
    base = _hwc(base)
    h, w, c = base.shape
    if c != grain.channels:
        raise ValueError(f"the grain has {grain.channels} channels, the image {c}")
    rng = np.random.default_rng(list(seed))
    noise = unit_grain((h, w, c), grain.size, grain.mixing, rng)
    noise *= grain.amplitude(low_luminance(base))
    return noise


# --- measuring ----------------------------------------------------------------------------------


def _hwc(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, np.float32)
    return image[..., None] if image.ndim == 2 else image


def _tiles(values: np.ndarray, tile: int) -> np.ndarray:
    """H×W×K → (n, K) tile means over the tile grid (the image cropped to whole tiles)."""
    h, w = values.shape[0] // tile, values.shape[1] // tile
    v = values[:h * tile, :w * tile].reshape(h, tile, w, tile, -1)
    return v.mean(axis=(1, 3), dtype=np.float64).reshape(h * w, -1)


@dataclass
class _Residual:
    energy: np.ndarray  # (n, C) tile mean of the high-pass residual's square
    neighbours: np.ndarray  # (n, C) tile mean of its squared right and down neighbour differences
    coarse: np.ndarray  # (n, C) tile mean of the next band's square (what picks flat tiles)
    keep: np.ndarray  # (n,) bool: tiles wholly inside the measured pixels
    residual: np.ndarray  # H×W×C the high-pass residual


def _residual(image: np.ndarray, where: np.ndarray | None) -> _Residual:
    image = np.ascontiguousarray(_hwc(image))
    c = image.shape[2]
    low = cv2.GaussianBlur(image, (0, 0), HIGHPASS_SIGMA, borderType=cv2.BORDER_REFLECT)
    lower = cv2.GaussianBlur(low, (0, 0), COARSE_SIGMA, borderType=cv2.BORDER_REFLECT)
    low = low.reshape(image.shape)
    r = image - low
    band = low - lower.reshape(image.shape)
    dx = np.zeros_like(r)
    dx[:, :-1] = r[:, 1:] - r[:, :-1]
    dx[:, -1] = dx[:, -2] if r.shape[1] > 1 else 0.0
    dy = np.zeros_like(r)
    dy[:-1] = r[1:] - r[:-1]
    dy[-1] = dy[-2] if r.shape[0] > 1 else 0.0
    energy = _tiles(r * r, TILE)
    neighbours = _tiles(0.5 * (dx * dx + dy * dy), TILE)
    coarse = _tiles(band * band, TILE)
    if where is None:
        keep = np.ones(energy.shape[0], bool)
    else:
        inside = np.asarray(where, bool).astype(np.float32)[..., None]
        keep = _tiles(inside, TILE)[:, 0] > 0.999
    return _Residual(energy.reshape(-1, c), neighbours.reshape(-1, c), coarse.reshape(-1, c),
                     keep, r)


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


def measure(region: np.ndarray, where: np.ndarray | None = None, bands: int = 4
            ) -> Grain | None:
    """The grain of ``region`` (H×W×C float32 plate values) measured on the pixels ``where`` is
    true (None: all). None when there are too few pixels to tell."""
    region = _hwc(region)
    c = region.shape[2]
    res = _residual(region, where)
    lum_tiles = _tiles(low_luminance(region)[..., None], TILE)[:, 0]
    keep = res.keep & np.all(np.isfinite(res.energy), axis=1) & np.isfinite(lum_tiles)
    n = int(keep.sum())
    bands = min(int(bands), n // MIN_TILES)
    if bands < 1:
        return None
    energy, neighbours, coarse = res.energy[keep], res.neighbours[keep], res.coarse[keep]
    lum = lum_tiles[keep]
    groups = _bands(lum, bands)
    band_of = np.empty(n, int)
    for b, g in enumerate(groups):
        band_of[g] = b
    # Per band and channel the flattest tiles; the band's measurement is the grain where they
    # sit (their mean luminance: the grain's amplitude varies within a band, and a band can hold
    # clipped blacks with no grain at all).
    stat = np.zeros((len(groups), c))
    at = np.zeros((len(groups), c))
    ratio = np.zeros((len(groups), c))
    for b, g in enumerate(groups):
        for ch in range(c):
            sel = _flattest(coarse[:, ch], g)
            stat[b, ch] = float(np.mean(energy[sel, ch]))
            at[b, ch] = float(np.mean(lum[sel]))
            ratio[b, ch] = neighbours[sel, ch].sum() / max(energy[sel, ch].sum(), 1e-30)
    size = _size_from_ratio(float(np.median(ratio)))
    variance = np.maximum(stat, 0.0) / _unit_energy(size)
    levels = at.mean(axis=1)
    if c > 1:
        # Each channel's variance, piecewise-linear in luminance, read at the shared levels.
        variance = np.stack([np.interp(levels, at[:, ch], variance[:, ch])
                             if np.all(np.diff(at[:, ch]) > 0) else variance[:, ch]
                             for ch in range(c)], axis=1)
    together = coarse / np.maximum(coarse.mean(axis=0), 1e-30)
    chosen = np.concatenate([_flattest(together.mean(axis=1), g) for g in groups])
    mixing = _mixing(res.residual, chosen, keep, c)
    levels, sigma = _merge_equal(levels, np.sqrt(variance))
    return Grain(size=size, levels=levels, sigma=sigma.astype(np.float64), mixing=mixing)


def _mixing(residual: np.ndarray, chosen: np.ndarray, keep: np.ndarray, c: int) -> np.ndarray:
    """The Cholesky factor of the residual's channel correlation over the ``chosen`` tiles
    (indices among the ``keep`` tiles)."""
    if c == 1:
        return np.eye(1)
    h, w = residual.shape[0] // TILE, residual.shape[1] // TILE
    tiles = residual[:h * TILE, :w * TILE].reshape(h, TILE, w, TILE, c).transpose(0, 2, 1, 3, 4)
    tiles = tiles.reshape(h * w, TILE * TILE, c)[np.flatnonzero(keep)[chosen]]
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


def _merge_equal(levels: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bands whose centres coincide (a flat region) become one, so the levels strictly rise."""
    keep_levels: list[float] = []
    keep_sigma: list[list[np.ndarray]] = []
    scale = max(float(np.abs(levels).max()), 1e-12)
    for level, s in zip(levels, sigma):
        if keep_levels and level - keep_levels[-1] <= 1e-6 * scale:
            keep_sigma[-1].append(s)
        else:
            keep_levels.append(float(level))
            keep_sigma.append([s])
    return (np.array(keep_levels),
            np.array([np.sqrt(np.mean(np.square(s), axis=0)) for s in keep_sigma]))
