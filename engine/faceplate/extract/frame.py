"""A frame in network space, converted from the plate's colourspace only where it is looked at.

Converting a whole 4K plate through OpenColorIO costs about a second on one core, yet
extraction looks at the whole frame only at detection size (≈960 px) and at full resolution
only around faces. :class:`NetworkFrame` converts a downscaled copy for the detector and
full-resolution tiles on demand, so a 4K frame costs roughly what a 1080p one does.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from ..errors import FaceplateError
from ..io.colour import ColourSpaces
from ..io.images import GREY_CHANNELS, Geometry, non_finite_fraction, read_plate_frame
from ..io.sequence import Plate

TILE = 256


class NetworkFrame:
    """Float32 RGB in network space (0–1), computed lazily from plate-space pixels."""

    def __init__(self, plate_rgb: np.ndarray,
                 to_network: Callable[[np.ndarray], np.ndarray] | None = None,
                 geometry: Geometry | None = None):
        self._plate = np.ascontiguousarray(plate_rgb, dtype=np.float32)
        # Where these pixels sit in the frame: positions found on them are array pixels.
        self.geometry = geometry or Geometry.plain(plate_rgb.shape[1], plate_rgb.shape[0])
        self._convert = to_network
        h, w = self._plate.shape[:2]
        if to_network is None:  # already network space
            self._net = np.clip(self._plate, 0.0, 1.0)
            self._done = np.ones((1, 1), bool)
        else:
            self._net = np.empty_like(self._plate)
            self._done = np.zeros(((h + TILE - 1) // TILE, (w + TILE - 1) // TILE), bool)

    @property
    def shape(self) -> tuple[int, int, int]:
        h, w, c = self._plate.shape
        return h, w, c

    def window(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """Network-space pixels of the box (clipped to the frame); a view, do not modify."""
        h, w = self._plate.shape[:2]
        x0, y0, x1, y1 = max(0, int(x0)), max(0, int(y0)), min(w, int(x1)), min(h, int(y1))
        if self._convert is not None and x1 > x0 and y1 > y0:
            for ty in range(y0 // TILE, (y1 - 1) // TILE + 1):
                for tx in range(x0 // TILE, (x1 - 1) // TILE + 1):
                    if not self._done[ty, tx]:
                        sy, sx = slice(ty * TILE, (ty + 1) * TILE), slice(tx * TILE, (tx + 1) * TILE)
                        self._net[sy, sx] = np.clip(self._convert(self._plate[sy, sx]), 0.0, 1.0)
                        self._done[ty, tx] = True
        return self._net[y0:y1, x0:x1]

    def full(self) -> np.ndarray:
        h, w = self._plate.shape[:2]
        return self.window(0, 0, w, h)

    def downscaled(self, scale: float) -> np.ndarray:
        """The whole frame at ``scale`` (≤ 1) in network space (filtered in plate space)."""
        if scale >= 1.0:
            return self.full()
        h, w = self._plate.shape[:2]
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = cv2.resize(self._plate, size, interpolation=cv2.INTER_AREA)
        return np.clip(self._convert(small), 0.0, 1.0) if self._convert else small


def as_frame(image) -> NetworkFrame:
    """A :class:`NetworkFrame` as is, or a network-space float32 H×W×3 array wrapped in one."""
    if isinstance(image, NetworkFrame):
        return image
    rgb = np.asarray(image)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.float32:
        raise FaceplateError(f"a backend needs float32 H×W×3 RGB, got {rgb.dtype} {rgb.shape}")
    return NetworkFrame(rgb)


def network_frame(source: Plate, frame: int, colour: ColourSpaces, view: str = ""
                  ) -> tuple[NetworkFrame, list[str]]:
    """A plate frame (of the stereo ``view``) in network space (converted where looked at)
    and warnings about it."""
    image = read_plate_frame(source, frame, view=view)
    names = set(image.channels)
    grey = set(image.colour_names(GREY_CHANNELS))
    if not (set(image.colour_names("RGB")) <= names or names & grey):
        raise FaceplateError(f"{image.source} has channels {', '.join(image.channels)}; "
                             "extraction needs R, G, B (or one grey channel Y)")
    rgb = image.rgb()
    warnings = []
    bad = non_finite_fraction(rgb)
    if bad:
        warnings.append(f"{bad:.2%} of pixels are NaN or infinite; they were treated as black")
        rgb = np.nan_to_num(rgb, nan=0.0, posinf=0.0, neginf=0.0)
    return NetworkFrame(rgb, None if colour.identity else colour.to_network,
                        image.frame), warnings
