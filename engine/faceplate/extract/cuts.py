"""Shot cuts from a tiny signature of each frame, so nothing is tracked or smoothed across one.

A frame's signature is a normalised colour histogram (hue × saturation × value, 8×4×4 bins)
plus a 16×9 grey thumbnail, from a copy of the frame a few dozen pixels wide (cheap even for
4K). A cut is a frame whose histogram moved by more than the threshold (total variation,
0–1) *and* whose thumbnail changed by more than ``MIN_PICTURE_CHANGE``: a flash changes
brightness everywhere but not the picture, a pan moves the picture but not the histogram.
Signatures are plain float lists, so the engine's tracking op can find cuts from cached
detections without pixels. A change of frame size (stills of different sizes) is a cut too.
"""

from __future__ import annotations

import cv2
import numpy as np

SIGNATURE_WIDTH = 64
THUMB = (16, 9)
BINS = (8, 4, 4)
MIN_PICTURE_CHANGE = 0.08  # mean absolute grey change of the thumbnail (0–1)


def signature(small_rgb: np.ndarray) -> list[float]:
    """Histogram and thumbnail of a (small) network-space frame, as one list of floats."""
    rgb = np.clip(np.asarray(small_rgb, np.float32), 0.0, 1.0)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)  # H in degrees, S and V in 0–1
    counts = cv2.calcHist([hsv], [0, 1, 2], None, list(BINS), [0, 360, 0, 1.0001, 0, 1.0001])
    hist = counts.ravel() / max(float(counts.sum()), 1.0)
    grey = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), THUMB, interpolation=cv2.INTER_AREA)
    return [round(float(v), 5) for v in np.concatenate([hist, grey.ravel()])]


def scale_for(shape: tuple[int, ...]) -> float:
    """The downscale that gives a frame of this shape its signature's width."""
    return min(1.0, SIGNATURE_WIDTH / max(shape[1], 1))


def is_cut(before: list[float] | None, after: list[float] | None, threshold: float) -> bool:
    if before is None or after is None or threshold >= 1.0:
        return False
    n = int(np.prod(BINS))
    a, b = np.asarray(before), np.asarray(after)
    if a.shape != b.shape:
        return False
    moved = 0.5 * float(np.abs(a[:n] - b[:n]).sum())
    picture = float(np.abs(a[n:] - b[n:]).mean())
    return moved > threshold and picture > MIN_PICTURE_CHANGE


def find_cuts(signatures: dict[int, list[float] | None], sizes: dict[int, tuple[int, int]],
              threshold: float) -> list[int]:
    """Frames that start a new shot (the first frame is not counted)."""
    cuts, previous = [], None
    for frame in sorted(signatures):
        if previous is not None and (sizes.get(frame) != sizes.get(previous) or is_cut(
                signatures[previous], signatures[frame], threshold)):
            cuts.append(frame)
        previous = frame
    return cuts
