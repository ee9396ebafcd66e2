"""Writing converted frames: channels, pixel types, provenance, resumable atomic writes.

EXR carries everything in one file: premultiplied ``R,G,B`` over the frame, with ``A`` when the
plate has an alpha (the output keeps the plate's channels), then the ``facemask``,
``faceregion``, ``faceraw`` and ``facest`` layers in a second part over the box the faces reach,
and the ``faceplate/confidence`` metadata. When the plate is an EXR that stores its colour
channels as the output does, the rows no face reaches are the plate's own compressed chunks
(:mod:`faceplate.io.plate_rows`).
PNG (4 channels at most) and DPX get the ``facemask`` layer as a sidecar sequence
``OUT.facemask.####.ext`` (face, learned, hull as R, G, B: a fourth channel would be read as
alpha and premultiplied away; the occluder is the occlusion model's own matte sequence), and
the other layers as one EXR sidecar ``OUT.facelayers.####.exr`` (an ST map needs floats: 8 or
10 bits would misplace it by pixels). DPX headers cannot hold our metadata, so DPX and TIFF
frames get a provenance sidecar ``FRAME.provenance.json``, written right after the frame (a
frame killed before its sidecar has no job stamp and is redone). Every write is atomic
(:func:`faceplate.io.images.write_image`).
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass

import numpy as np
import OpenImageIO as oiio
from faceplate_client.layout import (
    CONFIDENCE_KEY,
    CONFIDENCE_PARTS,
    FACE_LAYERS,
    FACEMASK_CHANNELS,
    PLATE_COMPRESSION,
    PLATE_MATCH_KEY,
)

from ..errors import FaceplateError
from ..face.box import Box
from ..io.atomic import write_json_atomic
from ..io.images import (
    GREY_CHANNELS,
    Geometry,
    Image,
    ImagePart,
    part_specs,
    read_geometry,
    read_image,
    write_image,
    write_parts,
)
from ..io.plate_rows import PlateRows, write_with_plate_rows
from ..io.sequence import SequencePattern
from .confidence import NO_FACE
from .merge import FACE, HULL, MergeLayers
from .output_settings import OutputSettings
from .provenance import PREFIX

RGBA = ["R", "G", "B", "A"]
MASK_CHANNELS = list(FACEMASK_CHANNELS)
LAYER_CHANNELS = [c for chans in FACE_LAYERS.values() for c in chans]
OUTPUT_CHANNELS = RGBA + LAYER_CHANNELS
# What the EXR sidecar of PNG/DPX/TIFF outputs holds: every layer after the facemask.
SIDECAR_CHANNELS = LAYER_CHANNELS[len(MASK_CHANNELS):]
# Containers whose headers keep our string metadata.
_METADATA_FORMATS = (".exr", ".png")


@dataclass
class MergedFrame:
    """A merged frame: the plate-sized colour, in the plate's own channels, and the layers."""

    # H×W×C premultiplied in the plate's pixel type: R, G, B, and A when the plate has one
    # (an RGB plate gives an RGB frame, as it would through any Nuke node).
    colour: np.ndarray
    layers: MergeLayers  # the layers of FACE_LAYERS over their extent, the face image
    matrices: list[np.ndarray]  # the faces that were swapped in (frame pixels)
    # The rows of the plate that were read (the others are zero: only a writer copying the
    # plate's own rows may write them as they are, see whole()); None: every row.
    rows: tuple[int, int] | None = None
    # The plate it was merged into: where its pixels sit in the frame, and the channels of its
    # first part beside the colour (depth, vectors, other views' colour), which the output
    # keeps. None: a bare RGB(A) frame from (0, 0).
    plate: Image | None = None

    def whole(self, plate: str) -> MergedFrame:
        """This frame with every row: the rows not read come from ``plate``, its file."""
        if self.rows is None:
            return self
        view = self.plate.view if self.plate is not None else ""
        image = read_image(plate, keep_half=self.colour.dtype == np.float16, view=view)
        colour = image.colour()
        if colour.shape != self.colour.shape or colour.dtype != self.colour.dtype:
            raise FaceplateError(f"plate {plate} changed while its frame was merged")
        y0, y1 = self.rows
        colour[y0:y1] = self.colour[y0:y1]
        return MergedFrame(colour, self.layers, self.matrices, None, image)

    @property
    def geometry(self) -> Geometry:
        """Where the frame's pixels sit (the plate's data and display windows)."""
        return self.plate.frame if self.plate is not None else Geometry.plain(*self.size)

    @property
    def stored_channels(self) -> list[str]:
        """The first part's channels as the output stores them: the plate's own, in its order
        (its colour replaced by the merge), or the colour channels of a bare frame."""
        plate = self.plate
        return plate.channels if plate is not None and _extra(plate) else self.colour_channels

    def stored(self, rows: slice = slice(None)) -> np.ndarray:
        """The pixels of :attr:`stored_channels` (over ``rows``): the merged colour in the
        plate's channels, every other channel the plate's bits. A grey plate's ``Y`` takes
        the merged colour's Rec. 709 luminance where the merge made it colour, and its own
        value (the bits) where R = G = B."""
        plate = self.plate
        colour = self.colour[rows]
        if plate is None or not _extra(plate):
            return colour
        out = plate.pixels[rows].copy()
        bits = (lambda a: a.view(np.uint16)) if out.dtype == np.float16 else (lambda a: a)
        for index, role in self._roles().items():
            if role != GREY:
                bits(out[..., index])[...] = bits(colour[..., role])
                continue
            r, g, b = (colour[..., i].astype(np.float32) for i in range(3))
            grey = (r == g) & (g == b)
            luma = np.where(grey, r, 0.2126 * r + 0.7152 * g + 0.0722 * b)
            bits(out[..., index])[...] = bits(np.where(grey, colour[..., 0],
                                                       luma.astype(out.dtype)))
        return out

    def _roles(self) -> dict[int, int]:
        """Which of the plate's channels the merged colour replaces: channel index → index in
        :attr:`colour` (R, G, B, A of the plate's view), or GREY for a grey plate's ``Y``."""
        plate = self.plate
        if plate is None:
            return {}
        names = plate.colour_names("RGBA"[:self.colour.shape[-1]])
        roles = {plate.channels.index(n): i for i, n in enumerate(names) if n in plate.channels}
        if plate.colour_names("R")[0] not in plate.channels:
            grey = next((c for c in plate.colour_names(GREY_CHANNELS) if c in plate.channels),
                        None)
            if grey is not None:
                roles[plate.channels.index(grey)] = GREY
        return roles

    def stored_types(self, pixel_type: str | None) -> list[str] | None:
        """Each stored channel's pixel type: the plate's own, the colour's ``pixel_type`` when
        one is asked for; None when the plate has no types of its own (not an EXR)."""
        plate = self.plate
        if plate is None or len(plate.channel_types) != len(plate.channels):
            return None
        roles = self._roles()
        types = [pixel_type if pixel_type and i in roles else kind
                 for i, kind in enumerate(plate.channel_types)]
        return types if _extra(plate) else [types[i] for i in sorted(roles, key=lambda i: roles[i])]

    @property
    def colour_channels(self) -> list[str]:
        return RGBA[:self.colour.shape[-1]]

    @property
    def channels(self) -> list[str]:
        """Every channel the frame has (what a file of it stores)."""
        return self.colour_channels + LAYER_CHANNELS

    @property
    def size(self) -> tuple[int, int]:
        """The frame's (width, height)."""
        return self.layers.frame_size

    @property
    def rgb(self) -> np.ndarray:
        return self.colour[..., :3]

    @property
    def alpha(self) -> np.ndarray | None:
        return self.colour[..., 3] if self.colour.shape[-1] == 4 else None

    def channel(self, name: str) -> np.ndarray:
        """One of :attr:`channels`, plate-sized."""
        colour = self.colour_channels
        if name in colour:
            return self.colour[..., colour.index(name)]
        if name not in LAYER_CHANNELS:
            raise FaceplateError(f"the merged frame has no channel {name!r} (it has "
                                 f"{', '.join(self.channels)})")
        return self.layers.plate(LAYER_CHANNELS.index(name))

    def confidence_metadata(self) -> dict[str, str]:
        """``faceplate/confidence`` (the weakest face's, 0 when there is none), its parts, and
        every face's as JSON (``faceplate/confidence/faces``)."""
        faces = self.layers.confidences
        weakest = min(faces, key=lambda c: c.overall) if faces else NO_FACE
        return {CONFIDENCE_KEY: f"{weakest.overall:.4f}",
                **{f"{CONFIDENCE_KEY}/{p}": f"{getattr(weakest, p):.4f}"
                   for p in CONFIDENCE_PARTS},
                f"{CONFIDENCE_KEY}/faces": json.dumps([c.to_dict() for c in faces])}

    def match_metadata(self) -> dict[str, str]:
        """``faceplate/plate_match``: per face, the grain added, the softness matched (or that
        the swap is the softer), its motion and blur samples (JSON; {} when nothing was
        matched)."""
        matches = self.layers.matches
        return {PLATE_MATCH_KEY: json.dumps(matches)} if any(matches) else {}

    def face_part(self, pixel_type: str | None) -> ImagePart | None:
        """The face-only image (premultiplied RGBA over black) over the box the faces were
        blended in; None unless the merge kept it."""
        layers = self.layers
        if layers.face_rgb is None:
            return None
        box = _data_window(layers.box)
        pixels = np.zeros((box.height, box.width, 4), np.float32)
        if not layers.box.empty:
            pixels[..., :3] = layers.face_rgb[layers.local(box)]
            pixels[..., 3] = layers.view(box, FACE)
        return ImagePart(pixels, RGBA, "", pixel_type, self.file_origin(box),
                         self.geometry.display)

    def file_origin(self, box: Box) -> tuple[int, int]:
        """``box``'s top-left (array pixels) in the file's pixel coordinates."""
        x, y = self.geometry.data[:2]
        return box.x0 + x, box.y0 + y

    def first_part(self, pixel_type: str | None, colour_type: str | None, name: str,
                   rows: slice = slice(None)) -> ImagePart:
        """The output's first part (:attr:`stored_channels` over the frame, or over ``rows``
        of it) where the plate's stored pixels were: each channel in the plate's own pixel
        type (the colour in ``colour_type`` when one is asked for), or all in ``pixel_type``
        for a plate without types."""
        start = rows.start or 0
        return ImagePart(self.stored(rows), self.stored_channels, name,
                         colour_type or pixel_type, self.file_origin(Box(0, start, 0, start)),
                         self.geometry.display, self.stored_types(colour_type))

    def layer_box(self) -> Box:
        """The box the layers are stored in (see :func:`_data_window`)."""
        return _data_window(self.layers.extent)


