"""Read an OpenEXR file's structure with the standard library alone: its parts' headers,
channel names, string/number attributes (the provenance) and where every pixel chunk is.

Two readers need it. A publish validator inside Nuke, where there is no OpenImageIO, asks
"is this frame complete?" without decoding pixels: a truncated or half-copied EXR shows in its
chunk offset table (:func:`read_exr`). The engine's writer copies a plate's compressed rows into
its output (:func:`read_layout`, :func:`header_bytes`). Scanline files, single-part or
multi-part (what Faceplate writes: RGBA over the frame, the face layers over the face's box),
are checked chunk by chunk; for tiled or deep files ``complete`` is None (not checked here).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Union

MAGIC = 20000630
_TILED, _DEEP, _MULTIPART = 0x200, 0x800, 0x1000  # version-field flags
# Scanlines per chunk by compression id (OpenEXR: none, rle, zips, zip, piz, pxr24, b44, b44a,
# dwaa, dwab).
_LINES_PER_CHUNK = {0: 1, 1: 1, 2: 1, 3: 16, 4: 32, 5: 16, 6: 32, 7: 32, 8: 32, 9: 256}
COMPRESSIONS = ("none", "rle", "zips", "zip", "piz", "pxr24", "b44", "b44a", "dwaa", "dwab")
PIXEL_TYPES = ("uint", "half", "float")  # a channel's type id in the channel list

Value = Union[str, int, float, None]


class ExrError(Exception):
    """Not a readable OpenEXR file; the message says why."""


@dataclass
class ExrInfo:
    path: str
    channels: list[str]
    width: int  # display window: the frame's size, whatever part of it holds pixels
    height: int
    attributes: dict[str, Value] = field(default_factory=dict)
    complete: bool | None = None  # None: not checked (tiled / multi-part / unknown codec)
    problem: str = ""  # why it is incomplete


def read_exr(path: str) -> ExrInfo:
    """Header and completeness of ``path``; raises ExrError for a file that is not an EXR."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            return _read(fh, path, size)
    except (OSError, struct.error, UnicodeDecodeError, IndexError) as exc:
        raise ExrError(f"{path}: cannot read EXR header ({exc})") from None


def _read(fh, path: str, size: int) -> ExrInfo:
    version, parts = _headers(fh, path)
    first = parts[0]
    display = first.display
    channels = [c for part in parts for c in part.channels]
    info = ExrInfo(path, list(dict.fromkeys(channels)), display[2] - display[0] + 1,
                   display[3] - display[1] + 1, first.attributes)
    found = [part.chunks() for part in parts]
    counts = [c for c in found if c is not None]
    if version & (_TILED | _DEEP) or len(counts) < len(found):
        return info
    tables = []
    for count in counts:
        table = fh.read(8 * count)
        if len(table) != 8 * count:
            info.complete, info.problem = False, "offset table is cut short"
            return info
        tables.append(struct.unpack(f"<{count}Q", table))
    header_end, lead = fh.tell(), _lead(version)
    total = sum(counts)
    for i, offset in enumerate(o for table in tables for o in table):
        if offset < header_end or offset + lead + 4 > size:
            info.complete, info.problem = False, f"chunk {i + 1}/{total} is missing"
            return info
        fh.seek(offset + lead)
        (length,) = struct.unpack("<i", fh.read(4))
        if length < 0 or offset + lead + 4 + length > size:
            info.complete, info.problem = False, f"chunk {i + 1}/{total} is cut short"
            return info
    info.complete = True
    return info


def _lead(version: int) -> int:
    """Bytes before a scanline chunk's data size: (part number,) first line."""
    return 8 if version & _MULTIPART else 4


@dataclass
class _Header:
    channels: list[str] = field(default_factory=list)
    pixel_types: list[str] = field(default_factory=list)  # one of PIXEL_TYPES per channel
    attributes: dict[str, Value] = field(default_factory=dict)
    window: tuple[int, ...] = (0, 0, -1, -1)
    display: tuple[int, ...] = (0, 0, -1, -1)
    compression: int = -1
    # Every attribute as stored, in file order: name, type, bytes.
    raw: list[tuple[str, str, bytes]] = field(default_factory=list)

    def chunks(self) -> int | None:
        """Scanline chunks of this part; None for a codec not listed."""
        lines = self.lines()
        return None if lines is None else (self.window[3] - self.window[1] + lines) // lines

    def lines(self) -> int | None:
        """Scanlines per chunk; None for a codec not listed."""
        return _LINES_PER_CHUNK.get(self.compression)

    def stored(self, name: str) -> bytes | None:
        """An attribute's bytes as stored (e.g. ``channels``, ``lineOrder``); None if absent."""
        return next((data for n, _, data in self.raw if n == name), None)


