"""Images through OpenImageIO: named channels, metadata, atomic writes.

Pixels travel as float32 ``H×W×C`` numpy arrays with an explicit channel-name list, because
OpenImageIO reorders channels on read (R,G,B,A,Z first, then the rest): code always looks a
channel up by name, never by position. Values are never clipped: linear EXR above 1.0 survives.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import OpenImageIO as oiio

from ..errors import FaceplateError
from .atomic import replacing
from .sequence import Plate


class ImageError(FaceplateError):
    """A frame could not be read or written; the message is meant for the artist."""


@dataclass
class Image:
    pixels: np.ndarray  # float32 H×W×C (float16 only when read with keep_half)
    channels: list[str]
    metadata: dict[str, str] = field(default_factory=dict)
    source: str = ""

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    def channel(self, name: str) -> np.ndarray:
        try:
            return self.pixels[..., self.channels.index(name)]
        except ValueError:
            raise ImageError(f"{self.source or 'image'} has no channel {name!r} "
                             f"(it has {', '.join(self.channels)})") from None

    def rgb(self) -> np.ndarray:
        """The colour channels as H×W×3; grey images are expanded, extra channels ignored."""
        names = self.channels
        if all(c in names for c in ("R", "G", "B")):
            return np.stack([self.channel(c) for c in ("R", "G", "B")], axis=-1)
        if len(names) in (1, 2):  # Y or YA
            return np.repeat(self.pixels[..., :1], 3, axis=-1)
        raise ImageError(f"{self.source or 'image'} has no RGB channels (it has {', '.join(names)})")

    def alpha(self) -> np.ndarray | None:
        return self.channel("A") if "A" in self.channels else None


def read_image(path: str, display_window: bool = False, keep_half: bool = False) -> Image:
    """Read every channel of the first subimage as float32; integer files are scaled to 0–1.

    ``keep_half`` reads a file whose channels are all half float as float16 (convert: half
    the memory and no conversion on the way in or out; every half value is exact in float32).

    With ``display_window`` an EXR whose data window is smaller (e.g. an ST map stored over the
    face's box only) comes back at its full size, zero outside the data window, as Nuke reads it.
    """
    if not os.path.isfile(path):
        raise ImageError(f"file not found: {path}")
    inp = oiio.ImageInput.open(path)
    if inp is None:
        raise ImageError(f"cannot read {path}: {oiio.geterror() or 'unknown format'}")
    try:
        spec = inp.spec()
        half = keep_half and all(f == oiio.HALF for f in (spec.channelformats or [spec.format]))
        pixels = inp.read_image(0, 0, 0, spec.nchannels, oiio.HALF if half else oiio.FLOAT)
        if pixels is None:
            raise ImageError(f"cannot read pixels of {path}: {inp.geterror()}")
        metadata = {a.name: str(a.value) for a in spec.extra_attribs}
        names = list(spec.channelnames) or [f"c{i}" for i in range(spec.nchannels)]
    finally:
        inp.close()
    pixels = np.asarray(pixels, dtype=np.float16 if half else np.float32).reshape(
        spec.height, spec.width, spec.nchannels)
    if display_window and (spec.x, spec.y, spec.width, spec.height) != (
            spec.full_x, spec.full_y, spec.full_width, spec.full_height):
        full = np.zeros((spec.full_height, spec.full_width, spec.nchannels), pixels.dtype)
        x0, y0 = spec.x - spec.full_x, spec.y - spec.full_y
        box = full[max(y0, 0):y0 + spec.height, max(x0, 0):x0 + spec.width]
        box[...] = pixels[max(-y0, 0):max(-y0, 0) + box.shape[0],
                          max(-x0, 0):max(-x0, 0) + box.shape[1]]
        pixels = full
    return Image(pixels, names, metadata, path)


def read_matte(path: str, channel: str, frame_size: tuple[int, int]) -> np.ndarray:
    """A plate-sized matte frame (an artist's Roto render, a predicted occluder) as H×W 0–1:
    ``channel`` if it has one, else its first channel."""
    image = read_image(path)
    if (image.width, image.height) != tuple(frame_size):
        raise FaceplateError(f"matte {path} is {image.width}×{image.height} but the plate is "
                             f"{frame_size[0]}×{frame_size[1]}: render the matte at plate size")
    if channel in image.channels:
        return image.channel(channel)
    return image.pixels[..., 0]


def read_plate_frame(plate: Plate, frame: int, keep_half: bool = False) -> Image:
    """One frame of a plate, from its image file or its video (``keep_half``: see
    :func:`read_image`)."""
    if plate.is_video:
        return _read_video_frame(plate.path, frame)
    return read_image(plate.frame_path(frame), keep_half=keep_half)


def _read_video_frame(path: str, frame: int) -> Image:
    import cv2

    cap = cv2.VideoCapture(path)
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, frame - 1)
        ok, bgr = cap.read()
    finally:
        cap.release()
    if not ok:
        raise ImageError(f"cannot read frame {frame} of video {path}")
    rgb = bgr[..., ::-1].astype(np.float32) / 255.0
    return Image(np.ascontiguousarray(rgb), ["R", "G", "B"], {}, f"{path}@{frame}")


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """0–1 float → contiguous 8-bit (clipped, rounded): what dlib and OpenCV drawing take."""
    return np.ascontiguousarray(np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8))


def non_finite_fraction(pixels: np.ndarray) -> float:
    """Share of NaN/inf values: plates from renders sometimes carry them."""
    return float(1.0 - np.isfinite(pixels).mean()) if pixels.size else 0.0


# Per-extension output formats: what a studio pipeline expects of each container.
_FORMATS = {
    ".exr": oiio.HALF,
    ".png": oiio.UINT16,
    ".tif": oiio.UINT16,
    ".tiff": oiio.UINT16,
    ".dpx": oiio.UINT16,
    ".jpg": oiio.UINT8,
    ".jpeg": oiio.UINT8,
}


def write_image(
    path: str,
    pixels: np.ndarray,
    channels: list[str],
    metadata: dict[str, str | int | float] | None = None,
    *,
    pixel_type: str | None = None,
    compression: str = "zip",
    data_window: tuple[int, int, int, int] | None = None,
) -> None:
    """Write atomically (temporary file in the same folder, then rename): readers never see a
    half-written frame, and a killed process leaves only a stray ``.tmp`` file behind.

    ``pixel_type`` is ``"half"``, ``"float"``, ``"uint16"`` or ``"uint8"`` (default by extension).
    ``data_window`` ``(x, y, w, h)`` crops the stored pixels of an EXR while keeping the full
    display window, so a face-only layer costs only its box on disk.
    """
    ext = os.path.splitext(path)[1].lower()
    if ext not in _FORMATS:
        raise ImageError(f"cannot write {ext!r} files: use .exr, .png, .tif, .dpx or .jpg")
    pixels = np.asarray(pixels)  # half stays half (OIIO converts from it), the rest float32
    if pixels.dtype != np.float16:
        pixels = pixels.astype(np.float32, copy=False)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    h, w, c = pixels.shape
    if len(channels) != c:
        raise ImageError(f"{len(channels)} channel names for {c} channels writing {path}")
    fmt = {"half": oiio.HALF, "float": oiio.FLOAT, "uint16": oiio.UINT16, "uint8": oiio.UINT8}[
        pixel_type] if pixel_type else _FORMATS[ext]
    store = pixels
    spec = oiio.ImageSpec(w, h, c, fmt)
    if data_window is not None and ext == ".exr":
        x, y, dw, dh = data_window
        store = pixels[y:y + dh, x:x + dw]
        spec = oiio.ImageSpec(dw, dh, c, fmt)
        spec.x, spec.y = x, y
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, w, h
    spec.channelnames = tuple(channels)
    if "A" in channels:
        spec.alpha_channel = channels.index("A")
    if ext == ".exr":
        spec.attribute("compression", compression)
    elif fmt != oiio.FLOAT and fmt != oiio.HALF:
        store = np.clip(store, 0.0, 1.0)
    for key, value in (metadata or {}).items():
        spec.attribute(key, value if isinstance(value, (int, float)) else str(value))
    with replacing(path, suffix=".tmp" + ext) as tmp:  # OIIO picks the format by extension
        out = oiio.ImageOutput.create(tmp)
        if out is None or not out.open(tmp, spec):
            raise ImageError(f"cannot write {path}: {oiio.geterror()}")
        ok = out.write_image(np.ascontiguousarray(store))
        out.close()
        if not ok:
            raise ImageError(f"cannot write {path}: {out.geterror()}")


def is_complete_image(path: str) -> bool:
    """True when ``path`` opens and its pixels decode: used to skip frames on re-runs."""
    try:
        inp = oiio.ImageInput.open(path)
        if inp is None:
            return False
        try:
            spec = inp.spec()
            return inp.read_image(0, 0, 0, spec.nchannels, oiio.FLOAT) is not None
        finally:
            inp.close()
    except Exception:  # noqa: BLE001 - any decoder failure means "not complete"
        return False
