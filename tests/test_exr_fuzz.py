"""The standard-library EXR reader (faceplate_client.exr) on malformed files: whatever the
bytes, ``read_exr`` and ``read_layout`` return or raise ExrError (the publish validator and
PlateRows.of catch nothing else), and a lying size or count allocates nothing beyond the file."""

from __future__ import annotations

import functools
import os
import struct
import tempfile
import time
import tracemalloc

import numpy as np
import OpenImageIO as oiio
import pytest
from faceplate_client.exr import MAGIC, ExrError, ExrInfo, ExrLayout, read_exr, read_layout
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

W, H = 24, 20
EXTREMES = (-1, 0, 1, 2**31 - 1, -(2**31), 2**16, -(2**16))
NAMES = ("scanline", "multipart", "tiled", "overscan", "multitiled")  # see _originals


def _spec(w: int = W, h: int = H, x: int = 0, y: int = 0, name: str = "", tile: int = 0,
          compression: str = "zip") -> oiio.ImageSpec:
    spec = oiio.ImageSpec(w, h, 4, oiio.HALF)
    spec.x, spec.y = x, y
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, W, H
    spec.attribute("compression", compression)
    if name:
        spec.attribute("oiio:subimagename", name)
    if tile:
        spec.tile_width = spec.tile_height = tile
    return spec


def _write(path: str, specs: list[oiio.ImageSpec]) -> bytes:
    out = oiio.ImageOutput.create(path)
    assert out is not None and out.open(path, specs), oiio.geterror()
    for i, spec in enumerate(specs):
        assert i == 0 or out.open(path, spec, "AppendSubimage"), out.geterror()
        pixels = np.random.default_rng(i).random((spec.height, spec.width, 4))
        assert out.write_image(pixels.astype(np.float16)), out.geterror()
    out.close()
    with open(path, "rb") as fh:
        return fh.read()


@functools.cache
def _originals() -> dict[str, bytes]:
    """Small real EXRs: scanline zip RGBA half, two parts, tiled, overscan (data window at a
    negative offset), and two tiled parts (the tile flag is then not in the version field)."""
    files = {
        "scanline": [_spec()],
        "multipart": [_spec(name="rgba"), _spec(8, 6, 4, 5, "layers", compression="zips")],
        "tiled": [_spec(tile=16)],
        "overscan": [_spec(x=-4, y=-3)],
        "multitiled": [_spec(name="a", tile=16), _spec(name="b", tile=16)],
    }
    assert tuple(files) == NAMES
    with tempfile.TemporaryDirectory() as folder:
        return {n: _write(os.path.join(folder, n + ".exr"), s) for n, s in files.items()}


def _fields(data: bytes) -> dict[str, int]:
    """Where each header attribute's size is stored (by name, first part's) and, as
    ``name+4k``, each 4-byte word of its value; ``end`` where the first header ends and
    ``table`` where the offset tables start."""
    fields, pos, multipart = {}, 8, bool(struct.unpack_from("<i", data, 4)[0] & 0x1000)
    while data[pos] != 0:
        while data[pos] != 0:
            name_end = data.index(b"\0", pos)
            size_at = data.index(b"\0", name_end + 1) + 1
            name = data[pos:name_end].decode()
            (size,) = struct.unpack_from("<i", data, size_at)
            fields.setdefault(name, size_at)
            for k in range(0, min(size, 64) - 3, 4):
                fields.setdefault(f"{name}+{k}", size_at + 4 + k)
            pos = size_at + 4 + size
        pos += 1
        fields.setdefault("end", pos)
        if not multipart:
            break
    fields["table"] = pos + multipart
    return fields


def _put(data: bytes, at: int, value: int, fmt: str = "<i") -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, at, value)
    return bytes(out)


def _both(path: str) -> list[object]:
    """What each reader makes of ``path``: its result or the ExrError (anything else fails)."""
    results: list[object] = []
    for reader in (read_exr, read_layout):
        try:
            results.append(reader(path))
        except ExrError as exc:
            assert str(exc).startswith(path), exc  # the message names the file
            results.append(exc)
    return results


@pytest.fixture
def exr_file(tmp_path):
    """Writes bytes to an EXR file and returns its path."""
    def write(data: bytes, name: str = "f.exr") -> str:
        path = tmp_path / name
        path.write_bytes(data)
        return str(path)
    return write


