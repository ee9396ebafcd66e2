"""The merge stage: swapped faces back into the plate, one face box at a time.

Per face: colour-match the swapped face to the plate in the aligned crop (:mod:`.colour_match`:
at the model's resolution, whatever the plate's) and convert it to the plate's colourspace
there; build the matte over the box the crop covers (:mod:`.masks`), then shrink the work to
the matte's own bounding box; there, warp the face back (across the shutter: motion blur along
its track, :mod:`.motion`), match it to the plate (:func:`match_plate`: the plate's softness,
the artist's sharpen, the plate's grain) and blend. Pixels where the final matte is 0 are never
written, so they stay bit-identical to the plate, values above 1.0 and NaNs included.

Non-finite plates: where the matte is above 0 the result is finite. A NaN or infinite plate
pixel there is blended as its finite neighbours' inpainted value (:func:`faceplate.face.crop.fill_non_finite`),
so at a matte of 1 it is the face's. A face whose swap is not finite, or whose plate under the
hull is mostly not finite (less than :data:`MIN_FINITE_FACE` of it finite: nothing to swap or
colour-match against), is not merged: :class:`~.swap.SwapFailed` fails the frame.

Beside the blend each face adds to the frame's other layers: ``faceregion`` (:mod:`.regions`),
``faceraw`` (the model's face warped to the plate, premultiplied by its learned mask, neither
colour-matched nor blended), ``facest`` (plate → aligned-crop ST map, :mod:`faceplate.face.stmap`)
and its confidence (:mod:`.confidence`), which can scale its matte (the settings' confidence
threshold).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from faceplate_client.layout import FACE_LAYERS

from ..face.align import invert, transform_points
from ..face.box import Box
from ..face.crop import aligned_crop, face_box, fill_non_finite, non_finite_pixels, source_box
from ..face.stmap import plate_to_face
from ..io.colour import ColourSpaces
from ..io.images import placed, to_half
from . import grain, masks, regions, softness
from .colour_match import ColourTransform, apply, face_weight, match_colour
from .confidence import FaceConfidence, face_confidence, mix_for
from .motion import FaceMotion, vectors
from .motion import blur as motion_blur
from .settings import MergeSettings
from .swap import SwapFailed

# A face whose plate under its landmark hull is finite on less than this share is not swapped.
MIN_FINITE_FACE = 0.5


@dataclass
class SwappedFace:
    """One face ready to merge: the model's output and where it goes."""

    face: np.ndarray  # S×S×3 float32, network space 0–1
    learned: np.ndarray  # S×S float32, the model's mask
    matrix: np.ndarray  # 2×3, plate pixels → unit crop
    landmarks: np.ndarray  # 68×2 plate pixels
    detection: float | None = None  # extraction's is-it-a-face confidence (alignments.json)
    # The colour transform smoothed over the shot (convert's temporal pass); None: measure here.
    colour: ColourTransform | None = None
    # The plate's aligned crop the model was given (network space); None: cut it from the plate.
    crop: np.ndarray | None = None
    motion: FaceMotion | None = None  # its matrices on the frames either side (its track's)


# Where each layer sits among the FACE_LAYERS channels of :attr:`MergeLayers.data`.
FACE, LEARNED, HULL, OCCLUSION = 0, 1, 2, 3
REGIONS, RAW, ST, VECTORS = slice(4, 8), slice(8, 12), slice(12, 15), slice(15, 19)
LAYER_COUNT = sum(len(channels) for channels in FACE_LAYERS.values())


