"""Read an OpenEXR file's structure with the standard library alone: its parts' headers,
channel names, string/number attributes (the provenance) and where every pixel chunk is.

Two readers need it. A publish validator inside Nuke, where there is no OpenImageIO, asks
"is this frame complete?" without decoding pixels: a truncated or half-copied EXR shows in its
chunk offset table (:func:`read_exr`). The engine's writer copies a plate's compressed rows into
its output (:func:`read_layout`, :func:`header_bytes`). Scanline files, single-part or
multi-part (what Faceplate writes: RGBA over the frame, the face layers over the face's box),
are checked chunk by chunk; for tiled or deep files ``complete`` is None (not checked here).

Whatever the bytes, both readers return or raise :class:`ExrError`: every read goes through
:class:`_File`, which refuses a size or count the file cannot hold before reading (a lying
header allocates nothing), and one handler (:func:`_guarded`) turns any other failure to parse
into an ExrError naming the file.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, TypeVar, Union

MAGIC = 20000630
_TILED, _DEEP, _MULTIPART = 0x200, 0x800, 0x1000  # version-field flags
_MAX_NAME = 255  # bytes in an attribute's name or type (long-name mode)
# Bytes a part of a multi-part file takes at the least: a header with its required attributes
# (some 300 bytes in the smallest) and an offset table.
_MIN_PART = 64
# Scanlines per chunk by compression id (OpenEXR: none, rle, zips, zip, piz, pxr24, b44, b44a,
# dwaa, dwab).
_LINES_PER_CHUNK = {0: 1, 1: 1, 2: 1, 3: 16, 4: 32, 5: 16, 6: 32, 7: 32, 8: 32, 9: 256}
COMPRESSIONS = ("none", "rle", "zips", "zip", "piz", "pxr24", "b44", "b44a", "dwaa", "dwab")
PIXEL_TYPES = ("uint", "half", "float")  # a channel's type id in the channel list

Value = Union[str, int, float, None]
T = TypeVar("T")


class ExrError(Exception):
    """Not a readable OpenEXR file; the message says why."""


@dataclass
class ExrInfo:
    path: str
    channels: list[str]
    width: int  # display window: the frame's size, whatever part of it holds pixels
    height: int
    attributes: dict[str, Value] = field(default_factory=dict)
    complete: bool | None = None  # None: not checked (tiled / deep / unknown codec)
    problem: str = ""  # why it is incomplete


def read_exr(path: str) -> ExrInfo:
    """Header and completeness of ``path``; raises ExrError for a file that is not an EXR or
    whose headers are cut short (a cut in the offset table or the chunks is ``complete=False``)."""
    return _guarded(path, _read)


def _read(f: _File) -> ExrInfo:
    version, parts = _headers(f)
    first = parts[0]
    display = first.display
    channels = [c for part in parts for c in part.channels]
    info = ExrInfo(f.path, list(dict.fromkeys(channels)), display[2] - display[0] + 1,
                   display[3] - display[1] + 1, first.attributes)
    found = [part.chunks() for part in parts]
    counts = [c for c in found if c is not None]
    if version & (_TILED | _DEEP) or len(counts) < len(found):
        return info
    tables = []
    for count in counts:
        table = f.table(count)
        if table is None:
            info.complete, info.problem = False, "offset table is cut short"
            return info
        tables.append(table)
    header_end, lead = f.fh.tell(), _lead(version)
    total = sum(counts)
    for i, offset in enumerate(o for table in tables for o in table):
        if offset < header_end or offset + lead + 4 > f.size:
            info.complete, info.problem = False, f"chunk {i + 1}/{total} is missing"
            return info
        f.fh.seek(offset + lead)
        (length,) = struct.unpack("<i", f.read(4, "a chunk's size"))
        if length < 0 or offset + lead + 4 + length > f.size:
            info.complete, info.problem = False, f"chunk {i + 1}/{total} is cut short"
            return info
    info.complete = True
    return info


def _lead(version: int) -> int:
    """Bytes before a scanline chunk's data size: (part number,) first line."""
    return 8 if version & _MULTIPART else 4


class _File:
    """An open EXR file whose reads never ask for more than it holds: a size or count read from
    a header is checked against the bytes left before anything is read or allocated."""

    def __init__(self, fh: BinaryIO, path: str):
        self.fh, self.path, self.size = fh, path, os.fstat(fh.fileno()).st_size

    def left(self) -> int:
        return self.size - self.fh.tell()

    def read(self, n: int, what: str) -> bytes:
        """Exactly ``n`` bytes; ExrError when the file holds fewer (or ``n`` is negative)."""
        if not 0 <= n <= self.left():
            raise ExrError(f"{what} needs {n} bytes, {self.left()} left (truncated file?)")
        data = self.fh.read(n)
        if len(data) != n:  # the file shrank while being read
            raise ExrError(f"{what} ends early (truncated file)")
        return data

    def name(self) -> str:
        """A NUL-terminated attribute name or type (at most 255 bytes, UTF-8)."""
        start = self.fh.tell()
        text = self.fh.read(min(_MAX_NAME + 1, self.left()))
        end = text.find(b"\0")
        if end < 0:
            raise ExrError("the header ends early (truncated file)" if len(text) <= _MAX_NAME
                           else f"a name at byte {start} is longer than {_MAX_NAME} bytes")
        self.fh.seek(start + end + 1)
        return text[:end].decode("utf-8")

    def table(self, count: int) -> tuple[int, ...] | None:
        """A part's ``count`` chunk offsets; None when the file ends before they do."""
        if 8 * count > self.left():
            return None
        return struct.unpack(f"<{count}Q", self.read(8 * count, "an offset table"))