def test_the_originals_read_whole():
    """The files the fuzz mutates are sound: scanline ones complete, tiled ones unchecked."""
    with tempfile.TemporaryDirectory() as folder:
        for name, data in _originals().items():
            path = os.path.join(folder, name + ".exr")
            with open(path, "wb") as fh:
                fh.write(data)
            info, layout = _both(path)
            assert isinstance(info, ExrInfo) and sorted(info.channels) == ["A", "B", "G", "R"]
            assert (info.width, info.height) == (W, H)
            tiled = "tiled" in name
            assert info.complete is (None if tiled else True), name
            assert isinstance(layout, ExrLayout), (name, layout)
            # a single tiled part: its header alone; parts of a multi-part file: every chunk
            assert [len(p.offsets) for p in layout.parts] == (
                [0] if name == "tiled" else
                [p.header.attributes.get("chunkCount") or p.header.chunks()
                 for p in layout.parts]), name
            assert all(p.offsets for p in layout.parts) == (name != "tiled")


# -- the fuzz ---------------------------------------------------------------------------------

_mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 2**20), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 2**20)),
    st.tuples(st.just("insert"), st.integers(0, 2**20), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("int"), st.integers(0, 2**20), st.sampled_from(EXTREMES)),
)


def _mutate(data: bytes, mutation: tuple, fields: list[int]) -> bytes:
    """One mutation; positions wrap around the file, an ``int`` one's around ``fields`` (the
    original's header fields and offset table)."""
    kind, at = mutation[0], mutation[1]
    if kind == "cut":
        return data[:at % (len(data) + 1)]
    if kind == "insert":
        at %= len(data) + 1
        return data[:at] + mutation[2] + data[at:]
    if kind == "flip" and data:
        at %= len(data)
        return data[:at] + bytes([data[at] ^ mutation[2]]) + data[at + 1:]
    at = fields[at % len(fields)]
    return _put(data, at, mutation[2]) if kind == "int" and at + 4 <= len(data) else data


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(NAMES), st.lists(_mutation, min_size=1, max_size=4))
def test_mutated_files_read_or_raise_exr_error(name, mutations):
    data = _originals()[name]
    fields = sorted(_fields(data).values())
    for mutation in mutations:
        data = _mutate(data, mutation, fields)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "m.exr")
        with open(path, "wb") as fh:
            fh.write(data)
        info, layout = _both(path)
    assert isinstance(info, (ExrInfo, ExrError)) and isinstance(layout, (ExrLayout, ExrError))
    if isinstance(layout, ExrLayout):  # a layout's offset tables are in the file
        assert sum(8 * len(p.offsets) for p in layout.parts) <= len(data)


# -- targeted cases ---------------------------------------------------------------------------

