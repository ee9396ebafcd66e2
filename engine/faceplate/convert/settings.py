"""What a compositor can change about a merge, as one dataclass.

:class:`MergeSettings` is the single description of the merge: the CLI flags, the FaceMerge
node's knobs and the engine's merge op all map onto it, and its ``to_dict``/``from_dict`` is the
one serialisation (also hashed into each written frame, so a re-run knows when settings changed).
None of these settings touch the swap itself: changing them re-merges from the swap cache.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields

from faceplate_client.layout import COLOUR_MODES, HULL_KINDS, MASK_SOURCES

from ..errors import FaceplateError


def _knob(default, help_text: str, choices: tuple[str, ...] = (),
          bounds: tuple[float, float] | None = None):
    """A setting with the help, choices and (for numbers) inclusive bounds that CLI flags,
    Nuke knobs and the engine's op params are generated from."""
    return field(default=default, metadata={"help": help_text, "choices": choices,
                                            "bounds": bounds})


class SettingsError(FaceplateError):
    """A merge setting is out of range; the message names the allowed values."""


@dataclass(frozen=True)
class MergeSettings:
    """How a swapped face is blended back into the plate (pixel sizes are plate pixels)."""

    mask: str = _knob("hull*learned", "where the face goes: landmark hull, the model's "
                      "learned mask, their product, an artist's matte image, or hull × "
                      "learned with the shot's learned occluders cut out", MASK_SOURCES)
    mask_image: str = _knob("", "plate-sized matte sequence for the image sources, e.g. "
                            "roto.####.exr")
    mask_channel: str = _knob("A", "channel of the matte image (else its first channel)")
    occlusion_matte: str = _knob("", "occluder matte sequence for the occlusion source "
                                 "(default: the shot's latest faceplate occlusion predict)")
    hull: str = _knob("components", "landmark hull: brows to chin, or extended to the "
                      "forehead", HULL_KINDS)
    erode: float = _knob(0.0, "shrink the mask by this many plate pixels; negative grows it",
                         bounds=(-400.0, 400.0))
    blur: float = _knob(8.0, "feather the mask edge: Gaussian sigma in plate pixels",
                        bounds=(0.0, 400.0))
    colour: str = _knob("reinhard", "match the face's colour to the plate", COLOUR_MODES)
    sharpen: float = _knob(0.0, "unsharp-mask amount on the swapped face, 0 (off) to 4",
                           bounds=(0.0, 4.0))
    scale: float = _knob(1.0, "grow (>1) or shrink (<1) the swapped face about its centre, "
                         "0.5 to 2", bounds=(0.5, 2.0))
    temporal: float = _knob(2.0, "smooth the colour match and the learned mask over this many "
                            "frames (Gaussian sigma, as landmarks are smoothed; never across "
                            "a cut), 0 (off) to 8; a shot render, not a single-frame merge",
                            bounds=(0.0, 8.0))
    temporal_swap: float = _knob(0.0, "blend the swapped face with its neighbours' average "
                                 "over the same frames, 0 (off) to 1: steadier, softer "
                                 "motion", bounds=(0.0, 1.0))

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
        for f in fields(self):
            bounds, value = f.metadata["bounds"], getattr(self, f.name)
            if bounds and not (type(value) in (int, float) and bounds[0] <= value <= bounds[1]):
                raise SettingsError(f"{f.name} must be between {bounds[0]:g} and "
                                    f"{bounds[1]:g}, not {value!r}")

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

    @classmethod
    def knobs(cls) -> list[dict]:
        """Every setting as ``{name, type, default, help, choices}``: the declaration the CLI
        flags, the FaceMerge knobs and the engine's merge op are built from."""
        return [{"name": f.name, "type": type(f.default).__name__, "default": f.default,
                 "help": f.metadata["help"], "choices": list(f.metadata["choices"]),
                 **({"min": f.metadata["bounds"][0], "max": f.metadata["bounds"][1]}
                    if f.metadata["bounds"] else {})}
                for f in fields(cls)]

    def digest(self) -> str:
        """A short stable hash of the settings (written into each frame's metadata)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