def _headers(fh, path: str) -> tuple[int, list[_Header]]:
    """The version field and every part's header; the file is left at the offset tables."""
    magic, version = struct.unpack("<ii", fh.read(8))
    if magic != MAGIC:
        raise ExrError(f"{path} is not an OpenEXR file")
    parts: list[_Header] = []
    while not parts or version & _MULTIPART:  # a multi-part file's headers end with an empty one
        header = _header(fh, path)
        if header is None:
            break
        parts.append(header)
    if not parts:
        raise ExrError(f"{path}: has no header")
    return version, parts


def _header(fh, path: str) -> _Header | None:
    """One part's header; None for the empty header that ends a multi-part file's."""
    header = _Header()
    name = _cstring(fh)
    if not name:
        return None
    while name:
        kind = _cstring(fh)
        (length,) = struct.unpack("<i", fh.read(4))
        data = fh.read(length)
        if len(data) != length:
            raise ExrError(f"{path}: header ends early (truncated file)")
        if kind == "chlist":
            header.channels, header.pixel_types = _channel_list(data)
        elif name == "dataWindow" and kind == "box2i":
            header.window = struct.unpack("<iiii", data)
        elif name == "displayWindow" and kind == "box2i":
            header.display = struct.unpack("<iiii", data)
        elif name == "compression" and kind == "compression":
            header.compression = data[0]
        header.attributes[name] = _value(kind, data)
        header.raw.append((name, kind, data))
        name = _cstring(fh)
    return header


@dataclass
class ExrPart:
    """One scanline part: its header and where each of its chunks starts in the file."""

    header: _Header
    offsets: tuple[int, ...]

    @property
    def first_line(self) -> int:
        return int(self.header.window[1])


@dataclass
class ExrLayout:
    """A scanline EXR's version field and parts (see :func:`read_layout`)."""

    path: str
    version: int
    parts: list[ExrPart]

    @property
    def lead(self) -> int:
        """Bytes before each chunk's data size: (part number,) first line."""
        return _lead(self.version)


def read_layout(path: str) -> ExrLayout:
    """The parts and chunk offsets of a scanline EXR whose codecs are known; raises ExrError
    otherwise (tiled, deep, truncated, not an EXR)."""
    try:
        with open(path, "rb") as fh:
            version, headers = _headers(fh, path)
            if version & (_TILED | _DEEP):
                raise ExrError(f"{path}: tiled or deep EXR")
            parts = []
            for header in headers:
                count = header.chunks()
                if count is None:
                    raise ExrError(f"{path}: unknown compression {header.compression}")
                table = fh.read(8 * count)
                if len(table) != 8 * count:
                    raise ExrError(f"{path}: offset table is cut short")
                parts.append(ExrPart(header, struct.unpack(f"<{count}Q", table)))
    except (OSError, struct.error, UnicodeDecodeError, IndexError) as exc:
        raise ExrError(f"{path}: cannot read EXR header ({exc})") from None
    return ExrLayout(path, version, parts)


def header_bytes(version: int, parts: list[list[tuple[str, str, bytes]]]) -> bytes:
    """Magic number, version field and the parts' headers as a file stores them (the offset
    tables follow)."""
    out = bytearray(struct.pack("<ii", MAGIC, version))
    for attributes in parts:
        for name, kind, data in attributes:
            out += name.encode() + b"\0" + kind.encode() + b"\0"
            out += struct.pack("<i", len(data)) + data
        out += b"\0"
    if version & _MULTIPART:
        out += b"\0"
    return bytes(out)


def _cstring(fh) -> str:
    out = bytearray()
    while True:
        b = fh.read(1)
        if not b:
            raise ExrError("header ends early (truncated file)")
        if b == b"\0":
            return out.decode("utf-8")
        out += b


def _channel_list(data: bytes) -> tuple[list[str], list[str]]:
    """Channel names and pixel types (subsampled channels are not ours to write)."""
    names, types, pos = [], [], 0
    while pos < len(data) and data[pos] != 0:
        end = data.index(b"\0", pos)
        names.append(data[pos:end].decode("utf-8"))
        (kind,) = struct.unpack_from("<i", data, end + 1)
        types.append(PIXEL_TYPES[kind] if 0 <= kind < len(PIXEL_TYPES) else str(kind))
        pos = end + 1 + 16  # pixel type, pLinear + reserved, x/y sampling
    return names, types


def _value(kind: str, data: bytes) -> Value:
    if kind == "string":
        return data.decode("utf-8", "replace")
    if kind == "int" and len(data) == 4:
        return struct.unpack("<i", data)[0]
    if kind == "float" and len(data) == 4:
        return struct.unpack("<f", data)[0]
    if kind == "double" and len(data) == 8:
        return struct.unpack("<d", data)[0]
    return None