@dataclass
class MergeLayers:
    """The layers of a merged frame after RGBA (FACE_LAYERS order), stored over
    :attr:`extent` only — the box every face's layers can reach, known before the merge — as
    one box-sized H×W×15 float32 array: a 4K frame's layers cost their box in memory, and the
    writer converts them in one contiguous pass. The merge writes through :meth:`view`; the
    plate-sized properties (``face``, ``raw``, …) are copies, for readers."""

    frame_size: tuple[int, int]  # the plate's (width, height)
    extent: Box
    data: np.ndarray  # extent-sized H×W×LAYER_COUNT
    box: Box = field(default_factory=lambda: Box(0, 0, 0, 0))  # the faces that were blended
    # The premultiplied swapped face over black, over the extent (face-only output).
    face_rgb: np.ndarray | None = None
    confidences: list[FaceConfidence] = field(default_factory=list)  # one per face
    matches: list[dict] = field(default_factory=list)  # one per face: what plate match did

    @classmethod
    def empty(cls, frame_size: tuple[int, int], extent: Box,
              face_only: bool = False) -> MergeLayers:
        shape = (max(extent.height, 0), max(extent.width, 0))
        return cls(frame_size, extent, np.zeros(shape + (LAYER_COUNT,), np.float32),
                   face_rgb=np.zeros(shape + (3,), np.float32) if face_only else None)

    def local(self, box: Box) -> tuple[slice, slice]:
        """The slices of ``box`` (plate pixels, inside the extent) in the extent's arrays."""
        e = self.extent
        return slice(box.y0 - e.y0, box.y1 - e.y0), slice(box.x0 - e.x0, box.x1 - e.x0)

    def view(self, box: Box, channels: int | slice) -> np.ndarray:
        """``channels`` of the layers over ``box`` (inside the extent), as a writable view."""
        return self.data[self.local(box) + (channels,)]

    def plate(self, channels: int | slice) -> np.ndarray:
        """``channels`` as a plate-sized array (zero outside the extent)."""
        w, h = self.frame_size
        return self.over(Box(0, 0, w, h), channels)

    def over(self, box: Box, channels: int | slice = slice(None),
             dtype: type = np.float32) -> np.ndarray:
        """``channels`` over ``box`` as a new box-sized array of ``dtype``, zero outside the
        extent."""
        e, view = self.extent, self.data[..., channels]
        out = placed(view, (e.x0, e.y0), (box.x0, box.y0, box.width, box.height))
        if dtype == np.float16 and out.size:
            return to_half(out)
        return out.astype(dtype) if out is view else out.astype(dtype, copy=False)

    face = property(lambda self: self.plate(FACE), doc="the final matte the face was blended with")
    learned = property(lambda self: self.plate(LEARNED), doc="the model's mask on the plate")
    hull = property(lambda self: self.plate(HULL), doc="the landmark hull, unshaped")
    occlusion = property(lambda self: self.plate(OCCLUSION),
                         doc="the occluder matte cut out of the face (occlusion source)")
    regions = property(lambda self: self.plate(REGIONS), doc="faceregion: eyes, brows, mouth, skin")
    raw = property(lambda self: self.plate(RAW),
                   doc="faceraw: the warped swap, premultiplied by the learned mask")
    st = property(lambda self: self.plate(ST), doc="facest: s, t of the aligned crop, valid")
    vectors = property(lambda self: self.plate(VECTORS),
                       doc="forward.u/v, backward.u/v: the faces' motion (Nuke's convention)")


class Placed(Protocol):
    """Where a face sits in the plate: a swap, or the placement it comes from."""

    @property
    def matrix(self) -> np.ndarray: ...

    @property
    def landmarks(self) -> np.ndarray: ...


@dataclass(frozen=True)
class _FaceBoxes:
    """The plate boxes one face's layers reach, clipped to the frame (empty off-frame)."""

    raw: Box  # faceraw: the crop's footprint, scaled
    st: Box  # facest: the crop's own footprint
    regions: Box
    matte: Box  # the blend's matte: the scaled footprint grown by erode and feather

    @classmethod
    def of(cls, sf: Placed, size: int, settings: MergeSettings,
           frame_size: tuple[int, int]) -> _FaceBoxes:
        """``sf``'s boxes (a swap, or the placement it will come from) for crops of ``size``."""
        matrix = masks.scaled_matrix(sf.matrix, settings.scale)
        points = _scaled_landmarks(sf, settings.scale)
        w, h = frame_size
        return cls(face_box(matrix, frame_size, size),
                   face_box(sf.matrix, frame_size, size),
                   masks.points_box(points, settings.hull, regions.margin(points))
                   .intersect(Box(0, 0, w, h)),
                   face_box(matrix, frame_size, size,
                                  masks.margin_for(settings.erode, settings.blur)))

    def union(self) -> Box:
        out = Box(0, 0, 0, 0)
        for box in (self.raw, self.st, self.regions, self.matte):
            out = out.union(box)
        return out


