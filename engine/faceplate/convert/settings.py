"""What a compositor can change about a merge, as one dataclass.

:class:`MergeSettings` is the single description of the merge: the CLI flags, the FaceMerge
node's knobs and the engine's merge op all map onto it, and its ``to_dict``/``from_dict`` is the
one serialisation (also hashed into each written frame, so a re-run knows when settings changed).
None of these settings touch the swap itself: changing them re-merges from the swap cache.
"""

from __future__ import annotations

from dataclasses import dataclass

from faceplate_client.layout import COLOUR_MODES, HULL_KINDS, MASK_SOURCES, PLATE_MATCH

from ..settings import Settings, SettingsError, setting

__all__ = ["COLOUR_MODES", "MergeSettings", "SettingsError"]


@dataclass(frozen=True)
class MergeSettings(Settings):
    """How a swapped face is blended back into the plate (pixel sizes are plate pixels)."""

    KIND = "merge"

    mask: str = setting("hull*learned", "where the face goes: landmark hull, the model's "
                        "learned mask, their product, an artist's matte image, or hull × "
                        "learned with the shot's learned occluders cut out", MASK_SOURCES)
    mask_image: str = setting("", "plate-sized matte sequence for the image sources, e.g. "
                              "roto.####.exr")
    mask_channel: str = setting("A", "channel of the matte image (else its first channel)")
    occlusion_matte: str = setting("", "occluder matte sequence for the occlusion source "
                                   "(default: the shot's latest faceplate occlusion predict)")
    hull: str = setting("components", "landmark hull: brows to chin, or extended to the "
                        "forehead", HULL_KINDS)
    erode: float = setting(0.0, "shrink the mask by this many plate pixels; negative grows it",
                           bounds=(-400.0, 400.0))
    blur: float = setting(8.0, "feather the mask edge: Gaussian sigma in plate pixels",
                          bounds=(0.0, 400.0))
    colour: str = setting("reinhard", "match the face's colour to the plate", COLOUR_MODES)
    sharpen: float = setting(0.0, "unsharp-mask amount on the swapped face, 0 (off) to 4",
                             bounds=(0.0, 4.0))
    scale: float = setting(1.0, "grow (>1) or shrink (<1) the swapped face about its centre, "
                           "0.5 to 2", bounds=(0.5, 2.0))
    confidence_threshold: float = setting(
        0.0, "mix follows confidence: a face whose faceplate/confidence is below this fades "
        "out (0: always merged)", bounds=(0.0, 1.0))
    confidence_softness: float = setting(
        0.1, "how far below the confidence threshold a face fades to nothing (0: a hard cut)",
        bounds=(0.0, 1.0))
    temporal: float = setting(2.0, "smooth the colour match and the learned mask over this "
                              "many frames (Gaussian sigma, as landmarks are smoothed; never "
                              "across a cut), 0 (off) to 8; a shot render, not a single-frame "
                              "merge", bounds=(0.0, 8.0))
    temporal_swap: float = setting(0.0, "blend the swapped face with its neighbours' average "
                                   "over the same frames, 0 (off) to 1: steadier, softer "
                                   "motion", bounds=(0.0, 1.0))
    # Plate match: the swap gets the plate's grain, softness and motion blur (module .grain,
    # .softness, .motion); part of the merge, so a change re-merges from the swap cache.
    grain: str = setting("auto", "regrain the swapped face with the plate's own grain, "
                         "measured around each face (auto), or leave it clean (off)",
                         PLATE_MATCH)
    grain_amount: float = setting(1.0, "times the measured grain, 0 to 4", bounds=(0.0, 4.0))
    grain_size: float = setting(0.0, "grain size (Gaussian sigma, plate pixels); 0: as "
                                "measured", bounds=(0.0, 8.0))
    soften: str = setting("auto", "blur the swapped face to the plate's softness where the "
                          "plate is softer (auto), or not (off); never sharpens", PLATE_MATCH)
    shutter: float = setting(180.0, "motion blur the swapped face along its track over this "
                             "shutter angle in degrees, 0 (off) to 360; never across a cut",
                             bounds=(0.0, 360.0))

    def check(self) -> None:
        if self.mask.startswith("image") and not self.mask_image:
            raise SettingsError(f"mask source {self.mask!r} needs a matte sequence "
                                "(--mask-image roto.####.exr)")
