"""How soft the plate is around a face, and how much to blur the swap to match it.

The swap is a network render warped up onto the plate: often crisper than a defocused or
motion-soft plate. The figure compared is the fine-detail ratio (:func:`sharpness`): the
energy of a Laplacian pyramid's finest band over the next one's, inside the face matte. It does
not depend on the image's level or contrast, only on how fast its detail falls off towards the
finest scale. Grain adds energy to the finest bands, so with the plate's :class:`~.grain.Grain`
its expected share is removed first, and a grainy plate does not read as sharp.

:func:`match` finds the Gaussian sigma that makes the swap's detail fall off like the plate's
over the whole pyramid (fine to coarse; on a grainy plate the finest bands, mostly grain, count
little); the fine/next figure stays the one published. We never sharpen: a swap softer than the
plate gets no blur and is reported (:attr:`Softness.swap_softer`).
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import cv2
import numpy as np

from .grain import SIZES, Grain, amplitude_map, unit_grain

# The search range (plate px) of the swap's blur.
MAX_SIGMA = 8.0
# The swap is reported as softer than the plate when its figure is below this share of it.
SOFTER = 0.9
_TINY = 1e-12


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def luminance(image: np.ndarray) -> np.ndarray:
    """H×W×C (or H×W) → H×W float32: the mean of the channels."""
    image = np.asarray(image, np.float32)
    if image.ndim == 2:
        return image
    c = image.shape[2]
    if c == 1:
        return np.ascontiguousarray(image[..., 0])
    if c > 4:
        return np.ascontiguousarray(image.mean(axis=2))
    # cv2.transform: one pass, far quicker than a strided mean over the last axis.
    out = cv2.transform(np.ascontiguousarray(image), np.full((1, c), 1.0 / c, np.float32))
    return out.reshape(image.shape[:2])


def _mean_variance(grain: Grain, amp: np.ndarray) -> np.ndarray:
    """H×W×C per-channel grain std → H×W variance of the channels' mean:
    (1/C²) Σᵢⱼ σᵢ σⱼ ρᵢⱼ."""
    corr = grain.mixing @ grain.mixing.T
    c = grain.channels
    var = np.zeros(amp.shape[:2], np.float32)
    for i in range(c):
        for j in range(i, c):
            factor = np.float32(corr[i, j] * (1 if i == j else 2) / (c * c))
            var += factor * amp[..., i] * amp[..., j]
    return var


def _bands(lum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    g1 = _blur(lum, 1.0)
    g2 = _blur(lum, 2.0)
    return lum - g1, g1 - g2


def detail(luminance: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """(finest band energy, next band energy) inside ``weight`` (H×W, 0–1): a Laplacian
    pyramid's first two bands (image − G(σ=1), G(σ=1) − G(σ=2)), weighted mean of squares."""
    lum = np.ascontiguousarray(luminance, np.float32)
    w = np.asarray(weight, np.float32)
    total = float(w.sum())
    if total <= 0:
        return 0.0, 0.0
    fine, next_band = _bands(lum)
    return (float(np.sum(w * fine * fine, dtype=np.float64)) / total,
            float(np.sum(w * next_band * next_band, dtype=np.float64)) / total)


@functools.lru_cache(maxsize=1)
def _grain_band_gains() -> tuple[np.ndarray, np.ndarray]:
    """For each grain size of :data:`~.grain.SIZES`: the energy unit grain leaves in each of the
    two bands."""
    rng = np.random.default_rng(5)
    fine, next_band = [], []
    for size in SIZES:
        g = unit_grain((512, 512, 1), size, None, rng)[..., 0]
        f, n = _bands(g)
        fine.append(float(np.mean(f[16:-16, 16:-16] ** 2)))
        next_band.append(float(np.mean(n[16:-16, 16:-16] ** 2)))
    return np.array(fine), np.array(next_band)


