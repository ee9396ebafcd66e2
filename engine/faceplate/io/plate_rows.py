"""Writing an output EXR from the plate's own bytes wherever the output stores what the plate
does: its header, its other parts, and the rows no face reaches.

A merged frame differs from its plate only in the rows the faces reach, yet a plate holds far
more than its colour: extra channels, other parts (depth, vectors, a second view, deep or tiled
data), and a header of metadata a pipeline reads (chromaticities, multiView, camera, owner,
timecode). OpenImageIO writes only what the merge made — the first part (the plate's first
part's channels, the face rows or every row) and the face layers part — and this module
assembles the output file around it ("the first part" below is the part holding the swapped
view: the first, or a stereo plate's other view, which then keeps its place among the parts):

- **the header**: the first part keeps every attribute of the plate's first part, byte for
  byte, but for the structure (channels, compression, windows, chunk layout) and Faceplate's
  own ``faceplate/*`` metadata, which come from the written part;
- **the other parts**: every part of the plate after the first is copied as stored, header and
  chunks, whatever it holds (a part named like one of ours, from an earlier convert, is
  replaced by ours);
- **the rows**: when the plate's first part stores exactly what the output's first part does
  (the same channel list and pixel types, compression and line order, scanline), only the face
  band is written and the plate's chunks for the other rows are copied in byte for byte — a
  reader that knows this beforehand (:meth:`PlateRows.stores`) decodes only the rows the faces
  need.
"""

from __future__ import annotations

import os
import struct
import tempfile
from dataclasses import dataclass

from faceplate_client.exr import (
    COMPRESSIONS,
    ExrError,
    ExrLayout,
    ExrPart,
    header_bytes,
    read_layout,
)

from .atomic import replacing
from .images import ImageError, ImagePart, write_parts

# What the written first part says of itself; every other attribute is the plate's.
STRUCTURE = frozenset({"channels", "compression", "dataWindow", "displayWindow", "lineOrder",
                       "chunkCount", "tiles", "type", "name", "version"})
OURS = "faceplate/"
_LONG_NAMES, _NON_IMAGE, _MULTIPART = 0x400, 0x800, 0x1000  # version-field flags