def _peak(path: str) -> tuple[int, float, list[object]]:
    """Both readers on ``path``: peak bytes allocated, seconds taken, what they made of it."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        results = _both(path)
        return tracemalloc.get_traced_memory()[1], time.perf_counter() - start, results
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("field, value, words", [
    ("channels", -1, "needs -1 bytes"),
    ("channels", 2**31 - 1, f"needs {2**31 - 1} bytes"),
    ("compression", -(2**31), "needs -2147483648 bytes"),
    ("dataWindow+8", -5, "is empty"),  # x1 < x0
    ("displayWindow+12", -1, "is empty"),  # y1 < y0
    ("compression", 0, "index out of range"),  # no byte for the codec
    ("dataWindow", 12, "unpack requires"),  # a box of three ints
])
def test_a_lying_attribute_is_an_exr_error(exr_file, field, value, words):
    data = _originals()["scanline"]
    path = exr_file(_put(data, _fields(data)[field], value))
    peak, seconds, results = _peak(path)
    assert all(isinstance(r, ExrError) and words in str(r) for r in results), results
    assert peak < 10 * len(data) + 2**20 and seconds < 1


@pytest.mark.parametrize("name", ["scanline", "multipart", "overscan"])
def test_a_data_window_of_2_31_rows_allocates_nothing(exr_file, name):
    """The chunk count a lying window implies (2**27 chunks of 16 rows, 1 GiB of offsets) is
    checked against the file before its table is read: incomplete, not a MemoryError."""
    data = _originals()[name]
    fields = _fields(data)
    path = exr_file(_put(_put(data, fields["dataWindow+4"], -(2**31)),
                         fields["dataWindow+12"], -1))
    peak, seconds, (info, layout) = _peak(path)
    assert isinstance(info, ExrInfo) and info.complete is False
    assert info.problem == "offset table is cut short"
    assert isinstance(layout, ExrError) and "offset table is cut short" in str(layout)
    assert peak < 10 * len(data) + 2**20 and seconds < 1


def test_offsets_past_the_file_are_missing_chunks(exr_file):
    data = _originals()["multipart"]
    table = _fields(data)["table"]
    for value in (2**64 - 1, 2**63, 0):
        info, layout = _both(exr_file(_put(data, table, value, "<Q")))
        assert isinstance(info, ExrInfo) and info.complete is False
        assert info.problem == "chunk 1/8 is missing"
        assert isinstance(layout, ExrLayout) and layout.parts[0].offsets[0] == value


@pytest.mark.parametrize("data, words", [
    (b"", "needs 8 bytes, 0 left"),
    (struct.pack("<i", MAGIC), "needs 8 bytes, 4 left"),
    (struct.pack("<ii", MAGIC, 2), "the header ends early"),
    (b"\x76\x2f\x31\x01\x02\0\0\0" + b"x" * 300, "longer than 255 bytes"),  # a name too long
    (b"GIF89a" + bytes(100), "not an OpenEXR file"),
    (struct.pack("<ii", MAGIC, 2) + b"\0", "has no header"),
    (struct.pack("<ii", MAGIC, 2) + b"\xff\xfe\0int\0" + struct.pack("<ii", 4, 1) + b"\0",
     "cannot read EXR header"),  # a name that is not UTF-8
    (struct.pack("<ii", MAGIC, 2) + b"channels\0chlist\0" + struct.pack("<i", 3) + b"R\0\1",
     "the channel list is cut short"),
    (struct.pack("<ii", MAGIC, 2) + b"channels\0chlist\0" + struct.pack("<i", 3) + b"RGB",
     "cannot read EXR header (subsection not found)"),  # a channel name without its end
])
def test_a_file_too_short_or_not_an_exr_is_an_exr_error(exr_file, data, words):
    results = _both(exr_file(data))
    assert all(isinstance(r, ExrError) and words in str(r) for r in results), results


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("version", [2, 2 | 0x1000, 2 | 0x200])
def test_random_bytes_after_the_magic_number_are_an_exr_error(exr_file, seed, version):
    noise = np.random.default_rng(seed).bytes(4096)
    results = _both(exr_file(struct.pack("<ii", MAGIC, version) + noise))
    assert all(isinstance(r, ExrError) for r in results), results


@pytest.mark.parametrize("header, words", [
    (None, "the header ends early"),  # a real part's header over and over
    (b"a\0b\0" + bytes(5), "its headers do not end"),  # the smallest header there is
])
def test_endless_multipart_headers_end_at_the_file(exr_file, header, words):
    """A multi-part file whose headers never end (no empty header): the count of parts is
    bounded by the file's size, and so is what parsing them costs (Python objects for each
    attribute, some ten times its bytes)."""
    data = _originals()["multipart"]
    header = header or data[8:_fields(data)["end"]]  # the first part's
    endless = data[:8] + header * (2**18 // len(header))
    peak, seconds, results = _peak(exr_file(endless))
    assert all(isinstance(r, ExrError) and words in str(r) for r in results), results
    assert peak < 20 * len(endless) and seconds < 5


def test_a_multipart_tiled_file_is_not_read_as_scanlines(exr_file):
    """Two tiled parts: the version field has no tile flag, each part's ``type`` says so; its
    chunks are not checked as scanlines, and its offset tables are as long as each part's
    ``chunkCount`` says."""
    info, layout = _both(exr_file(_originals()["multitiled"]))
    assert isinstance(info, ExrInfo) and info.complete is None
    assert isinstance(layout, ExrLayout)
    for part in layout.parts:
        assert part.header.attributes["type"] == "tiledimage" and part.header.chunks() is None
        assert len(part.offsets) == part.header.attributes["chunkCount"] > 0


def test_what_cannot_be_opened_is_an_exr_error(tmp_path):
    for path in (str(tmp_path), str(tmp_path / "absent.exr")):
        results = _both(path)
        assert all(isinstance(r, ExrError) for r in results), results


def test_a_truncated_scanline_file_is_incomplete_not_an_error(exr_file):
    """The contract the publish validator needs: headers whole, the rest cut anywhere."""
    data = _originals()["multipart"]
    table = _fields(data)["table"]
    for cut in range(table, len(data), 97):
        info = read_exr(exr_file(data[:cut]))
        assert info.complete is False and info.problem, cut