GREY = -1  # a grey plate's channel, in MergedFrame._roles


def _extra(plate: Image) -> bool:
    """The plate's part holds more than, or other than, R, G, B (and A)."""
    return plate.channels not in (RGBA[:3], RGBA)


def _data_window(box: Box) -> Box:
    """``box`` as an EXR part's data window, which cannot be empty: a frame without a face
    stores one zero pixel."""
    return Box(0, 0, 1, 1) if box.empty else box


def write_merged(path: str, merged: MergedFrame, metadata: dict[str, str | int],
                 pixel_type: str | None, *, compression: str = "plate", mask_path: str = "",
                 face_path: str = "", layers_path: str = "", single_part: bool = False,
                 plate: str = "", colour_type: str | None = None) -> str:
    """Write one merged frame and its sidecars, each atomically; returns ``path``.

    EXR gets the colour channels and every layer of :data:`LAYER_CHANNELS` in two parts:
    ``rgba`` over the frame and ``facelayers`` over the box the faces reach (zero outside it,
    as a reader fills it), so the layers cost their box, not the frame, to compress; when
    ``plate`` (the frame's plate file) stores its colour channels as ``rgba`` does, its
    chunks for the rows no face reaches are copied instead of compressed again.
    ``single_part`` writes one full-frame part instead, for readers without multi-part EXR.
    Other formats get the colour channels, the facemask layer goes to ``mask_path`` and the
    other layers to ``layers_path`` (EXR, half, over their box). ``face_path`` (EXR) also gets
    the face alone, its box as the data window. Every file gets the confidence metadata beside
    ``metadata``. DPX and TIFF get a provenance sidecar, written after the frame (a frame
    killed before its sidecar has no job stamp and is redone). The engine's merge op and
    convert's :class:`FrameWriter` both write through here.

    An EXR keeps what the plate holds (:mod:`faceplate.io.plate_rows`): its data and display
    windows, its first part's other channels each in its own pixel type (``colour_type``, when
    given, sets the colour's), its other parts and its header's metadata. ``pixel_type`` is
    the layers' (and every channel's of a plate that is not an EXR). ``compression`` "plate"
    follows the plate's (see :func:`output_compression`).
    """
    ext = os.path.splitext(path)[1].lower()
    meta: dict[str, str | int | float] = {k: str(v) for k, v in metadata.items()}
    meta.update(merged.confidence_metadata())
    ptype = pixel_type if ext == ".exr" else None
    # The plate's EXR structure, read once: its compression, header, parts and rows.
    source = PlateRows.of(plate, merged.geometry.part) if plate and ext == ".exr" else None
    compression = output_compression(compression, source)
    face = merged.face_part(ptype) if face_path else None
    if face is not None:
        write_parts(face_path, [face], meta, compression=compression)
    if ext != ".exr" or single_part:
        merged = merged.whole(plate)
    w, h = merged.size
    box = merged.layer_box()
    channels = merged.colour_channels
    display = merged.geometry.display

    view = merged.plate.view if merged.plate is not None else ""

    def layers(first: int, name: str, pixel_type: str | None) -> ImagePart:
        """The layer channels from ``first`` on, stored over their box (already in half
        unless written as float, EXR's default: one pass instead of two)."""
        dtype = np.float32 if pixel_type == "float" else np.float16
        return ImagePart(merged.layers.over(box, dtype=dtype)[..., first:], LAYER_CHANNELS[first:],
                         name, pixel_type, merged.file_origin(box), display, view=view)

    if ext != ".exr":
        if not mask_path or not layers_path:
            raise FaceplateError(f"{path}: only EXR holds the face layers; other formats "
                                 "need facemask and facelayers sidecar paths")
        # face, learned, hull: a fourth channel would read back as alpha and be premultiplied
        # away; the occluder is the occlusion model's own matte sequence.
        write_image(mask_path, merged.layers.plate(slice(FACE, HULL + 1)), ["R", "G", "B"],
                    meta)
        write_parts(layers_path, [layers(len(MASK_CHANNELS), "", "half")], meta,
                    compression=compression)
        write_image(path, merged.colour, channels, meta)
    elif single_part:
        types = merged.stored_types(colour_type)
        x, y = merged.geometry.data[:2]
        write_parts(path, [ImagePart(
            np.concatenate([merged.stored().astype(np.float32),
                            merged.layers.over(Box(0, 0, w, h))], -1),
            merged.stored_channels + LAYER_CHANNELS, "", ptype, (x, y), display,
            types and types + [ptype or "half"] * len(LAYER_CHANNELS))],
                    meta, compression=compression)
    else:
        # A view's layers are a part of their own: a stereo plate converted once a view keeps
        # each view's (an earlier convert's part of the same name is replaced).
        facelayers = layers(0, "facelayers" + (f".{view}" if view else ""), ptype)
        if source is None or not _wrote_with_plate_rows(path, merged, plate, source,
                                                        [facelayers], meta, ptype, colour_type,
                                                        compression):
            merged = merged.whole(plate)
            write_parts(path, [merged.first_part(ptype, colour_type, "rgba"), facelayers],
                        meta, compression=compression)
    if ext not in _METADATA_FORMATS:
        write_json_atomic(path + ".provenance.json", meta)
    return path