@dataclass(frozen=True)
class PlateRows:
    """A plate EXR whose bytes outputs reuse (see the module)."""

    layout: ExrLayout
    index: int = 0  # the part the output swaps (a stereo plate's view); "the first part" below

    @classmethod
    def of(cls, path: str, index: int = 0) -> PlateRows | None:
        """The plate's structure; None when it is not an EXR whose headers and offset tables
        read (a damaged plate: the caller writes what it has, as for any other format)."""
        if not path.lower().endswith(".exr") or not os.path.isfile(path):
            return None
        try:
            layout = read_layout(path)
        except ExrError:
            return None
        size = os.path.getsize(path)
        offsets = [o for part in layout.parts for o in part.offsets]
        if index >= len(layout.parts) or not all(0 < o < size for o in offsets):
            return None
        return cls(layout, index)

    @property
    def part(self) -> ExrPart:
        return self.layout.parts[self.index]

    @property
    def scanline(self) -> bool:
        """The first part's rows are chunks this module can copy."""
        return bool(self.part.offsets) and self.part.header.chunks() is not None

    @property
    def name(self) -> str:
        """The first part's name, or ``rgba`` where the plate names none."""
        name = self.part.header.attributes.get("name")
        return name if isinstance(name, str) and name else "rgba"

    def band(self, y0: int, y1: int) -> tuple[int, int]:
        """Rows ``y0`` to ``y1`` (exclusive, in the file's pixel coordinates) widened to whole
        chunks of the plate, in the data window; the first chunk when there are none (a part
        cannot be empty)."""
        lines, first = self.part.header.lines() or 1, self.part.first_line
        last = self.part.header.window[3] + 1
        y0, y1 = max(y0, first), min(y1, last)
        if y0 >= y1:
            y0, y1 = first, first + 1
        y0 = first + (y0 - first) // lines * lines
        y1 = min(last, first + -(-(y1 - first) // lines) * lines)
        return y0, y1

    def stores(self, pixel_types: str | list[str], compression: str) -> bool:
        """An output whose first part holds this part's channels, of ``pixel_types`` (one
        for all, or one per channel in the plate's order as OpenImageIO reads it), in
        ``compression``, will take these chunks (what :meth:`matches` then checks on the
        written file): scanline, increasing line order."""
        header = self.part.header
        types = [pixel_types] * len(header.channels) if isinstance(pixel_types, str) \
            else pixel_types
        return (self.scanline and sorted(header.pixel_types) == sorted(types) and
                COMPRESSIONS[header.compression:header.compression + 1] == (compression,) and
                header.stored("lineOrder") in (None, b"\0"))

    def matches(self, written: ExrPart) -> bool:
        """The plate's chunks decode as ``written``'s would: the same channels, pixel types,
        compression, line order, columns and frame."""
        mine, theirs = self.part.header, written.header
        channels = mine.stored("channels")
        return (self.scanline and channels is not None and
                channels == theirs.stored("channels") and
                mine.compression == theirs.compression and
                mine.stored("lineOrder") == theirs.stored("lineOrder") and
                mine.window[0::2] == theirs.window[0::2] and  # x0, x1: the band's rows vary
                mine.display == theirs.display)

    def compression(self) -> str:
        """The first part's compression by name ("" for one this reader does not know)."""
        index = self.part.header.compression
        return COMPRESSIONS[index] if 0 <= index < len(COMPRESSIONS) else ""


def write_with_plate_rows(path: str, plate: PlateRows, band: tuple[int, int] | None,
                          parts: list[ImagePart], metadata: dict[str, str | int | float],
                          compression: str) -> bool:
    """Write ``parts`` to ``path`` (EXR, atomically) around the plate's bytes (see the module):
    the first part frame-wide over rows ``band`` only (from :meth:`PlateRows.band`; the rest of
    its rows copied from ``plate``) or, with ``band`` None, whole; the plate's other parts
    after it; then the rest of ``parts``.

    Returns False, having written nothing, when a ``band`` is given but the plate's chunks do
    not match what the first part stores: the caller writes the whole first part instead."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    # Named like write_parts' temporaries, so a killed run's is cleaned up with them.
    fd, band_path = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".",
                                     suffix=".band.tmp.exr", dir=folder)
    os.close(fd)
    try:
        write_parts(band_path, parts, metadata, compression=compression, atomic=False)
        written = read_layout(band_path)
        if len(written.parts) != len(parts) or \
                (band is not None and not plate.matches(written.parts[0])):
            return False
        with replacing(path, suffix=".tmp.exr") as tmp:
            with open(tmp, "wb", buffering=0) as out:
                _splice(out.fileno(), written, plate, band)
            os.unlink(band_path)  # before the frame appears: a kill then leaves no stray file
        return True
    except (ExrError, OSError, struct.error) as exc:
        raise ImageError(f"cannot write {path}: {exc}") from None
    finally:
        if os.path.exists(band_path):
            os.unlink(band_path)


def _first_header(written: ExrPart, plate: PlateRows, band: tuple[int, int] | None
                  ) -> list[tuple[str, str, bytes]]:
    """The output's first header: the plate's attributes in its order, the structure and
    ``faceplate/*`` from ``written`` (the data window and chunk count the plate's when the
    plate's rows are copied), then what ``written`` adds."""
    full = plate.part
    own = {n: (k, d) for n, k, d in written.header.raw}
    if band is not None:
        own["dataWindow"] = ("box2i", struct.pack("<iiii", *full.header.window))
        own["chunkCount"] = ("int", struct.pack("<i", len(full.offsets)))
    theirs = [(n, k, d) for n, k, d in full.header.raw
              if n not in STRUCTURE and not n.startswith(OURS)]
    kept = {n for n, _, _ in theirs}
    return theirs + [(n, k, d) for n, (k, d) in own.items() if n not in kept]


def _splice(out: int, written: ExrLayout, plate: PlateRows, band: tuple[int, int] | None
            ) -> None:
    """The output file (``out``, a descriptor): the headers (see :func:`_first_header`), then
    every part's chunks: the first part's in frame order (the band's from ``written``, the
    rest from the plate), the plate's other parts' as stored, then ``written``'s other parts.
    Chunks are copied file to file by the kernel (a 4K frame's pass through Python would cost
    a copy of each file)."""
    ours = {p.header.attributes.get("name") for p in written.parts[1:]}
    # The plate's parts in their order, the swapped one ours (None), then our other parts.
    order = [None if i == plate.index else p for i, p in enumerate(plate.layout.parts)
             if p.header.attributes.get("name") not in ours]
    headers = [_first_header(written.parts[0], plate, band) if p is None else p.header.raw
               for p in order] + [p.header.raw for p in written.parts[1:]]
    version = written.version | _MULTIPART | plate.layout.version & (_LONG_NAMES | _NON_IMAGE)
    head = header_bytes(version, headers)
    with open(written.path, "rb") as mine, open(plate.layout.path, "rb") as theirs:
        # Each file's size, name, and the bytes of a part number before each chunk.
        files = {fd: (os.fstat(fd).st_size, name, 4 if layout.version & _MULTIPART else 0)
                 for fd, name, layout in ((mine.fileno(), "the written part", written),
                                          (theirs.fileno(), plate.layout.path, plate.layout))}

        def chunk(fd: int, offset: int, kind: str) -> tuple[int, int, int, int]:
            """A chunk's (file, start after its part number, length, first line)."""
            size, name, number = files[fd]
            start = offset + number
            if kind in ("scanlineimage", "tiledimage"):
                lead = 4 if kind == "scanlineimage" else 16
                (length,) = struct.unpack("<i", os.pread(fd, 4, start + lead))
                end = start + lead + 4 + length
            else:  # deep: three 8-byte sizes, then the offset table and the samples
                lead = 4 if kind == "deepscanline" else 16
                table, packed, _ = struct.unpack("<qqq", os.pread(fd, 24, start + lead))
                length = table + packed
                end = start + lead + 24 + length
            if length < 0 or end > size:
                raise ExrError(f"a chunk of {name} is cut short")
            (y,) = struct.unpack("<i", os.pread(fd, 4, start))
            return fd, start, end - start, y

        # Each part's chunks: a part number, then a range of one of the two files.
        chunks: list[list[tuple[int, tuple[int, int, int, int]]]] = []
        full, lines = plate.part, plate.part.header.lines() or 1
        for part in order:
            number = len(chunks)
            if part is not None:
                kind = str(part.header.attributes.get("type", "scanlineimage"))
                chunks.append([(number, chunk(theirs.fileno(), o, kind)) for o in part.offsets])
                continue
            if band is None:
                chunks.append([(number, chunk(mine.fileno(), o, "scanlineimage"))
                               for o in written.parts[0].offsets])
                continue
            swapped = []
            band_first = (band[0] - full.first_line) // lines
            band_count = len(written.parts[0].offsets)
            for index, offset in enumerate(full.offsets):
                if band_first <= index < band_first + band_count:
                    piece = chunk(mine.fileno(), written.parts[0].offsets[index - band_first],
                                  "scanlineimage")
                else:
                    piece = chunk(theirs.fileno(), offset, "scanlineimage")
                if piece[3] != full.first_line + index * lines:
                    raise ExrError(f"chunk {index} of the frame holds line {piece[3]}")
                swapped.append((number, piece))
            chunks.append(swapped)
        for part in written.parts[1:]:
            chunks.append([(len(chunks), chunk(mine.fileno(), o, "scanlineimage"))
                           for o in part.offsets])
        position = len(head) + 8 * sum(len(c) for c in chunks)
        table = bytearray()
        for part_chunks in chunks:
            for _, (_, _, length, _) in part_chunks:
                table += struct.pack("<Q", position)
                position += 4 + length
        _write(out, head + table)
        for part_chunks in chunks:
            for number, (fd, start, length, _) in part_chunks:
                _write(out, struct.pack("<i", number))
                _copy(fd, out, start, length)


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _copy(src: int, dst: int, start: int, length: int) -> None:
    """``length`` bytes of ``src`` from ``start`` appended to ``dst``, in the kernel where it
    can (copy_file_range), else through a buffer."""
    while length > 0:
        try:
            done = os.copy_file_range(src, dst, length, start)
        except OSError:  # another file system, an old kernel: copy it ourselves
            done = 0
        if done <= 0:
            data = os.pread(src, length, start)
            if len(data) != length:
                raise ExrError("a chunk ends early")
            _write(dst, data)
            return
        start, length = start + done, length - done
