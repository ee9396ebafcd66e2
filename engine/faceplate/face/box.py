"""An integer pixel box of a plate array, and a matrix seen from the box's own pixel grid.

Every stage that works on the part of a plate a face covers (cutting its crop, putting a face
back, its mattes) works in a :class:`Box` and moves the face's matrix onto the box's grid
with :meth:`Box.matrix_from`. (Extraction's detector boxes are something else: float
rectangles a detector returns, :data:`faceplate.extract.track.DetectorBox`.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Box:
    """A plate rectangle ``[x0, x1) × [y0, y1)``."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def empty(self) -> bool:
        return self.width <= 0 or self.height <= 0

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def intersect(self, other: Box) -> Box:
        x0, y0 = max(self.x0, other.x0), max(self.y0, other.y0)
        return Box(x0, y0, max(x0, min(self.x1, other.x1)), max(y0, min(self.y1, other.y1)))

    def union(self, other: Box) -> Box:
        if self.empty:
            return other
        if other.empty:
            return self
        return Box(min(self.x0, other.x0), min(self.y0, other.y0),
                   max(self.x1, other.x1), max(self.y1, other.y1))

    def matrix_from(self, matrix: np.ndarray) -> np.ndarray:
        """A 2×3 ``matrix`` of plate pixels (to the unit crop, or to crop pixels) as seen from
        this box's own pixel grid: box pixel (0, 0) is plate pixel (x0, y0). A new array."""
        m = np.asarray(matrix, dtype=np.float64).copy()
        m[:, 2] += m[:, :2] @ np.array([self.x0, self.y0], dtype=np.float64)
        return m