def _wrote_with_plate_rows(path: str, merged: MergedFrame, plate: str, rows: PlateRows,
                           rest: list[ImagePart], meta: dict[str, str | int | float],
                           ptype: str | None, colour_type: str | None, compression: str) -> bool:
    """Write the first part around the bytes of ``plate`` (its file, ``rows`` its structure:
    :mod:`faceplate.io.plate_rows`): its header and other parts always, and its chunks for the
    rows no face reaches when they decode as the output's would (then only the face band is
    written)."""
    dy = merged.geometry.data[1]
    y0, y1 = rows.band(merged.layers.box.y0 + dy, merged.layers.box.y1 + dy)
    read = merged.rows is None or merged.rows[0] <= y0 - dy < y1 - dy <= merged.rows[1]
    if read and rows.stores(merged.stored_types(colour_type) or colour_type or ptype or "half",
                            compression):
        band = merged.first_part(ptype, colour_type, rows.name, slice(y0 - dy, y1 - dy))
        if write_with_plate_rows(path, rows, (y0, y1), [band, *rest], meta, compression):
            return True
    return write_with_plate_rows(path, rows, None, [merged.whole(plate).first_part(
        ptype, colour_type, rows.name), *rest], meta, compression)


LOSSLESS = ("none", "rle", "zips", "zip", "piz")


