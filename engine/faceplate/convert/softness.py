"""How soft the plate is around a face, and how much to blur the swap to match it.

The swap is a network render warped up onto the plate: often crisper than a defocused or
motion-soft plate. Two measures:

- **edge spread** (:func:`edge_blur`), what :func:`match` matches: at the face's strongest
  edges, how much a further known blur lowers their gradient tells how blurred they already are
  (a blurred step's gradient peak falls as 1/σ), calibrated on shapes of known blur. It reads a
  young smooth face and a wrinkled one of the same focus alike, so another person's face is
  blurred for the plate's focus, not for the plate's skin. The plate's grain (made anew like
  the measured :class:`~.grain.Grain`) is taken off the gradients first. The swap is blurred by
  √(plate's² − swap's²); we never sharpen: a swap whose edges spread wider is reported
  (:attr:`Softness.swap_softer`).
- **fine detail** (:func:`sharpness`): a Laplacian pyramid's finest band's energy over the
  next one's, inside the face matte (with the grain's expected share removed on request): the
  figure the bench, the tests and the frame's metadata publish. It depends on the content too,
  so it is compared only where the content is the same (the tests' perfect swap).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from .grain import SIZES, Grain, amplitude_map, synthesize, unit_grain

# The search range (plate px) of the swap's blur.
MAX_SIGMA = 8.0
# The swap is reported as softer than the plate when its edges spread wider than this share of
# the plate's and this many px more.
SOFTER, SOFTER_PX = 1.1, 0.25
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

    plate: float  # the plate face's fine-detail figure (grain removed)
    swap: float  # the swap's, before softening
    sigma: float  # Gaussian sigma (plate px) applied to the swap; 0 when the plate is not softer
    plate_blur: float | None = None  # the plate's edge spread (Gaussian sigma, px); None: no edges
    swap_blur: float | None = None  # the swap's

    @property
    def swap_softer(self) -> bool:
        """The swap's edges spread wider than the plate's (more than :data:`SOFTER` and
        :data:`SOFTER_PX`): we never sharpen, we report it."""
        if self.plate_blur is None or self.swap_blur is None:
            return False
        return self.swap_blur > max(SOFTER * self.plate_blur, self.plate_blur + SOFTER_PX)

    def to_dict(self) -> dict:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 3)

        return {"plate_sharpness": round(self.plate, 4), "swap_sharpness": round(self.swap, 4),
                "plate_blur": r(self.plate_blur), "swap_blur": r(self.swap_blur),
                "sigma": round(self.sigma, 3), "swap_softer": self.swap_softer}


# The edge-spread measure (:func:`edge_blur`): a pre-blur that quiets grain, the re-blur whose
# gradient ratio gives the spread, the neighbourhood (σ) each edge's gradient energy is summed
# over, and how far above the grain's own gradient energy an edge must stand.
PRE_BLUR, RE_BLUR, NEAR, ABOVE_GRAIN = 1.0, 2.0, 2.0, 4.0
MATCH_SIDE = 384  # the most of the matte (px a side, centred) the measure reads
MIN_EDGES = 8  # fewer edge points than this: no measure, no softening


def _gradient_energy(image: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT)
    return (gx * gx + gy * gy) * np.float32(1.0 / 64.0)


def _edge_energies(lum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's neighbourhood gradient energy, and the same after the re-blur."""
    base = _blur(lum, PRE_BLUR)
    return (_blur(_gradient_energy(base), NEAR),
            _blur(_gradient_energy(_blur(base, RE_BLUR)), NEAR))


