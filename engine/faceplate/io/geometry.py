"""Where a plate's stored pixels sit in its frame: EXR's data and display windows."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np

Window = tuple[int, int, int, int]  # x, y, width, height in a file's pixel coordinates
Face = TypeVar("Face")


@dataclass(frozen=True)
class Geometry:
    """Where a plate's stored pixels sit, as an EXR says and Nuke places them: the data window
    (the pixels stored: what pixel arrays hold and the engine works on) and the display window
    (the frame: Nuke's format). Either may hold the other (overscan) or start away from (0, 0).

    Positions other stages and people read (landmarks, matrices, boxes in ``alignments.json``)
    are **frame pixels**: origin the display window's top-left, x right, y down. An array
    pixel ``(i, j)`` of the stored pixels is the frame point ``(j + ox, i + oy)`` for
    :attr:`origin` ``(ox, oy)``; :meth:`to_array` and :meth:`to_frame` move matrices and
    points between the two."""

    data: Window
    display: Window
    pixel_aspect: float = 1.0
    part: int = 0  # the file's part that stores them (a stereo plate's view)

    @classmethod
    def plain(cls, width: int, height: int) -> Geometry:
        """Stored pixels that are the whole frame, as every non-EXR image is."""
        return cls((0, 0, width, height), (0, 0, width, height))

    @property
    def origin(self) -> tuple[int, int]:
        """The frame position of the stored pixels' top-left pixel."""
        return self.data[0] - self.display[0], self.data[1] - self.display[1]

    @property
    def frame_size(self) -> tuple[int, int]:
        """The display window's (width, height): the frame's size, as alignments record it."""
        return self.display[2], self.display[3]

    @property
    def stored_size(self) -> tuple[int, int]:
        return self.data[2], self.data[3]

    def to_array(self, matrix: np.ndarray | None = None, points: np.ndarray | None = None):
        """A frame → unit-crop ``matrix`` (2×3) as seen from the array's pixel grid, or frame
        ``points`` (N×2) as array positions; the same object when the origin is (0, 0)."""
        ox, oy = self.origin
        if matrix is not None:
            if not (ox or oy):
                return matrix
            m = np.asarray(matrix, np.float64).copy()
            m[:, 2] += m[:, :2] @ np.array([ox, oy], np.float64)
            return m
        assert points is not None
        return points if not (ox or oy) else np.asarray(points, np.float64) - (ox, oy)

    def place(self, face: Face, to_frame: bool = False) -> Face:
        """A face (a dataclass with a ``matrix`` and ``landmarks``, and a ``bbox`` if it has
        one: an alignment record, a placement, a swap) in frame pixels moved onto the stored
        pixels' grid, or with ``to_frame`` back; the same face when the origin is (0, 0)."""
        if self.origin == (0, 0):
            return face
        move = self.to_frame if to_frame else self.to_array
        f: Any = face
        changes = {"matrix": move(f.matrix), "landmarks": move(points=f.landmarks)}
        if hasattr(f, "bbox"):
            corners = move(points=np.array([f.bbox[:2], f.bbox[2:]], np.float64))
            changes["bbox"] = tuple(float(v) for v in np.ravel(corners))
        return replace(f, **changes)

    def to_frame(self, matrix: np.ndarray | None = None, points: np.ndarray | None = None):
        """The inverse of :meth:`to_array`: array-grid matrices or points in frame pixels."""
        back = Geometry(self.display, self.data, self.pixel_aspect, self.part)  # origin × −1
        return back.to_array(matrix, points)