def merge_faces(rgb: np.ndarray, alpha: np.ndarray | None, faces: list[SwappedFace],
                colour: ColourSpaces, settings: MergeSettings, matte: np.ndarray | None = None,
                face_only: bool = False, frame: int = 0, view: str = "") -> MergeLayers:
    """Merge ``faces`` into ``rgb`` (H×W×3, plate colourspace) **in place**; ``alpha`` (H×W)
    is updated in place too when given. ``matte`` is the plate-sized matte of the ``image``
    mask sources (the artist's) or of the ``occlusion`` source (the occluders). ``frame``
    and the stereo ``view`` seed each face's grain (with its index), so a re-render gives
    the same bits and two eyes get a camera's independent grain."""
    h, w = rgb.shape[:2]
    for face in faces:  # before any pixel changes
        check_swappable(rgb, face, settings.hull)
    boxes = [_FaceBoxes.of(face, face.face.shape[0], settings, (w, h)) for face in faces]
    extent = Box(0, 0, 0, 0)
    for b in boxes:
        extent = extent.union(b.union())
    out = MergeLayers.empty((w, h), extent, face_only)
    # Every face matches the plate as it was, not as an earlier face left it: with more than
    # one, each face's box of the plate is kept before any face is blended.
    keep = len(faces) > 1 and _matches(settings)
    unblended = [rgb[b.matte.slices].copy() if keep else None for b in boxes]
    for index, (face, b, before) in enumerate(zip(faces, boxes, unblended)):
        _merge_one(rgb, alpha, face, b, colour, settings, matte, out,
                   _seed(frame, index, view), before)
    return out


def _matches(settings: MergeSettings) -> bool:
    return "auto" in (settings.grain, settings.soften)


def check_swappable(rgb: np.ndarray, sf: SwappedFace, hull: str = "components") -> None:
    """Raise :class:`~.swap.SwapFailed` when ``sf`` cannot be merged into ``rgb``: its face
    or learned mask holds NaN or infinite values (a broken model), or the plate under its
    landmark hull is finite on less than :data:`MIN_FINITE_FACE` of it."""
    if not (np.isfinite(sf.face).all() and np.isfinite(sf.learned).all()):
        raise SwapFailed("the model's swapped face or learned mask holds NaN or infinite "
                         "values (a broken or diverged model): nothing merged")
    h, w = rgb.shape[:2]
    points = np.asarray(sf.landmarks, np.float64)
    box = masks.points_box(points, hull, 0.0).intersect(Box(0, 0, w, h))
    bad = None if box.empty else non_finite_pixels(rgb[box.slices])
    if bad is None:
        return
    shape = masks.hull_in_box(points, box, hull)
    total = float(shape.sum())
    finite = float(shape[~bad].sum())
    if total > 0 and finite < MIN_FINITE_FACE * total:
        raise SwapFailed(f"the plate under the face is NaN or infinite on "
                         f"{1.0 - finite / total:.0%} of it: nothing to swap or colour-match "
                         "against")


def merge_reach(faces: Sequence[Placed], size: int, settings: MergeSettings,
                frame_size: tuple[int, int]) -> Box:
    """The plate box that merging these faces (crops of ``size``) reads or writes, their crops
    included: the merge looks at no pixel outside it."""
    out = Box(0, 0, 0, 0)
    for face in faces:
        out = out.union(_FaceBoxes.of(face, size, settings, frame_size).union()) \
            .union(source_box(face.matrix, frame_size, size))
    return out


