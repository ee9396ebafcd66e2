"""Our 68-point mean face, derived from the bundled photos (run this module to re-derive it).

Derivation: dlib's 68 landmarks on the astronaut and Grace Hopper photos, plus each mirrored
(left/right points swapped), are aligned to each other with similarity transforms (generalised
Procrustes on all 68 points) and averaged; the result is left/right symmetric by construction.
It is then scaled to fit the unit square, centred: ``(0, 0)`` top-left, ``(1, 1)``
bottom-right of the landmarks' bounding square. ``MEAN_FACE`` below holds the numbers it printed.
"""

from __future__ import annotations

import numpy as np

# iBUG 300-W index of each point's mirror image (jaw, brows, nose, eyes, mouth).
MIRROR = np.array(
    [16 - i for i in range(17)]
    + [26, 25, 24, 23, 22, 21, 20, 19, 18, 17]
    + [27, 28, 29, 30, 35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
    + [64, 63, 62, 61, 60, 67, 66, 65]
)
INNER = slice(17, 68)  # brows, nose, eyes, mouth: stable under head turns, unlike the jaw
JAW = slice(0, 17)
RIGHT_EYE = slice(36, 42)  # the subject's right eye: image left
LEFT_EYE = slice(42, 48)

MEAN_FACE = np.array([
    [0.000000, 0.229644], [0.012152, 0.358154], [0.029496, 0.483864], [0.050904, 0.608286],
    [0.100602, 0.721679], [0.172398, 0.816320], [0.270153, 0.893697], [0.378377, 0.953877],
    [0.500000, 0.972338], [0.621623, 0.953877], [0.729847, 0.893697], [0.827602, 0.816320],
    [0.899398, 0.721679], [0.949096, 0.608286], [0.970504, 0.483864], [0.987848, 0.358154],
    [1.000000, 0.229644], [0.074596, 0.120310], [0.130810, 0.046504], [0.218970, 0.027662],
    [0.311354, 0.039593], [0.394304, 0.076965], [0.605696, 0.076965], [0.688646, 0.039593],
    [0.781030, 0.027662], [0.869190, 0.046504], [0.925404, 0.120310], [0.500000, 0.196165],
    [0.500000, 0.278973], [0.500000, 0.364457], [0.500000, 0.449793], [0.387761, 0.496888],
    [0.442508, 0.511643], [0.500000, 0.527718], [0.557492, 0.511643], [0.612239, 0.496888],
    [0.178899, 0.203315], [0.232455, 0.172505], [0.297924, 0.172289], [0.356951, 0.219224],
    [0.293997, 0.227307], [0.227048, 0.230107], [0.643049, 0.219224], [0.702076, 0.172289],
    [0.767545, 0.172505], [0.821101, 0.203315], [0.772952, 0.230107], [0.706003, 0.227307],
    [0.280797, 0.621864], [0.363826, 0.612094], [0.446468, 0.606305], [0.500000, 0.621109],
    [0.553532, 0.606305], [0.636174, 0.612094], [0.719203, 0.621864], [0.638832, 0.705636],
    [0.560043, 0.740184], [0.500000, 0.746905], [0.439957, 0.740184], [0.361168, 0.705636],
    [0.311626, 0.629640], [0.443952, 0.646605], [0.500000, 0.653258], [0.556048, 0.646605],
    [0.688374, 0.629640], [0.556048, 0.683809], [0.500000, 0.685294], [0.443952, 0.683809],
])


def procrustes_mean(shapes: list[np.ndarray], iterations: int = 10) -> np.ndarray:
    """Generalised Procrustes mean of N×2 shapes under similarity transforms."""
    from .align import umeyama

    shapes = [np.asarray(s, dtype=np.float64) for s in shapes]
    mean = shapes[0] - shapes[0].mean(axis=0)
    for _ in range(iterations):
        aligned = []
        for s in shapes:
            m = umeyama(s, mean)
            aligned.append(s @ m[:, :2].T + m[:, 2])
        mean = np.mean(aligned, axis=0)
        mean = (mean - mean.mean(axis=0)) / np.sqrt(((mean - mean.mean(axis=0)) ** 2).sum())
    return mean


def normalise(shape: np.ndarray) -> np.ndarray:
    """Scale and centre a shape into the unit square (its longer side spans 0–1)."""
    lo, hi = shape.min(axis=0), shape.max(axis=0)
    return (shape - (lo + hi) / 2) / (hi - lo).max() + 0.5


def derive_mean_face() -> np.ndarray:
    """Re-derive :data:`MEAN_FACE` from the bundled photos with the dlib backend."""
    from ..samples import source_image
    from .backends.dlib_backend import DlibBackend

    backend = DlibBackend()
    shapes = []
    for name in ("astronaut", "grace_hopper"):
        photo = source_image(name)
        pts = backend.detect(photo)[0].landmarks
        shapes.append(pts)
        mirrored = pts.copy()
        mirrored[:, 0] = photo.shape[1] - 1 - mirrored[:, 0]
        shapes.append(mirrored[MIRROR])
    mean = procrustes_mean(shapes)
    mean = (mean + _mirror(mean)) / 2  # exact symmetry (removes float noise)
    return normalise(mean)


def _mirror(shape: np.ndarray) -> np.ndarray:
    out = shape[MIRROR].copy()
    out[:, 0] = -out[:, 0]
    return out


if __name__ == "__main__":
    table = derive_mean_face()
    rows = [f"[{x:.6f}, {y:.6f}]" for x, y in table]
    for i in range(0, 68, 4):
        print("    " + ", ".join(rows[i:i + 4]) + ",")
