"""Colour management through OpenColorIO.

Networks see display-referred sRGB-encoded Rec.709 in 0–1 (what face detectors and our
autoencoders are trained on); plates may be scene-linear (ACEScg, linear sRGB) or already
display-referred. :class:`ColourSpaces` converts plate → network and back with the same
processor pair, so a round trip is exact to float precision and values above 1.0 survive the
inverse (they are only clipped where pixels enter a network).

The config is ``$OCIO`` when a studio sets it, else OCIO's built-in ACES studio config, so
ACES colourspaces work with no file on disk.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np
import PyOpenColorIO as ocio

from ..errors import FaceplateError

BUILTIN_CONFIG = "ocio://studio-config-latest"
NETWORK_SPACE = "sRGB Encoded Rec.709 (sRGB)"
# The default for a plate, by file type: EXR is scene-linear, everything else display-referred.
DEFAULT_LINEAR_SPACE = "ACEScg"
DEFAULT_DISPLAY_SPACE = NETWORK_SPACE


class ColourError(FaceplateError):
    """An unknown colourspace or unreadable config; the message lists what is available."""


@lru_cache(maxsize=4)
def load_config(path: str | None = None) -> ocio.Config:
    source = path or os.environ.get("OCIO") or BUILTIN_CONFIG
    try:
        return ocio.Config.CreateFromFile(source)
    except Exception as exc:  # noqa: BLE001 - OCIO raises its own Exception type
        raise ColourError(f"cannot load OCIO config {source!r}: {exc}") from None


def default_space_for(path: str) -> str:
    return DEFAULT_LINEAR_SPACE if path.lower().endswith(".exr") else DEFAULT_DISPLAY_SPACE


class ColourSpaces:
    """Converts between a plate's colourspace and the network's, both ways."""

    def __init__(self, plate_space: str, config: str | None = None,
                 network_space: str = NETWORK_SPACE):
        cfg = load_config(config)
        for name in (plate_space, network_space):
            if cfg.getColorSpace(name) is None:
                known = ", ".join(cs.getName() for cs in cfg.getColorSpaces())
                raise ColourError(f"unknown colourspace {name!r}; this config has: {known}")
        self.plate_space = plate_space
        self.network_space = network_space
        self.identity = cfg.getColorSpace(plate_space).getName() == \
            cfg.getColorSpace(network_space).getName()
        self._forward = cfg.getProcessor(plate_space, network_space).getDefaultCPUProcessor()
        self._inverse = cfg.getProcessor(network_space, plate_space).getDefaultCPUProcessor()

    def to_network(self, rgb: np.ndarray) -> np.ndarray:
        """Plate RGB (H×W×3 float) → network space, not clipped."""
        return self._apply(self._forward, rgb)

    def to_plate(self, rgb: np.ndarray) -> np.ndarray:
        return self._apply(self._inverse, rgb)

    def _apply(self, processor, rgb: np.ndarray) -> np.ndarray:
        out = np.ascontiguousarray(rgb, dtype=np.float32).copy()
        if not self.identity:
            processor.applyRGB(out)
        return out
