"""How soft the plate is around a face, and how much to blur the swap to match it.

The swap is a network render warped up onto the plate: often crisper than a defocused or
motion-soft plate. The figure compared is the fine-detail ratio (:func:`sharpness`): the
energy of a Laplacian pyramid's finest band over the next one's, inside the face matte. It does
not depend on the image's level or contrast, only on how fast its detail falls off towards the
finest scale. Grain adds energy to the finest bands, so with the plate's :class:`~.grain.Grain`
its expected share is removed first, and a grainy plate does not read as sharp.

:func:`match` searches the Gaussian sigma that brings the swap's figure down to the plate's; we
never sharpen: a swap softer than the plate is reported (:attr:`Softness.swap_softer`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from .grain import SIZES, Grain, amplitude_map, unit_grain

# The search range (plate px) of the swap's blur, and when to stop.
MAX_SIGMA = 8.0
_SIGMA_TOLERANCE = 0.01
# The swap is reported as softer than the plate when its figure is below this share of it.
SOFTER = 0.9
_TINY = 1e-12


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def luminance(image: np.ndarray) -> np.ndarray:
    """H×W×C (or H×W) → H×W float32: the mean of the channels."""
    image = np.asarray(image, np.float32)
    return image if image.ndim == 2 else np.ascontiguousarray(image.mean(axis=2))


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
    amp = amplitude_map(grain, image)  # H×W×C std per channel
    corr = grain.mixing @ grain.mixing.T
    c = grain.channels
    # The std of the channels' mean: (1/C²) Σᵢⱼ σᵢ σⱼ ρᵢⱼ per pixel.
    var = np.einsum("hwi,ij,hwj->hw", amp, corr.astype(np.float32), amp) / (c * c)
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


def match(swap: np.ndarray, plate: np.ndarray, weight: np.ndarray,
          grain: Grain | None = None) -> Softness:
    """How much to blur ``swap`` (H×W×C, the swapped face on the plate box, no grain) so its
    sharpness equals ``plate``'s (H×W×C, the plate over the same box) inside ``weight`` (H×W
    0–1: the face matte). ``grain``: the plate's, whose expected share is removed from the
    plate's figure first."""
    target = sharpness(luminance(plate), weight, grain, image=plate)
    swap_lum = luminance(swap)
    start = sharpness(swap_lum, weight)
    if start <= target:
        return Softness(plate=target, swap=start, sigma=0.0)

    def after(sigma: float) -> float:
        return sharpness(_blur(swap_lum, sigma), weight)

    # The figure falls as the blur grows: regula falsi on sigma over the log of the figure.
    low, high = 0.0, MAX_SIGMA
    f_high = after(high)
    if f_high > target:
        return Softness(plate=target, swap=start, sigma=high)
    f_low, f_high = np.log(start / target), np.log(f_high / target)
    while high - low > _SIGMA_TOLERANCE:
        guess = low + (high - low) * f_low / (f_low - f_high)
        # Kept away from the bracket's ends, so it always shrinks.
        mid = min(max(guess, low + 0.1 * (high - low)), high - 0.1 * (high - low))
        f_mid = float(np.log(max(after(mid), _TINY) / target))
        if abs(f_mid) < 1e-3:
            return Softness(plate=target, swap=start, sigma=float(mid))
        if f_mid > 0:
            low, f_low = mid, f_mid
        else:
            high, f_high = mid, f_mid
    return Softness(plate=target, swap=start, sigma=float(0.5 * (low + high)))


def soften(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of H×W×C ``image``; ``sigma`` 0 returns it unchanged."""
    if sigma <= 0:
        return image
    arr = np.ascontiguousarray(image, np.float32)
    return _blur(arr, float(sigma)).reshape(arr.shape)