def _merge_one(rgb: np.ndarray, alpha: np.ndarray | None, sf: SwappedFace, boxes: _FaceBoxes,
               colour: ColourSpaces, settings: MergeSettings, matte: np.ndarray | None,
               layers: MergeLayers, seed: tuple[int, ...], before: np.ndarray | None) -> None:
    """Blend one face (``before``: the plate over its matte box before any face was blended;
    None: ``rgb`` still is)."""
    matrix = masks.scaled_matrix(sf.matrix, settings.scale)
    confidence = face_confidence(sf.detection, sf.learned, sf.matrix, sf.landmarks)
    layers.confidences.append(confidence)
    if not boxes.raw.empty:
        _raw_layer(sf, matrix, colour, layers.view(boxes.raw, RAW), boxes.raw)
    if not boxes.st.empty:
        _st_layer(sf, layers, boxes.st)
    if not boxes.regions.empty:
        _region_layer(_scaled_landmarks(sf, settings.scale), settings.hull,
                      layers.view(boxes.regions, REGIONS), boxes.regions)
    mix = mix_for(confidence.overall, settings.confidence_threshold,
                  settings.confidence_softness)
    face_matte = _face_matte(sf, matrix, boxes.matte, settings, matte, layers, mix)
    if face_matte is None:  # off-frame, an empty matte or faded out: nothing to blend
        layers.matches.append({})
        return
    box, m, reach = face_matte

    face, samples = motion_blur(_matched_face(sf, rgb, colour, settings), sf.matrix, sf.motion,
                                settings.shutter)
    region = rgb[box.slices]
    base = fill_non_finite(region)  # the plate itself unless it holds NaN or infinity
    if before is None:
        plate_here = base
    else:  # the cut box lies inside the matte box
        mb = boxes.matte
        plate_here = fill_non_finite(before[box.y0 - mb.y0:box.y1 - mb.y0,
                                            box.x0 - mb.x0:box.x1 - mb.x0])
    swapped_plate, record = match_plate(_face_in_box(face, matrix, box, reach), plate_here, m,
                                        settings, seed)
    if sf.motion is not None:
        record["motion"] = sf.motion.to_dict(sf.matrix) | {"samples": samples}
    layers.matches.append(record)
    vec = layers.view(box, VECTORS)
    np.copyto(vec, vectors(sf.matrix, sf.motion, box),
              where=(m > layers.view(box, FACE))[..., None])  # the face on top's motion

    inside = m > 0
    m3 = m[..., None]
    if layers.face_rgb is not None:
        under = layers.face_rgb[layers.local(box)]
        np.copyto(under, swapped_plate * m3 + under * (1.0 - m3), where=inside[..., None])
    # base + m·(face − base), in place; written only where the matte is non-zero.
    swapped_plate -= base
    swapped_plate *= m3
    swapped_plate += base
    np.copyto(region, swapped_plate, where=inside[..., None])
    if alpha is not None:
        a = alpha[box.slices]
        a_base = fill_non_finite(a)
        np.copyto(a, a_base + m * (1.0 - a_base), where=inside)
    face = layers.view(box, FACE)
    np.maximum(face, m, out=face)
    layers.box = layers.box.union(box)


def _matched_face(sf: SwappedFace, rgb: np.ndarray, colour: ColourSpaces,
                  settings: MergeSettings) -> np.ndarray:
    """The swapped crop colour-matched to the plate under it and in the plate's colourspace.

    Matching and conversion run on the crop (the model's resolution, not the face's size on
    the plate). Colour matching may push a channel below 0: never merge negative light."""
    face, mode = sf.face, settings.colour
    if mode != "none" and sf.colour is not None:
        face = apply(sf.colour, face)
    elif mode != "none":
        size = face.shape[0]
        crop = sf.crop if sf.crop is not None else aligned_crop(rgb, sf.matrix, size,
                                                                colour.to_network)
        face = match_colour(mode, face, crop,
                            face_weight(sf.landmarks, sf.matrix, sf.learned, settings.hull,
                                        settings.mask))
    return colour.to_plate(np.maximum(face, 0.0))


