"""The review movie's pictures: the plate and the merged frame side by side, each labelled with
the frame number, drawn as the contact sheet draws them (the shot's colourspace to
display-referred sRGB through OpenColorIO, :class:`~faceplate.io.colour.ColourSpaces`)."""

from __future__ import annotations

import cv2
import numpy as np

from ..io.colour import ColourSpaces
from ..io.images import read_plate_frame, to_uint8
from ..io.sequence import Plate
from ..pictures import label

MAX_WIDTH = 1920  # the two halves together: a review movie, not a deliverable


def half_size(width: int, height: int, max_width: int = MAX_WIDTH) -> tuple[int, int]:
    """Each half's size: the frame's, shrunk so both fit in ``max_width``."""
    scale = min(1.0, max_width / (2 * width))
    return max(1, round(width * scale)), max(1, round(height * scale))


def side_by_side(plate: Plate, merged: Plate, frame: int, colour: ColourSpaces,
                 max_width: int = MAX_WIDTH) -> np.ndarray:
    """``plate | merged`` of one frame: 8-bit RGB, at most ``max_width`` wide (the plate's
    frame size decides each half's, so every frame of a shot comes out the same size)."""
    halves = []
    size: tuple[int, int] | None = None
    for name, source in (("plate", plate), ("merged", merged)):
        image = read_plate_frame(source, frame)  # a merged frame's first part: its RGBA
        size = size or half_size(image.width, image.height, max_width)
        display = np.nan_to_num(colour.to_network(image.rgb()), nan=0.0)
        small = cv2.resize(display, size, interpolation=cv2.INTER_AREA)
        halves.append(label(to_uint8(small), f"{name} {frame}"))
    return np.hstack(halves)
