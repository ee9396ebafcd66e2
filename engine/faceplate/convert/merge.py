"""The merge stage: swapped faces back into the plate, one face box at a time.

Per face: colour-match the swapped face to the plate in the aligned crop (:mod:`.colour_match`:
at the model's resolution, whatever the plate's) and convert it to the plate's colourspace
there; build the matte over the box the crop covers (:mod:`.masks`), then shrink the work to
the matte's own bounding box; there, warp the face back, sharpen it and blend. Pixels where the
final matte is 0 are never written, so they stay bit-identical to the plate, values above 1.0
and NaNs included.

Beside the blend each face adds to the frame's other layers: ``faceregion`` (:mod:`.regions`),
``faceraw`` (the model's face warped to the plate, premultiplied by its learned mask, neither
colour-matched nor blended), ``facest`` (plate → aligned-crop ST map, :mod:`faceplate.face.stmap`)
and its confidence (:mod:`.confidence`), which can scale its matte (the settings' confidence
threshold).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..face.align import invert, transform_points
from ..face.stmap import plate_to_face
from ..io.colour import ColourSpaces
from . import masks, regions
from .colour_match import ColourTransform, apply, face_weight, match_colour
from .confidence import FaceConfidence, face_confidence, mix_for
from .masks import Box
from .settings import MergeSettings
from .swap import plate_crop


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


@dataclass
class MergeLayers:
    """The layers of a merged frame after RGBA, plate-sized (H×W or H×W×C, each its own
    array), and the face-only image."""

    face: np.ndarray  # the final matte the face was blended with
    learned: np.ndarray  # the model's mask, warped to the plate
    hull: np.ndarray  # the landmark hull, unshaped
    occlusion: np.ndarray  # the occluder matte cut out of the face (occlusion source)
    regions: np.ndarray  # H×W×4 faceregion: eyes, brows, mouth, skin
    raw: np.ndarray  # H×W×4 faceraw: the warped swap, premultiplied by the learned mask
    st: np.ndarray  # H×W×3 facest: s, t of the aligned crop, valid
    box: Box = field(default_factory=lambda: Box(0, 0, 0, 0))  # the faces that were blended
    face_rgb: np.ndarray | None = None  # premultiplied swapped face over black (face-only out)
    confidences: list[FaceConfidence] = field(default_factory=list)  # one per face
    # The union of every box any layer was written in (what the writer stores).
    extent: Box = field(default_factory=lambda: Box(0, 0, 0, 0))

    @classmethod
    def empty(cls, h: int, w: int, face_only: bool = False) -> MergeLayers:
        """Zero layers for an H×W frame. They are fresh zero pages: only the rows the faces
        reach ever cost memory or time, and the writer stores just :attr:`extent`."""
        planes = [np.zeros((h, w, n), np.float32) if n > 1 else np.zeros((h, w), np.float32)
                  for n in (1, 1, 1, 1, 4, 4, 3)]
        return cls(*planes, face_rgb=np.zeros((h, w, 3), np.float32) if face_only else None)

    def wrote(self, box: Box) -> None:
        self.extent = self.extent.union(box)

    def channels(self) -> list[np.ndarray]:
        """Every layer channel (H×W views), in FACE_LAYERS order."""
        return [self.face, self.learned, self.hull, self.occlusion,
                *(plane[..., i] for plane in (self.regions, self.raw, self.st)
                  for i in range(plane.shape[-1]))]

    def stacked(self, box: Box, dtype: type = np.float32) -> np.ndarray:
        """The layer channels over ``box``, as one box-sized H×W×LAYER_CHANNELS array of
        ``dtype`` (copied and converted in one pass)."""
        sl = box.slices
        return np.concatenate([self.face[sl][..., None], self.learned[sl][..., None],
                               self.hull[sl][..., None], self.occlusion[sl][..., None],
                               self.regions[sl], self.raw[sl], self.st[sl]], axis=-1,
                              dtype=dtype)


def merge_faces(rgb: np.ndarray, alpha: np.ndarray | None, faces: list[SwappedFace],
                colour: ColourSpaces, settings: MergeSettings, matte: np.ndarray | None = None,
                face_only: bool = False) -> MergeLayers:
    """Merge ``faces`` into ``rgb`` (H×W×3, plate colourspace) **in place**; ``alpha`` (H×W)
    is updated in place too when given. ``matte`` is the plate-sized matte of the ``image``
    mask sources (the artist's) or of the ``occlusion`` source (the occluders)."""
    h, w = rgb.shape[:2]
    out = MergeLayers.empty(h, w, face_only)
    for face in faces:
        _merge_one(rgb, alpha, face, colour, settings, matte, out)
    return out


def _merge_one(rgb: np.ndarray, alpha: np.ndarray | None, sf: SwappedFace,
               colour: ColourSpaces, settings: MergeSettings, matte: np.ndarray | None,
               layers: MergeLayers) -> None:
    h, w = rgb.shape[:2]
    matrix = masks.scaled_matrix(sf.matrix, settings.scale)
    confidence = face_confidence(sf.detection, sf.learned, sf.matrix, sf.landmarks)
    layers.confidences.append(confidence)
    for box in (_raw_layer(sf, matrix, (w, h), colour, layers.raw),
                _st_layer(sf, (w, h), layers.st),
                _region_layer(_scaled_landmarks(sf, settings.scale), (w, h), settings.hull,
                              layers.regions)):
        if box is not None:
            layers.wrote(box)
    mix = mix_for(confidence.overall, settings.confidence_threshold,
                  settings.confidence_softness)
    face_matte = _face_matte(sf, matrix, (w, h), settings, matte, layers, mix)
    if face_matte is None:  # off-frame, an empty matte or faded out: nothing to blend
        return
    box, m, reach = face_matte

    swapped_plate = np.maximum(masks.sharpen(_face_in_box(
        _matched_face(sf, rgb, colour, settings), matrix, box, reach), settings.sharpen), 0.0)
    region = rgb[box.slices]

    inside = m > 0
    m3 = m[..., None]
    if layers.face_rgb is not None:
        under = layers.face_rgb[box.slices]
        np.copyto(under, swapped_plate * m3 + under * (1.0 - m3), where=inside[..., None])
    # region + m·(face − region), in place; written only where the matte is non-zero.
    swapped_plate -= region
    swapped_plate *= m3
    swapped_plate += region
    np.copyto(region, swapped_plate, where=inside[..., None])
    if alpha is not None:
        a = alpha[box.slices]
        np.copyto(a, a + m * (1.0 - a), where=inside)
    np.maximum(layers.face[box.slices], m, out=layers.face[box.slices])
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
        crop = sf.crop if sf.crop is not None else plate_crop(rgb, sf.matrix, size, colour)
        face = match_colour(mode, face, crop,
                            face_weight(sf.landmarks, sf.matrix, sf.learned, settings.hull,
                                        settings.mask))
    return colour.to_plate(np.maximum(face, 0.0))


def _face_matte(sf: SwappedFace, matrix: np.ndarray, frame_size: tuple[int, int],
                settings: MergeSettings, matte: np.ndarray | None, layers: MergeLayers,
                mix: float = 1.0) -> tuple[Box, np.ndarray, np.ndarray] | None:
    """One face's matte, cut to its own bounding box: ``(box, final, reach)``.

    ``final`` is the shaped matte to blend with (times ``mix``) and ``reach`` the warp of an
    all-ones crop (see :func:`_face_in_box`). The learned and hull layers are written on the
    way.
    """
    size = sf.face.shape[0]
    margin = masks.margin_for(settings.erode, settings.blur)
    box = masks.face_box(matrix, frame_size, size, margin)
    if box.empty:
        return None
    layers.wrote(box)
    learned_box = np.clip(masks.from_crop(sf.learned, matrix, box, True), 0, 1)
    np.maximum(layers.learned[box.slices], learned_box, out=layers.learned[box.slices])
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
    np.maximum(layers.hull[work.slices], hull, out=layers.hull[work.slices])
    if settings.mask == "occlusion" and matte is not None:
        occluder = masks.matte_in_box(matte, work) * coverage
        np.maximum(layers.occlusion[work.slices], occluder, out=layers.occlusion[work.slices])
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


def _raw_layer(sf: SwappedFace, matrix: np.ndarray, frame_size: tuple[int, int],
               colour: ColourSpaces, raw: np.ndarray) -> Box | None:
    """``faceraw``: the face as the model drew it, in the plate's colourspace, premultiplied
    by its learned mask, laid over earlier faces. It is premultiplied in the crop and warped
    linearly, so beyond the crop's edge it fades with its alpha and never overshoots."""
    size = sf.face.shape[0]
    box = masks.face_box(matrix, frame_size, size)
    if box.empty:
        return None
    a = np.clip(sf.learned, 0.0, 1.0)
    a[a < masks.MASK_FLOOR] = 0.0
    premultiplied = np.concatenate([colour.to_plate(np.clip(sf.face, 0.0, 1.0)) * a[..., None],
                                    a[..., None]], -1)
    warped = masks.from_crop(premultiplied, matrix, box, True)
    under = raw[box.slices]
    if under[..., 3].any():  # over an earlier face: face + under·(1 − a)
        under *= 1.0 - warped[..., 3:]
        under += warped
    else:
        under[...] = warped
    return box


def _st_layer(sf: SwappedFace, frame_size: tuple[int, int], st: np.ndarray) -> Box | None:
    """``facest``: plate pixels → the face's aligned crop (s, t, valid); where two faces'
    crops overlap, the first face keeps its map."""
    box = masks.face_box(sf.matrix, frame_size, sf.face.shape[0])
    if box.empty:
        return None
    under = st[box.slices]
    if not under[..., 2].any():  # nothing under it yet: write the map in place
        plate_to_face(sf.matrix, sf.face.shape[0], frame_size, out=st)
        return box
    found = plate_to_face(sf.matrix, sf.face.shape[0], frame_size)
    if found is not None:  # an invalid pixel is all 0
        np.copyto(under, found[0], where=(under[..., 2] == 0)[..., None])
    return box


def _region_layer(points: np.ndarray, frame_size: tuple[int, int], hull: str,
                  out: np.ndarray) -> Box | None:
    """``faceregion`` of one face, drawn in the box its regions can reach."""
    w, h = frame_size
    box = masks.points_box(points, hull, regions.margin(points)).intersect(Box(0, 0, w, h))
    if box.empty:
        return None
    local = points - np.array([box.x0, box.y0])
    under = out[box.slices]
    np.maximum(under, regions.region_mattes(local, (box.height, box.width), hull), out=under)
    return box


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


def _scaled_landmarks(sf: SwappedFace, scale: float) -> np.ndarray:
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