def output_compression(choice: str, plate: PlateRows | None) -> str:
    """``choice``, or for "plate" the compression of the ``plate``'s swapped part where it is
    lossless (a lossy one — dwaa, dwab, b44, b44a, pxr24's floats — would take a second
    generation of loss on every pixel written again), else zip."""
    if choice != PLATE_COMPRESSION:
        return choice
    own = plate.compression() if plate is not None else ""
    if own == "pxr24" and plate is not None and \
            set(plate.part.header.pixel_types) <= {"half", "uint"}:
        return own  # pxr24 is lossless for half and uint
    return own if own in LOSSLESS else "zip"


def what_is_not_kept(plate: str, settings: OutputSettings, view: str = "") -> list[str]:
    """What an output of ``settings`` cannot keep of the plate frame ``plate`` (an EXR; its
    part holding ``view``), each in words for a farm log: convert says them once a run
    (docs/convert.md, *What a plate keeps*)."""
    geometry = read_geometry(plate, view) if plate.lower().endswith(".exr") else None
    rows = PlateRows.of(plate, geometry.part) if geometry is not None else None
    if geometry is None or rows is None:
        return []
    header = rows.part.header
    exr = settings.pattern.lower().endswith(".exr")
    others = len(rows.layout.parts) - 1
    notes = []
    if not exr:
        extra = [c for c in header.channels if c not in RGBA]
        lost = ([f"{len(extra)} other channel(s) ({', '.join(extra[:4])})"] if extra else []) \
            + ([f"{others} other part(s)"] if others else []) \
            + (["its data and display windows"] if geometry.data != geometry.display or
               geometry.display[:2] != (0, 0) else [])
        if lost:
            notes.append(f"a {os.path.splitext(settings.pattern)[1]} output keeps the colour of "
                         f"the pixels the plate stores, not {', '.join(lost)}: write .exr to "
                         "keep them")
    elif settings.single_part and others:
        notes.append(f"--single-part keeps the plate's first part only: its {others} other "
                     "part(s) and the rest of its header are not kept")
    own = rows.compression()
    if exr and settings.compression == PLATE_COMPRESSION and \
            output_compression(PLATE_COMPRESSION, rows) != own:
        notes.append(f"the plate's compression ({own or 'unknown'}) is lossy: the output is "
                     "zip, so no pixel takes a second generation of loss (--compression sets "
                     "one)")
    uints = [c for c, t in zip(header.channels, header.pixel_types) if t == "uint"]
    if exr and uints:
        notes.append(f"uint channel(s) {', '.join(uints)} of the swapped part travel through "
                     "float: exact up to 8388608")
    return notes