def _raw_blur(lum: np.ndarray, weight: np.ndarray, noise: np.ndarray | None) -> float | None:
    """The edge spread before calibration: at the strongest edges inside ``weight``, the ratio
    Q of the neighbourhood gradient energy to the re-blurred one's gives the spread of a blurred
    step, σ = RE_BLUR / √(Q² − 1) (then the pre-blur taken out). ``noise``: grain like the
    image's, whose expected energy is taken off both and sets how strong an edge must be."""
    e1, e2 = _edge_energies(lum)
    floor = np.zeros_like(e1)
    if noise is not None:
        n1, n2 = _edge_energies(noise)
        e1, e2, floor = e1 - n1, e2 - n2, ABOVE_GRAIN * n1
    peaks = e1 >= cv2.dilate(e1, np.ones((5, 5), np.uint8))
    edges = (weight > 0.5) & peaks & (e1 > floor) & (e1 > _TINY) & (e2 > _TINY)
    if int(edges.sum()) < MIN_EDGES:
        return None
    strong = edges & (e1 >= np.quantile(e1[edges], 0.5))  # the stronger half
    q = e1[strong] / e2[strong]
    q = q[q > 1.0001]
    if q.size < MIN_EDGES // 2:
        return None
    spread = float(np.median(RE_BLUR / np.sqrt(q * q - 1.0)))
    return float(np.sqrt(max(spread * spread - PRE_BLUR * PRE_BLUR, 0.0)))


@functools.lru_cache(maxsize=1)
def _calibration() -> tuple[np.ndarray, np.ndarray]:
    """(raw, true): :func:`_raw_blur` of anti-aliased shapes blurred by known Gaussians."""
    rng = np.random.default_rng(11)
    big = np.full((1024, 1024), 0.3, np.float32)
    for _ in range(40):
        x, y = (int(v) for v in rng.integers(0, 1024, 2))
        r, v = int(rng.integers(40, 200)), float(rng.uniform(0.05, 0.8))
        if rng.random() < 0.5:
            cv2.circle(big, (x, y), r, v, -1)
        else:
            cv2.rectangle(big, (x, y), (x + r, y + int(0.7 * r)), v, -1)
    shapes = cv2.resize(big, (256, 256), interpolation=cv2.INTER_AREA)
    weight = np.ones(shapes.shape, np.float32)
    true = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0])
    raw = [_raw_blur(_blur(shapes, t) if t > 0 else shapes, weight, None) or 0.0 for t in true]
    return np.maximum.accumulate(np.asarray(raw)), true


def edge_blur(image: np.ndarray, weight: np.ndarray, noise: np.ndarray | None = None
              ) -> float | None:
    """How far the edges of ``image`` (H×W×C or H×W) inside ``weight`` spread, as the sigma
    (px) of the Gaussian that would blur a sharp step that far (calibrated on known blurs).
    Unlike the fine-detail figure it does not depend on the content (a smooth young face and a
    wrinkled one of the same focus read the same). ``noise``: grain like the image's. None when
    there are too few edges to tell."""
    raw = _raw_blur(luminance(image), np.asarray(weight, np.float32),
                    None if noise is None else luminance(noise))
    if raw is None:
        return None
    measured, true = _calibration()
    return float(np.interp(raw, measured, true))


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
    edges spread as far as ``plate``'s (H×W×C, the plate over the same box) inside ``weight``
    (H×W 0–1: the face matte): σ = √(plate's² − swap's²) of :func:`edge_blur`, on a bounded,
    centred part of the matte (:data:`MATCH_SIDE`). ``grain``: the plate's; grain like it
    (a fixed seed) is taken off the plate's edges. The fine-detail figures (:func:`sharpness`)
    are reported beside it."""
    w = np.asarray(weight, np.float32)
    rows, cols = _crop(w)
    if rows.stop <= rows.start or cols.stop <= cols.start:
        return Softness(plate=0.0, swap=0.0, sigma=0.0)
    part, plate_part, swap_part = w[rows, cols], plate[rows, cols], swap[rows, cols]
    noise = None if grain is None else synthesize(grain, plate_part, (0,))
    target = sharpness(luminance(plate_part), part, grain, image=plate_part)
    start = sharpness(luminance(swap_part), part)
    plate_blur = edge_blur(plate_part, part, noise)
    swap_blur = edge_blur(swap_part, part)
    sigma = 0.0
    if plate_blur is not None and swap_blur is not None and plate_blur > swap_blur:
        sigma = float(np.sqrt(plate_blur ** 2 - swap_blur ** 2))
    return Softness(plate=target, swap=start, sigma=min(sigma, MAX_SIGMA),
                    plate_blur=plate_blur, swap_blur=swap_blur)


def soften(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of H×W×C ``image``; ``sigma`` 0 returns it unchanged."""
    if sigma <= 0:
        return image
    arr = np.ascontiguousarray(image, np.float32)
    return _blur(arr, float(sigma)).reshape(arr.shape)
