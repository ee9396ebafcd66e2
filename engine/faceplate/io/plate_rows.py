"""Writing an output EXR whose untouched rows are the plate's own compressed chunks.

A merged frame differs from its plate only in the rows the faces reach: on a 4K frame with
one face, the other 40% of the rows would be decompressed on read and compressed again on
write, the writer's costliest step, to store the plate's bits unchanged. When the plate's
first part stores exactly what the output's first part would (the same channel list and
pixel types, compression, line order and data window, scanline), OpenImageIO writes only
the face band and every other part, and the plate's chunks for the rows outside the band are
copied in byte for byte: the same pixels, at the cost of a file copy. A reader that knows
this beforehand (:meth:`PlateRows.stores`) decodes only the rows the faces need.
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

_FIRST_PART = struct.pack("<i", 0)  # a multi-part file's chunks start with their part's number


@dataclass(frozen=True)
class PlateRows:
    """A plate file whose first part's chunks can be copied into outputs (see the module)."""

    layout: ExrLayout

    @classmethod
    def of(cls, path: str) -> PlateRows | None:
        """The plate's chunk layout; None when it is not a scanline EXR with a readable,
        complete offset table."""
        if not path.lower().endswith(".exr") or not os.path.isfile(path):
            return None
        try:
            layout = read_layout(path)
        except ExrError:
            return None
        size = os.path.getsize(path)
        offsets = layout.parts[0].offsets
        return cls(layout) if offsets and all(0 < o < size for o in offsets) else None

    @property
    def part(self) -> ExrPart:
        return self.layout.parts[0]

    def band(self, y0: int, y1: int) -> tuple[int, int]:
        """Rows ``y0`` to ``y1`` (exclusive) widened to whole chunks of the plate, in the data
        window; the first chunk when there are none (a part cannot be empty)."""
        lines, first = self.part.header.lines() or 1, self.part.first_line
        last = self.part.header.window[3] + 1
        y0, y1 = max(y0, first), min(y1, last)
        if y0 >= y1:
            y0, y1 = first, first + 1
        y0 = first + (y0 - first) // lines * lines
        y1 = min(last, first + -(-(y1 - first) // lines) * lines)
        return y0, y1

    def stores(self, pixel_type: str, compression: str) -> bool:
        """An output of the plate's colour channels in ``pixel_type`` and ``compression`` will
        take these chunks (what :meth:`matches` then checks on the written file): R, G, B
        (and A), all of that type, the data window the frame, increasing line order."""
        header = self.part.header
        return (set(header.channels) in ({"R", "G", "B"}, {"R", "G", "B", "A"}) and
                set(header.pixel_types) == {pixel_type} and
                COMPRESSIONS[header.compression:header.compression + 1] == (compression,) and
                header.stored("lineOrder") in (None, b"\0") and
                header.window == header.display)

    def matches(self, written: ExrPart) -> bool:
        """The plate's chunks decode as ``written``'s would: the same channels, pixel types,
        compression, line order and frame."""
        mine, theirs = self.part.header, written.header
        channels = mine.stored("channels")
        return (channels is not None and channels == theirs.stored("channels") and
                mine.compression == theirs.compression and
                mine.stored("lineOrder") == theirs.stored("lineOrder") and
                mine.window == theirs.display == mine.display)


def write_with_plate_rows(path: str, plate: PlateRows, band: tuple[int, int],
                          parts: list[ImagePart], metadata: dict[str, str | int | float],
                          compression: str) -> bool:
    """Write ``parts`` to ``path`` (EXR, atomically), the first one frame-wide over rows
    ``band`` only (from :meth:`PlateRows.band`), the rest of its rows copied from ``plate``.

    Returns False, having written nothing, when the plate's chunks do not match what the
    first part stores: the caller writes the whole frame instead."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    # Named like write_parts' temporaries, so a killed run's is cleaned up with them.
    fd, band_path = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".",
                                     suffix=".band.tmp.exr", dir=folder)
    os.close(fd)
    try:
        write_parts(band_path, parts, metadata, compression=compression, atomic=False)
        written = read_layout(band_path)
        if len(written.parts) < 2 or not plate.matches(written.parts[0]):
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


def _splice(out: int, written: ExrLayout, plate: PlateRows, band: tuple[int, int]) -> None:
    """The output file (``out``, a descriptor): ``written``'s headers with the first part
    widened to the plate's data window, its chunks in frame order (the band's from
    ``written``, the rest from the plate), then the other parts' chunks as written. Chunks are
    copied file to file by the kernel (a 4K frame's pass through Python would cost a copy of
    each file)."""
    full = plate.part
    first = full.header
    headers = [[(n, k, struct.pack("<iiii", *first.window) if n == "dataWindow" else
                 struct.pack("<i", len(full.offsets)) if n == "chunkCount" else d)
                for n, k, d in written.parts[0].header.raw], *(
               p.header.raw for p in written.parts[1:])]
    head = header_bytes(written.version, headers)
    lines = first.lines() or 1
    band_first = (band[0] - full.first_line) // lines
    band_count = len(written.parts[0].offsets)
    with open(written.path, "rb") as ours, open(plate.layout.path, "rb") as theirs:
        sizes = {ours.fileno(): os.fstat(ours.fileno()).st_size,
                 theirs.fileno(): os.fstat(theirs.fileno()).st_size}

        def chunk(fd: int, offset: int, lead: int, keep: int) -> tuple[int, int, int, int]:
            """A chunk's (file, start, length, first line), its last ``keep`` lead bytes on."""
            (y, size) = struct.unpack("<ii", os.pread(fd, 8, offset + lead - 4))
            end = offset + lead + 4 + size
            if size < 0 or end > sizes[fd]:
                name = plate.layout.path if fd == theirs.fileno() else "the band"
                raise ExrError(f"a chunk of {name} is cut short")
            return fd, offset + lead - keep, end - (offset + lead - keep), y

        # Each part's chunks: an optional prefix, then a range of one of the two files.
        chunks: list[list[tuple[bytes, tuple[int, int, int, int]]]] = [[]]
        for index, offset in enumerate(full.offsets):
            if band_first <= index < band_first + band_count:  # y, size, data
                piece = chunk(ours.fileno(), written.parts[0].offsets[index - band_first], 8, 4)
            else:
                piece = chunk(theirs.fileno(), offset, plate.layout.lead, 4)
            if piece[3] != full.first_line + index * lines:
                raise ExrError(f"chunk {index} of the frame holds line {piece[3]}")
            chunks[0].append((_FIRST_PART, piece))
        for part in written.parts[1:]:
            chunks.append([(b"", chunk(ours.fileno(), o, 8, 8)) for o in part.offsets])
        position = len(head) + 8 * sum(len(c) for c in chunks)
        table = bytearray()
        for part_chunks in chunks:
            for prefix, (_, _, length, _) in part_chunks:
                table += struct.pack("<Q", position)
                position += len(prefix) + length
        _write(out, head + table)
        for part_chunks in chunks:
            for prefix, (fd, start, length, _) in part_chunks:
                _write(out, prefix)
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