def _guarded(path: str, read: Callable[[_File], T]) -> T:
    """``read`` of the file at ``path``; whatever goes wrong is an ExrError naming the file."""
    try:
        with open(path, "rb") as fh:
            return read(_File(fh, path))
    except ExrError as exc:
        problem = str(exc)
    # ValueError covers bad UTF-8; IndexError a short attribute; MemoryError, OverflowError
    # a count no check foresaw.
    except (OSError, struct.error, ValueError, IndexError, OverflowError, MemoryError) as exc:
        problem = f"cannot read EXR header ({exc})"
    # Raised out here, the error holds no traceback of the parse (nor the headers it made).
    raise ExrError(f"{path}: {problem}")


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
        """Scanline chunks of this part; None for a codec not listed or a part of a multi-part
        file that is tiled or deep (its ``type``)."""
        lines = self.lines()
        if lines is None or self.attributes.get("type", "scanlineimage") != "scanlineimage":
            return None
        return (self.window[3] - self.window[1] + lines) // lines

    def lines(self) -> int | None:
        """Scanlines per chunk; None for a codec not listed."""
        return _LINES_PER_CHUNK.get(self.compression)

    def stored(self, name: str) -> bytes | None:
        """An attribute's bytes as stored (e.g. ``channels``, ``lineOrder``); None if absent."""
        return next((data for n, _, data in self.raw if n == name), None)


def _headers(f: _File) -> tuple[int, list[_Header]]:
    """The version field and every part's header; the file is left at the offset tables."""
    magic, version = struct.unpack("<ii", f.read(8, "an OpenEXR file's magic number"))
    if magic != MAGIC:
        raise ExrError("not an OpenEXR file")
    parts: list[_Header] = []
    while not parts or version & _MULTIPART:  # a multi-part file's headers end with an empty one
        if len(parts) * _MIN_PART > f.size:
            raise ExrError(f"{len(parts)} parts in {f.size} bytes: its headers do not end")
        header = _header(f)
        if header is None:
            break
        parts.append(header)
    if not parts:
        raise ExrError("has no header")
    return version, parts


def _header(f: _File) -> _Header | None:
    """One part's header; None for the empty header that ends a multi-part file's."""
    header = _Header()
    name = f.name()
    if not name:
        return None
    while name:
        kind = f.name()
        (length,) = struct.unpack("<i", f.read(4, f"the size of attribute {name!r}"))
        data = f.read(length, f"attribute {name!r}")
        if kind == "chlist":
            header.channels, header.pixel_types = _channel_list(data)
        elif name == "dataWindow" and kind == "box2i":
            header.window = _box(name, data)
        elif name == "displayWindow" and kind == "box2i":
            header.display = _box(name, data)
        elif name == "compression" and kind == "compression":
            header.compression = data[0]
        header.attributes[name] = _value(kind, data)
        header.raw.append((name, kind, data))
        name = f.name()
    return header


@dataclass
class ExrPart:
    """One part: its header and where each of its chunks starts in the file (none for the
    one part of a single-part tiled or deep file: those are not read here)."""

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
    """The parts and chunk offsets of an EXR: every part of a multi-part file (a tiled or
    deep one by its ``chunkCount``), or the one part of a single-part file (no offsets when it
    is tiled, deep or of a codec not listed); raises ExrError for a truncated table or a file
    that is not an EXR."""
    return _guarded(path, _layout)


def _layout(f: _File) -> ExrLayout:
    version, headers = _headers(f)
    if not version & _MULTIPART and (version & (_TILED | _DEEP) or headers[0].chunks() is None):
        return ExrLayout(f.path, version, [ExrPart(headers[0], ())])  # its header alone
    parts = []
    for header in headers:
        count = header.chunks()
        if count is None:  # a tiled or deep part of a multi-part file says how many it has
            stated = header.attributes.get("chunkCount")
            if not isinstance(stated, int) or stated < 0:
                raise ExrError(f"a {header.attributes.get('type')} part without a chunkCount")
            count = stated
        table = f.table(count)
        if table is None:
            raise ExrError("offset table is cut short")
        parts.append(ExrPart(header, table))
    return ExrLayout(f.path, version, parts)


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


def _box(name: str, data: bytes) -> tuple[int, ...]:
    """A window (x0, y0, x1, y1, inclusive); ExrError for an empty one."""
    box = struct.unpack("<iiii", data)
    if box[2] < box[0] or box[3] < box[1]:
        raise ExrError(f"{name} {box} is empty")
    return box


def _channel_list(data: bytes) -> tuple[list[str], list[str]]:
    """Channel names and pixel types (subsampled channels are not ours to write)."""
    names, types, pos = [], [], 0
    while pos < len(data) and data[pos] != 0:
        end = data.index(b"\0", pos)  # ValueError: a name without its end
        if end + 17 > len(data):
            raise ExrError("the channel list is cut short")
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