def _face_matte(sf: SwappedFace, matrix: np.ndarray, box: Box, settings: MergeSettings,
                matte: np.ndarray | None, layers: MergeLayers, mix: float = 1.0
                ) -> tuple[Box, np.ndarray, np.ndarray] | None:
    """One face's matte over its ``box``, cut to the matte's own bounding box:
    ``(box, final, reach)``.

    ``final`` is the shaped matte to blend with (times ``mix``) and ``reach`` the warp of an
    all-ones crop (see :func:`_face_in_box`). The learned and hull layers are written on the
    way.
    """
    if box.empty:
        return None
    size = sf.face.shape[0]
    margin = masks.margin_for(settings.erode, settings.blur)
    learned_box = np.clip(masks.from_crop(sf.learned, matrix, box, True), 0, 1)
    _max_into(layers.view(box, LEARNED), learned_box)
    points = _scaled_landmarks(sf, settings.scale)
    # A hull-based matte cannot reach past the hull (plus erode/feather): work only there.
    work = box if not settings.mask.startswith("hull") else \
        box.intersect(masks.points_box(points, settings.hull, margin))
    if work.empty:
        return None
    local = Box(work.x0 - box.x0, work.y0 - box.y0, work.x1 - box.x0, work.y1 - box.y0)
    reach = masks.from_crop(np.ones((size, size), np.float32), matrix, work)
    coverage = np.clip(reach, 0, 1)  # where the crop reaches
    coverage[coverage > 1.0 - 1e-4] = 1.0  # the kernel's weights sum to 1 only to rounding
    learned = learned_box[local.slices] * coverage
    hull = masks.hull_in_box(points, work, settings.hull)
    _max_into(layers.view(work, HULL), hull)
    if settings.mask == "occlusion" and matte is not None:
        _max_into(layers.view(work, OCCLUSION), masks.matte_in_box(matte, work) * coverage)
    raw = _mask_source(settings.mask, hull, learned, matte, work) * coverage
    final = masks.shape_mask(raw, settings.erode, settings.blur) * (coverage * mix)
    final[final < masks.MASK_FLOOR] = 0.0
    inner = _support(final)
    if inner is None:
        return None
    # From here on only the matte's bounding box: typically half the crop's box.
    cut = Box(work.x0 + inner.x0, work.y0 + inner.y0, work.x0 + inner.x1, work.y0 + inner.y1)
    sl = inner.slices
    return cut, final[sl], reach[sl]


def _max_into(under: np.ndarray, over: np.ndarray) -> None:
    """Lay a face's matte over earlier faces' (in place)."""
    np.maximum(under, over, out=under)


def _raw_layer(sf: SwappedFace, matrix: np.ndarray, colour: ColourSpaces, under: np.ndarray,
               box: Box) -> None:
    """``faceraw`` over ``box`` (``under``: the layer there): the face as the model drew it,
    in the plate's colourspace, premultiplied by its learned mask, laid over earlier faces. It
    is premultiplied in the crop and warped linearly, so beyond the crop's edge it fades with
    its alpha and never overshoots."""
    a = np.clip(sf.learned, 0.0, 1.0)
    a[a < masks.MASK_FLOOR] = 0.0
    premultiplied = np.concatenate([colour.to_plate(np.clip(sf.face, 0.0, 1.0)) * a[..., None],
                                    a[..., None]], -1)
    warped = masks.from_crop(premultiplied, matrix, box, True)
    if under[..., 3].any():  # over an earlier face: face + under·(1 − a)
        under *= 1.0 - warped[..., 3:]
        under += warped
    else:
        under[...] = warped


