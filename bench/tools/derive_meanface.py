"""Re-derive faceplate.face.meanface.MEAN_FACE from the bundled photos and print the table.

Run: ``.venv/bin/python bench/tools/derive_meanface.py``. dlib's 68 landmarks on the astronaut and
Grace Hopper photos, plus each mirrored, are aligned by generalised Procrustes and averaged.
"""

from __future__ import annotations

import numpy as np
from faceplate.extract.backends.dlib_backend import DlibBackend
from faceplate.face.align import umeyama
from faceplate.face.meanface import MIRROR
from faceplate.samples import source_image


def procrustes_mean(shapes: list[np.ndarray], iterations: int = 10) -> np.ndarray:
    """Generalised Procrustes mean of N×2 shapes under similarity transforms."""
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