class FrameWriter:
    def __init__(self, settings: OutputSettings):
        self.settings = settings
        pattern = SequencePattern.parse(settings.pattern)
        if pattern is None:  # OutputSettings checked it; this tells the type checker
            raise FaceplateError(f"output {settings.pattern!r} has no frame number")
        self.pattern = pattern
        self.ext = os.path.splitext(settings.pattern)[1].lower()
        self.face_pattern = SequencePattern.parse(settings.face_pattern) \
            if settings.face_pattern else None
        self.mask_pattern = None if self.ext == ".exr" else SequencePattern(
            self.pattern.prefix + "facemask.", self.pattern.padding, self.pattern.suffix)
        self.layers_pattern = None if self.ext == ".exr" else SequencePattern(
            self.pattern.prefix + "facelayers.", self.pattern.padding,
            self.pattern.suffix[:len(self.pattern.suffix) - len(self.ext)] + ".exr")

    def path(self, frame: int) -> str:
        return self.pattern.path(frame)

    def plate_rows(self, plate: str, part: int = 0) -> PlateRows | None:
        """The plate's chunk layout when this output will copy its rows (see
        :func:`write_merged`): a merge then needs to read only the rows its faces reach."""
        settings = self.settings
        if self.ext != ".exr" or settings.single_part:
            return None
        rows = PlateRows.of(plate, part)
        if rows is None:
            return None
        types = settings.pixel_type or rows.part.header.pixel_types
        return rows if rows.stores(types, output_compression(settings.compression, rows)) \
            else None

    def is_done(self, frame: int, job: str) -> bool:
        """A valid frame from the same job (model, identity, settings, alignment) is there."""
        if self.settings.overwrite:
            return False
        path = self.path(frame)
        if read_provenance(path).get(PREFIX + "job") != job or not is_whole(path):
            return False
        extra = [p.path(frame) for p in (self.mask_pattern, self.layers_pattern,
                                          self.face_pattern) if p]
        return all(is_whole(p) for p in extra)

    def remove_stale_temporaries(self, frame: int) -> None:
        """Temporary files a killed run left for this frame (never another frame's)."""
        for pattern in (self.pattern, self.mask_pattern, self.layers_pattern, self.face_pattern):
            if pattern is None:
                continue
            path = pattern.path(frame)
            name = os.path.basename(path)
            ext = os.path.splitext(path)[1]
            for tmp in glob.glob(os.path.join(glob.escape(os.path.dirname(path) or "."),
                                              f".{glob.escape(name)}.*.tmp{ext}")):
                os.unlink(tmp)

    def write(self, frame: int, merged: MergedFrame, metadata: dict[str, str | int],
              pixel_type: str | None, plate: str = "") -> str:
        """Write one frame (and its sidecars) through :func:`write_merged`; ``plate`` is the
        frame's plate file."""
        return write_merged(
            self.path(frame), merged, metadata, self.settings.pixel_type or pixel_type,
            compression=self.settings.compression, colour_type=self.settings.pixel_type,
            mask_path=self.mask_pattern.path(frame) if self.mask_pattern else "",
            face_path=self.face_pattern.path(frame) if self.face_pattern else "",
            layers_path=self.layers_pattern.path(frame) if self.layers_pattern else "",
            single_part=self.settings.single_part, plate=plate)