def grain_energy(grain: Grain, image: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """The energy ``grain`` is expected to add to each of :func:`detail`'s bands of ``image``'s
    luminance (the mean of its channels) inside ``weight``."""
    w = np.asarray(weight, np.float32)
    total = float(w.sum())
    if total <= 0:
        return 0.0, 0.0
    var = _mean_variance(grain, amplitude_map(grain, image))
    mean_var = float(np.sum(w * var, dtype=np.float64)) / total
    fine, next_band = _grain_band_gains()
    size = min(max(grain.size, SIZES[0]), SIZES[-1])
    return (mean_var * float(np.interp(size, SIZES, fine)),
            mean_var * float(np.interp(size, SIZES, next_band)))


def sharpness(luminance: np.ndarray, weight: np.ndarray, grain: Grain | None = None,
              image: np.ndarray | None = None) -> float:
    """Finest band energy over the next band's (the 'fine detail' figure) of ``luminance``
    (H×W) inside ``weight``. With ``grain``, its expected share of each band's energy is
    removed first (so a grainy plate does not read as sharp); its amplitude is picked by
    ``image``'s low-passed luminance (H×W×C; None: ``luminance`` itself)."""
    fine, next_band = detail(luminance, weight)
    if grain is not None:
        base = luminance if image is None else image
        g_fine, g_next = grain_energy(grain, base, weight)
        # Never take away more than is there: a band left with almost nothing keeps a tenth.
        fine = max(fine - g_fine, 0.1 * fine)
        next_band = max(next_band - g_next, 0.1 * next_band)
    return fine / max(next_band, _TINY)


@dataclass(frozen=True)
class Softness:
    """The plate's softness against the swap's, and the blur that matches them."""

    plate: float  # the plate face's sharpness (grain removed)
    swap: float  # the swap's, before softening
    sigma: float  # Gaussian sigma (plate px) applied to the swap; 0 when the plate is not softer

    @property
    def swap_softer(self) -> bool:
        """The swap is softer than the plate by more than the tolerance: we never sharpen,
        we report it."""
        return self.swap < SOFTER * self.plate

    def to_dict(self) -> dict:
        return {"plate_sharpness": round(self.plate, 4), "swap_sharpness": round(self.swap, 4),
                "sigma": round(self.sigma, 3), "swap_softer": self.swap_softer}


# The Laplacian pyramid :func:`match` compares: bands between Gaussians of these sigmas (plate
# px; 0 = the image itself), the last band the reference each band's energy is normalised by.
PYRAMID = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
# The most of the weighted region (px a side, centred) :func:`match` reads.
MATCH_SIDE = 384
# Context (px) the published figures' blurs (σ ≤ 2) read around the part.
_HALO = 8
_TAPER = 32
# The relative error of the grain's expected energy in a band (the single-frame estimate's)
# and of any band's energy: a band weighs by the inverse square of its log's doubt.
GRAIN_DOUBT = 0.15
BAND_DOUBT = 0.05
_SIGMAS = np.round(np.arange(0.0, MAX_SIGMA + 1e-9, 0.05), 3)
_BINS = 256


def _spectrum(lum: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The radially binned power spectrum (:data:`_BINS` bins of frequency 0–√½ cycles/px) of
    ``lum`` windowed by ``weight`` (its weighted mean removed), per unit of weight."""
    # The part's own edges cut the matte: taper them (a hard window's edges would read as
    # detail no blur takes away).
    w = weight.astype(np.float64) * np.outer(_taper(weight.shape[0]), _taper(weight.shape[1]))
    total = max(float(w.sum()), _TINY)
    x = lum.astype(np.float64)
    x = (x - float(np.sum(w * x)) / total) * w
    # Parseval: the half spectrum's columns past the first (and short of an even width's
    # last) stand for two; the windowed signal's energy per unit of the window's square.
    power = np.abs(np.fft.rfft2(x)) ** 2 * _columns(lum.shape[1])[None, :]
    norm = max(float(np.sum(w * w)), _TINY) * x.size
    return np.bincount(_radius_bins(lum.shape), power.ravel(), _BINS) / norm


@functools.lru_cache(maxsize=8)
def _columns(width: int) -> np.ndarray:
    count = np.full(width // 2 + 1, 2.0)
    count[0] = 1.0
    if width % 2 == 0:
        count[-1] = 1.0
    return count


@functools.lru_cache(maxsize=8)
def _taper(n: int) -> np.ndarray:
    """A Tukey window: 1 inside, a raised cosine over :data:`_TAPER` px at each end."""
    ramp = min(_TAPER, n // 2)
    out = np.ones(n)
    if ramp > 0:
        rise = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 0.5) / ramp)
        out[:ramp] = rise
        out[n - ramp:] = rise[::-1]
    return out


@functools.lru_cache(maxsize=8)
def _radius_bins(shape: tuple[int, int]) -> np.ndarray:
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    return np.minimum((f / np.sqrt(0.5) * _BINS).astype(np.int64), _BINS - 1).ravel()


def _frequencies() -> np.ndarray:
    return (np.arange(_BINS) + 0.5) / _BINS * np.sqrt(0.5)


def _gauss(sigma: float | np.ndarray, f: np.ndarray) -> np.ndarray:
    return np.exp(-2.0 * np.pi ** 2 * np.square(np.asarray(sigma, np.float64)) * f * f)


@functools.lru_cache(maxsize=1)
def _responses() -> tuple[np.ndarray, np.ndarray]:
    """(bands, bins) each pyramid band's power response, and (sigmas, bins) each candidate
    blur's."""
    f = _frequencies()
    bands = np.stack([(_gauss(a, f) - _gauss(b, f)) ** 2
                      for a, b in itertools.pairwise(PYRAMID)])
    blurs = _gauss(_SIGMAS[:, None], f[None, :]) ** 2
    return bands, blurs


def _grain_bands(grain: Grain, variance: float, f: np.ndarray, bands: np.ndarray) -> np.ndarray:
    """The energy grain of luminance ``variance`` and ``grain.size`` leaves in each band."""
    shape = _gauss(grain.size, f) ** 2 if grain.size >= 0.05 else np.ones_like(f)
    # The 2-D spectrum's density rises with the frequency's radius (the ring's length), to √½
    # where the square's corners cut it: weigh the bins by the ring's share inside the square.
    ring = f * np.where(f <= 0.5, 2.0 * np.pi, 2.0 * np.pi - 8.0 * np.arccos(
        np.minimum(0.5 / np.maximum(f, 1e-9), 1.0)))
    density = shape * ring
    return variance * (bands @ density) / max(float(density.sum()), _TINY)


def _crop(weight: np.ndarray) -> tuple[slice, slice]:
    """At most :data:`MATCH_SIDE` a side, centred on ``weight``'s support."""
    support = weight > 1e-3
    ys, xs = np.flatnonzero(support.any(axis=1)), np.flatnonzero(support.any(axis=0))
    if ys.size == 0:
        return slice(0, 0), slice(0, 0)
    out = []
    for v, n in ((ys, weight.shape[0]), (xs, weight.shape[1])):
        lo, hi = int(v[0]), int(v[-1]) + 1
        if hi - lo > MATCH_SIDE:
            mid = (lo + hi) // 2
            lo, hi = mid - MATCH_SIDE // 2, mid - MATCH_SIDE // 2 + MATCH_SIDE
        out.append(slice(lo, min(hi, n)))
    return out[0], out[1]


def match(swap: np.ndarray, plate: np.ndarray, weight: np.ndarray,
          grain: Grain | None = None) -> Softness:
    """How much to blur ``swap`` (H×W×C, the swapped face on the plate box, no grain) so its
    detail falls off like ``plate``'s (H×W×C, the plate over the same box) inside ``weight``
    (H×W 0–1: the face matte). ``grain``: the plate's, whose expected energy is removed from
    the plate's first.

    The pyramid's bands (:data:`PYRAMID`), each over the coarsest (content contrast cancels),
    from the power spectrum of a bounded, centred part of the matte (:data:`MATCH_SIDE`, its
    cut edges tapered); the grain's expected energy is removed from the plate's bands and each
    band weighs by the inverse square of its log's doubt (:data:`GRAIN_DOUBT` of the grain over
    what signal is left, so a band that is mostly grain counts little); the sigma of the
    candidate blurs (:data:`MAX_SIGMA`) minimising the weighted squared log difference between
    the blurred swap's and the plate's normalised bands, refined by a parabola.
    The published figures (:attr:`Softness.plate`, :attr:`Softness.swap`) stay
    :func:`sharpness`."""
    w = np.asarray(weight, np.float32)
    rows, cols = _crop(w)
    if rows.stop <= rows.start or cols.stop <= cols.start:
        return Softness(plate=0.0, swap=0.0, sigma=0.0)
    # The published figures over the same part, read with the context their blurs reach.
    outer = (slice(max(rows.start - _HALO, 0), rows.stop + _HALO),
             slice(max(cols.start - _HALO, 0), cols.stop + _HALO))
    inner = np.zeros(w[outer].shape, np.float32)
    a, b = rows.start - outer[0].start, cols.start - outer[1].start
    inner[a:a + rows.stop - rows.start, b:b + cols.stop - cols.start] = w[rows, cols]
    plate_part, swap_part = plate[outer], swap[outer]
    target = sharpness(luminance(plate_part), inner, grain, image=plate_part)
    start = sharpness(luminance(swap_part), inner)
    wc = w[rows, cols]
    if float(wc.sum()) <= 0:
        return Softness(plate=target, swap=start, sigma=0.0)
    p_spec = _spectrum(luminance(plate[rows, cols]), wc)
    s_spec = _spectrum(luminance(swap[rows, cols]), wc)
    bands, blurs = _responses()
    p_energy = bands @ p_spec
    if grain is not None:
        var = _mean_variance(grain, amplitude_map(grain, plate[rows, cols]))
        window = wc * np.outer(_taper(wc.shape[0]), _taper(wc.shape[1])).astype(np.float32)
        mean_var = float(np.sum(window * window * var, dtype=np.float64)) / max(float(
            np.sum(window * window, dtype=np.float64)), _TINY)
        g_energy = _grain_bands(grain, mean_var, _frequencies(), bands)
    else:
        g_energy = np.zeros_like(p_energy)
    signal = np.maximum(p_energy - g_energy, 0.02 * p_energy)
    # Each band's log energy is doubtful by the grain estimate's doubt over what is left.
    doubt = np.square(GRAIN_DOUBT * g_energy / np.maximum(p_energy - g_energy, _TINY))
    doubt += BAND_DOUBT ** 2
    s_energy = (blurs * s_spec[None, :]) @ bands.T  # (sigmas, bands)
    ref = -1
    plate_shape = np.log(np.maximum(signal, _TINY) / max(float(signal[ref]), _TINY))
    swap_shape = np.log(np.maximum(s_energy, _TINY) / np.maximum(s_energy[:, ref:], _TINY))
    weights = 1.0 / (doubt + doubt[ref])
    weights[ref] = 0.0
    cost = np.square(swap_shape - plate_shape[None, :]) @ weights
    best = int(np.argmin(cost))
    sigma = float(_SIGMAS[best])
    if 0 < best < len(_SIGMAS) - 1:
        a, b, cc = cost[best - 1], cost[best], cost[best + 1]
        curve = a - 2 * b + cc
        if curve > 0:
            step = float(_SIGMAS[1] - _SIGMAS[0])
            sigma += float(np.clip(0.5 * (a - cc) / curve, -0.5, 0.5)) * step
    return Softness(plate=target, swap=start, sigma=max(sigma, 0.0))


def soften(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of H×W×C ``image``; ``sigma`` 0 returns it unchanged."""
    if sigma <= 0:
        return image
    arr = np.ascontiguousarray(image, np.float32)
    return _blur(arr, float(sigma)).reshape(arr.shape)
