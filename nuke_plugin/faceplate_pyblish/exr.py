"""Read what a publish validator needs from an OpenEXR file with the standard library alone:
channel names, size, string/number attributes (the provenance) and whether every pixel chunk
the file promises is really on disk.

Inside Nuke there is no OpenImageIO, and a validator should not decode pixels to answer
"is this frame complete?": a truncated or half-copied EXR shows in its chunk offset table.
Scanline files, single-part or multi-part (what Faceplate writes: RGBA over the frame, the face
layers over the face's box), are checked chunk by chunk; for tiled or deep files ``complete`` is
None (not checked here; the shell host decodes them).
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
    magic, version = struct.unpack("<ii", fh.read(8))
    if magic != MAGIC:
        raise ExrError(f"{path} is not an OpenEXR file")
    multipart = bool(version & _MULTIPART)
    parts: list[_Header] = []
    while not parts or multipart:  # the headers of a multi-part file end with an empty one
        header = _header(fh, path)
        if header is None:
            break
        parts.append(header)
    if not parts:
        raise ExrError(f"{path}: has no header")
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
    header_end, lead = fh.tell(), 8 if multipart else 4  # (part,) y before the data size
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


@dataclass
class _Header:
    channels: list[str] = field(default_factory=list)
    attributes: dict[str, Value] = field(default_factory=dict)
    window: tuple[int, ...] = (0, 0, -1, -1)
    display: tuple[int, ...] = (0, 0, -1, -1)
    compression: int = -1

    def chunks(self) -> int | None:
        """Scanline chunks of this part; None for a codec not listed."""
        lines = _LINES_PER_CHUNK.get(self.compression)
        return None if lines is None else (self.window[3] - self.window[1] + lines) // lines


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
            header.channels = _channel_names(data)
        elif name == "dataWindow" and kind == "box2i":
            header.window = struct.unpack("<iiii", data)
        elif name == "displayWindow" and kind == "box2i":
            header.display = struct.unpack("<iiii", data)
        elif name == "compression" and kind == "compression":
            header.compression = data[0]
        header.attributes[name] = _value(kind, data)
        name = _cstring(fh)
    return header


def _cstring(fh) -> str:
    out = bytearray()
    while True:
        b = fh.read(1)
        if not b:
            raise ExrError("header ends early (truncated file)")
        if b == b"\0":
            return out.decode("utf-8")
        out += b


def _channel_names(data: bytes) -> list[str]:
    names, pos = [], 0
    while pos < len(data) and data[pos] != 0:
        end = data.index(b"\0", pos)
        names.append(data[pos:end].decode("utf-8"))
        pos = end + 1 + 16  # pixel type, pLinear + reserved, x/y sampling
    return names


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
