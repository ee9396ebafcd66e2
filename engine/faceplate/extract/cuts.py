"""Shot cuts from a tiny signature of each frame, so nothing is tracked or smoothed across one.

A frame's signature is a normalised colour histogram (hue × saturation × value, 8×4×4 bins)
plus a 16×9 grey thumbnail, from a copy of the frame a few dozen pixels wide (cheap even for
4K). Two frames are a *change of shot* when the histogram moved by more than the threshold
(total variation, 0–1) *and* the thumbnail changed by more than ``MIN_PICTURE_CHANGE`` (a pan
moves the picture but not the histogram). A change of shot is a *cut* (:func:`cut_at`) unless
the frames around it say otherwise: a one-frame exposure spike (a flash, a strobe: the frame
after it matches the frame before it) and the frames of a dissolve (a frame that is a mix of
its neighbours, :func:`is_blend`) are not cuts, so a person is never split inside one.
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
BLEND_RESIDUAL = 0.3  # a dissolve's frame: share of its neighbours' difference a mix leaves


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
    """Do these two frames belong to different shots (see the module's docstring)?"""
    if before is None or after is None or threshold >= 1.0:
        return False
    n = int(np.prod(BINS))
    a, b = np.asarray(before), np.asarray(after)
    if a.shape != b.shape:
        return False
    moved = 0.5 * float(np.abs(a[:n] - b[:n]).sum())
    picture = float(np.abs(a[n:] - b[n:]).mean())
    return moved > threshold and picture > MIN_PICTURE_CHANGE


def is_blend(before: list[float] | None, middle: list[float] | None,
             after: list[float] | None) -> bool:
    """Is ``middle``'s thumbnail a mix of ``before``'s and ``after``'s, well away from both
    (a dissolve's frame): the best mix leaves less than ``BLEND_RESIDUAL`` of their
    difference unexplained, at a share of ``after`` between 0.1 and 0.9."""
    if before is None or middle is None or after is None:
        return False
    n = int(np.prod(BINS))
    a, m, b = (np.asarray(v)[n:] for v in (before, middle, after))
    if not a.shape == m.shape == b.shape:
        return False
    span = b - a
    spread = float(np.abs(span).mean())
    if spread <= MIN_PICTURE_CHANGE:
        return False
    share = float(np.dot(m - a, span) / np.dot(span, span))
    residual = float(np.abs(m - a - share * span).mean())
    return 0.1 <= share <= 0.9 and residual < BLEND_RESIDUAL * spread


def cut_at(before2: list[float] | None, before: list[float] | None, frame: list[float] | None,
           after: list[float] | None, threshold: float) -> bool:
    """Does ``frame`` start a new shot, given the two frames before it and the one after
    (``None`` where there is none)? A change of shot that is a one-frame exposure spike
    (``frame`` itself, or ``before``) or a step of a dissolve is not a cut."""
    if not is_cut(before, frame, threshold):
        return False
    if after is not None and not is_cut(before, after, threshold):
        return False  # frame is a spike: the picture comes back
    if before2 is not None and not is_cut(before2, frame, threshold):
        return False  # before was the spike
    return not (is_blend(before2, before, frame) or is_blend(before, frame, after))


def find_cuts(signatures: dict[int, list[float] | None], sizes: dict[int, tuple[int, int]],
              threshold: float) -> list[int]:
    """Frames that start a new shot (the first frame is not counted)."""
    frames = sorted(signatures)
    cuts = []
    for i, frame in enumerate(frames[1:], 1):
        before2, before, here, after = (signatures[frames[k]] if 0 <= k < len(frames)
                                        else None for k in (i - 2, i - 1, i, i + 1))
        if sizes.get(frame) != sizes.get(frames[i - 1]) or cut_at(before2, before, here, after,
                                                                   threshold):
            cuts.append(frame)
    return cuts