def is_whole(path: str) -> bool:
    """True when the frame opens and the first and last scanlines of each part decode.

    Our writes are atomic, so a frame on disk is either whole or was damaged afterwards (a
    truncated copy loses its tail); checking the ends costs one chunk of a 4K EXR where a full
    decode costs the frame, which matters when a 1000-frame shot resumes.
    """
    inp = oiio.ImageInput.open(path) if os.path.isfile(path) else None
    if inp is None:
        return False
    try:
        for index, spec in enumerate(part_specs(inp)):
            inp.seek_subimage(index, 0)
            if any(inp.read_scanline(y, spec.z, oiio.FLOAT) is None
                   for y in (spec.y, spec.y + spec.height - 1)):
                return False
        return True
    except Exception:  # noqa: BLE001 - any decoder failure means "not whole"
        return False
    finally:
        inp.close()


def plate_pixel_type(path: str) -> str:
    """``half`` for a half-float plate, else ``float``: an EXR in that type keeps every
    out-of-mask pixel bit-identical to the plate as read."""
    if not path.lower().endswith(".exr") or not os.path.isfile(path):
        return "float"
    inp = oiio.ImageInput.open(path)
    if inp is None:
        return "float"
    try:
        return "half" if inp.spec().format == oiio.HALF else "float"
    finally:
        inp.close()


def read_provenance(path: str) -> dict[str, str]:
    """The ``faceplate/*`` metadata of a written frame (from its sidecar for DPX); {} if none."""
    sidecar = path + ".provenance.json"
    if os.path.isfile(sidecar):
        try:
            with open(sidecar) as fh:
                return {k: str(v) for k, v in json.load(fh).items()}
        except (OSError, json.JSONDecodeError):
            return {}
    inp = oiio.ImageInput.open(path) if os.path.isfile(path) else None
    if inp is None:
        return {}
    try:
        return {a.name: str(a.value) for a in inp.spec().extra_attribs
                if a.name.startswith(PREFIX)}
    finally:
        inp.close()

