"""What a compositor can change about a merge, as one dataclass.

:class:`MergeSettings` is the single description of the merge: the CLI flags, the FaceMerge
node's knobs and the engine's merge op all map onto it, and its ``to_dict``/``from_dict`` is the
one serialisation (also hashed into each written frame, so a re-run knows when settings changed).
None of these settings touch the swap itself: changing them re-merges from the swap cache.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields

from ..errors import FaceplateError

MASK_SOURCES = ("hull", "learned", "hull*learned", "image", "image*learned")
COLOUR_MODES = ("none", "average", "reinhard", "histogram", "seamless")
HULL_KINDS = ("components", "extended")


class SettingsError(FaceplateError):
    """A merge setting is out of range; the message names the allowed values."""


@dataclass(frozen=True)
class MergeSettings:
    """How a swapped face is blended back into the plate (pixel sizes are plate pixels)."""

    mask: str = "hull*learned"  # one of MASK_SOURCES
    mask_image: str = ""  # plate-sized matte sequence (``roto.####.exr``) for the image sources
    mask_channel: str = "A"  # channel of mask_image to use (falls back to the first channel)
    hull: str = "components"  # landmark hull: "components" (brows to chin) or "extended" (+forehead)
    erode: float = 0.0  # shrink the mask by this many pixels; negative grows (dilates) it
    blur: float = 8.0  # feather: Gaussian sigma of the mask edge, in pixels
    colour: str = "reinhard"  # one of COLOUR_MODES
    sharpen: float = 0.0  # unsharp-mask amount on the swapped face (0 = off, 1 = strong)
    scale: float = 1.0  # grow (>1) or shrink the swapped face about its centre

    def __post_init__(self) -> None:
        if self.mask not in MASK_SOURCES:
            raise SettingsError(f"mask source {self.mask!r}: use one of {', '.join(MASK_SOURCES)}")
        if self.mask.startswith("image") and not self.mask_image:
            raise SettingsError(f"mask source {self.mask!r} needs a matte sequence "
                                "(--mask-image roto.####.exr)")
        if self.hull not in HULL_KINDS:
            raise SettingsError(f"hull {self.hull!r}: use one of {', '.join(HULL_KINDS)}")
        if self.colour not in COLOUR_MODES:
            raise SettingsError(f"colour mode {self.colour!r}: use one of "
                                f"{', '.join(COLOUR_MODES)}")
        if self.blur < 0:
            raise SettingsError(f"blur must be 0 or more pixels, not {self.blur}")
        if not 0.0 <= self.sharpen <= 4.0:
            raise SettingsError(f"sharpen must be between 0 and 4, not {self.sharpen}")
        if not 0.5 <= self.scale <= 2.0:
            raise SettingsError(f"face scale must be between 0.5 and 2, not {self.scale}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> MergeSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SettingsError(f"unknown merge settings {', '.join(unknown)}; "
                                f"known: {', '.join(sorted(known))}")
        return cls(**data)

    def digest(self) -> str:
        """A short stable hash of the settings (written into each frame's metadata)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