def _st_layer(sf: SwappedFace, layers: MergeLayers, box: Box) -> None:
    """``facest`` over ``box``: plate pixels → the face's aligned crop (s, t, valid); where two
    faces' crops overlap, the first face keeps its map."""
    under = layers.view(box, ST)
    if not under[..., 2].any():  # nothing under it yet: write the map in place
        plate_to_face(sf.matrix, sf.face.shape[0], layers.frame_size, out=under,
                      origin=(box.x0, box.y0))
        return
    found = plate_to_face(sf.matrix, sf.face.shape[0], layers.frame_size)
    if found is not None:  # an invalid pixel is all 0
        np.copyto(under, found[0], where=(under[..., 2] == 0)[..., None])


def _region_layer(points: np.ndarray, hull: str, under: np.ndarray, box: Box) -> None:
    """``faceregion`` of one face over ``box`` (``under``: the layer there)."""
    local = points - np.array([box.x0, box.y0])
    _max_into(under, regions.region_mattes(local, (box.height, box.width), hull))


def _support(matte: np.ndarray) -> Box | None:
    """The bounding box of a matte's non-zero pixels, in its own coordinates."""
    rows = np.flatnonzero(matte.any(axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero(matte.any(axis=0))
    return Box(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def _face_in_box(face: np.ndarray, matrix: np.ndarray, box: Box,
                 reach: np.ndarray) -> np.ndarray:
    """The face warped back, divided by the warp of an all-ones crop (``reach``) near the
    crop's edge, so the edge keeps its colour instead of fading into the black outside."""
    warped = np.asarray(masks.from_crop(face, matrix, box), np.float32)
    edge = (reach > 0.5) & (np.abs(reach - 1.0) > 1e-4)
    warped[edge] /= reach[edge][:, None]
    return warped


def match_plate(face: np.ndarray, plate: np.ndarray, matte: np.ndarray,
                settings: MergeSettings, seed: tuple[int, ...]) -> tuple[np.ndarray, dict]:
    """The swapped face on its box (``face``) matched to the plate under it (``plate``,
    finite) inside ``matte``: blurred to the plate's softness (:mod:`.softness`; never
    sharpened), the artist's sharpen, no negative light, then the plate's grain
    (:mod:`.grain`, new for each ``seed``: frame, face and view). Returns it and what was done (the
    frame's ``faceplate/plate_match`` metadata)."""
    record: dict = {}
    measured = grain.measure(plate) if _matches(settings) else None
    if settings.soften == "auto":
        found = softness.match(face, plate, matte, measured)
        face = softness.soften(face, found.sigma)
        record["softness"] = found.to_dict()
    face = np.maximum(masks.sharpen(face, settings.sharpen), 0.0)
    if settings.grain == "auto" and measured is not None and settings.grain_amount > 0:
        found_grain = measured.scaled(settings.grain_amount, settings.grain_size)
        face = face + grain.synthesize(found_grain, face, seed)
        record["grain"] = found_grain.to_dict()
    return np.asarray(face, np.float32), record


def _seed(frame: int, index: int, view: str) -> tuple[int, ...]:
    """A face's grain seed (non-negative, as numpy's generators take them)."""
    return abs(frame), int(frame < 0), index, zlib.crc32(view.encode("utf-8"))


def _scaled_landmarks(sf: Placed, scale: float) -> np.ndarray:
    points = np.asarray(sf.landmarks, dtype=np.float64)
    if scale == 1.0:
        return points
    centre = transform_points(np.array([[0.5, 0.5]]), invert(sf.matrix))[0]
    return centre + scale * (points - centre)


def _mask_source(source: str, hull: np.ndarray, learned: np.ndarray,
                 matte: np.ndarray | None, box: Box) -> np.ndarray:
    if source == "hull":
        return hull
    if source == "learned":
        return learned
    if source == "hull*learned":
        return hull * learned
    if source == "occlusion":
        if matte is None:
            return hull * learned
        return hull * learned * (1.0 - masks.matte_in_box(matte, box))
    if matte is None:
        return np.zeros_like(hull)
    image = masks.matte_in_box(matte, box)
    return image * learned if source == "image*learned" else image
