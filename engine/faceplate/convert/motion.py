"""A face's motion between frames: the motion vectors a comp reads and the swap's motion blur.

A face's motion comes from its track, not from the pixels: the same face's alignment matrix on
the frame before and the frame after (:class:`FaceMotion`; none across a shot cut or past the
track's ends). Composing a frame's plate → crop matrix with the neighbour's crop → plate map
gives the displacement of every plate pixel of the face, an affine field. From it:

- **motion vectors** in Nuke's convention (``forward.u/v``: where a pixel is on the next frame,
  ``backward.u/v``: on the previous one; pixels per frame, u to the right, v up as Nuke's y
  axis runs), so VectorBlur can blur the face in the comp instead;
- **the swap's motion blur**: the swapped face crop is resampled where the face is at
  sub-frame times across the shutter (centred on the frame, ``shutter`` degrees of it) and
  averaged, the way a camera integrates a moving face, before it is warped onto the plate once.
  The samples are about a crop pixel of travel apart.

With one neighbour only (a track's first or last frame, a cut on one side) the motion is taken
as steady: the other side mirrors it. With neither, the face is still.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..face.align import invert
from ..face.box import Box

MAX_SAMPLES = 48  # sub-frame renders per face at most (a very fast face: coarser samples)
_CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.5]])


def _affine(matrix: np.ndarray) -> np.ndarray:
    out = np.eye(3)
    out[:2] = np.asarray(matrix, np.float64)
    return out


@dataclass(frozen=True)
class FaceMotion:
    """The same face's matrix (plate → unit crop, on this frame's stored pixels) on the frame
    before and after; None where there is none (a track's end, a shot cut)."""

    before: np.ndarray | None = None
    after: np.ndarray | None = None

    def steps(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(forward, backward)``: 3×3 affine maps taking a plate point of the face on this
        frame to where it is on the next and on the previous frame."""
        here = _affine(matrix)
        forward = None if self.after is None else _affine(invert(self.after)) @ here
        backward = None if self.before is None else _affine(invert(self.before)) @ here
        if forward is not None and backward is not None:
            return forward, backward
        if forward is not None:  # steady motion: the step back mirrors the step forward
            return forward, 2 * np.eye(3) - forward
        if backward is not None:
            return 2 * np.eye(3) - backward, backward
        return np.eye(3), np.eye(3)

    def to_dict(self, matrix: np.ndarray) -> dict:
        """The face centre's motion (px per frame, x right, y down): metadata for people."""
        forward, backward = self.steps(matrix)
        centre = _affine(invert(matrix)) @ np.array([0.5, 0.5, 1.0])
        return {"forward": [round(float(v), 3) for v in (forward @ centre - centre)[:2]],
                "backward": [round(float(v), 3) for v in (backward @ centre - centre)[:2]]}

    def key(self) -> list:
        """What of it decides a render (the job digest)."""
        return [None if m is None else np.asarray(m, np.float64).round(9).tolist()
                for m in (self.before, self.after)]


def vectors(matrix: np.ndarray, motion: FaceMotion | None, box: Box) -> np.ndarray:
    """Box-sized H×W×4 ``forward.u, forward.v, backward.u, backward.v`` of the face (Nuke's
    convention: pixels per frame, v up), over every pixel of ``box`` (plate pixels)."""
    out = np.zeros((box.height, box.width, 4), np.float32)
    if motion is None or box.empty:
        return out
    xs = np.arange(box.x0, box.x1, dtype=np.float64)  # pixel centres, as the warps place them
    ys = np.arange(box.y0, box.y1, dtype=np.float64)
    for i, step in enumerate(motion.steps(matrix)):
        d = step - np.eye(3)  # displacement: d @ (x, y, 1)
        out[..., 2 * i] = (d[0, 0] * xs[None, :] + d[0, 1] * ys[:, None] + d[0, 2])
        out[..., 2 * i + 1] = -(d[1, 0] * xs[None, :] + d[1, 1] * ys[:, None] + d[1, 2])
    return out


def exposure(matrix: np.ndarray, motion: FaceMotion | None, shutter: float, size: int
             ) -> list[np.ndarray]:
    """Where a ``size``-pixel aligned crop of the face at each sub-frame time of a
    ``shutter``-degree exposure (centred on the frame) samples this frame's crop: 2×3 maps from
    crop pixels to crop pixels (cv2's inverse-map convention), about one crop pixel of travel
    apart (at most :data:`MAX_SAMPLES`); ``[]`` for a still face or a closed shutter. Working in
    the crop (the model's resolution) costs the same whatever the face's size on the plate."""
    if motion is None or shutter <= 0:
        return []
    open_for = shutter / 360.0  # of a frame; half of it each side of the frame
    here = _affine(invert(matrix))  # crop → plate
    to_pixels = np.diag([size, size, 1.0])
    sides = []
    for step in motion.steps(matrix):
        # crop pixel (time 0) → plate → the plate point a frame on → this frame's crop pixel
        there = to_pixels @ _affine(matrix) @ np.linalg.inv(step) @ here @ np.linalg.inv(
            to_pixels)
        moved = ((there - np.eye(3)) @ np.c_[_CORNERS * size, np.ones(len(_CORNERS))].T)[:2]
        sides.append((there, float(np.hypot(moved[0], moved[1]).max()) * open_for / 2))
    travel = max(t for _, t in sides)
    if travel < 0.5:
        return []
    per_side = min(MAX_SAMPLES // 2, max(1, math.ceil(travel)))
    return [(np.eye(3) + (j + 0.5) / per_side * open_for / 2 * (there - np.eye(3)))[:2]
            for there, _ in sides for j in range(per_side)]


def blur(face: np.ndarray, matrix: np.ndarray, motion: FaceMotion | None, shutter: float
         ) -> tuple[np.ndarray, int]:
    """The swapped face crop (S×S×C) averaged over the exposure (:func:`exposure`), and the
    number of sub-frame samples (0: not blurred). Near the crop's edge, where some samples fall
    outside it, the average is over those inside."""
    size = face.shape[0]
    maps = exposure(matrix, motion, shutter, size)
    if not maps:
        return face, 0
    total = np.zeros(face.shape, np.float32)
    inside = np.zeros(face.shape[:2], np.float32)
    ones = np.ones(face.shape[:2], np.float32)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    for m in maps:
        total += cv2.warpAffine(face, m, (size, size), flags=flags).reshape(face.shape)
        inside += cv2.warpAffine(ones, m, (size, size), flags=flags)
    seen = inside > 1e-3 * len(maps)
    out = np.array(face, np.float32, copy=True)
    out[seen] = total[seen] / inside[seen][:, None]
    return out, len(maps)
