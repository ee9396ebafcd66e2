"""An output EXR whose untouched rows are the plate's own compressed chunks
(faceplate.io.plate_rows): it must read back exactly as a whole-frame write would, copy the
plate's chunks byte for byte, and refuse plates whose chunks would decode differently."""

from __future__ import annotations

import os
import struct

import numpy as np
import OpenImageIO as oiio
import pytest
from faceplate.convert.merge import SwappedFace, merge_reach
from faceplate.convert.pipeline import merge_frame, placements, swap_frame
from faceplate.convert.settings import MergeSettings
from faceplate.convert.swap import PassthroughModel
from faceplate.convert.writer import FrameWriter, OutputSettings, is_whole, write_merged
from faceplate.extract import alignments as alignments_io
from faceplate.io.colour import ColourSpaces
from faceplate.io.images import ImagePart, read_image, write_image, write_parts
from faceplate.io.plate_rows import PlateRows, write_with_plate_rows
from faceplate.samples import make_shot, write_true_alignments
from faceplate_client.exr import read_exr, read_layout

W, H = 200, 150  # 150 rows: nine whole 16-line zip chunks and a last one of 6


def _plate(path: str, channels: int = 4, compression: str = "zip", pixel_type: str = "half",
           data_window: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """A plate of smooth gradients and noise (every chunk differs), written to ``path``."""
    rng = np.random.default_rng(channels)
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    pixels = np.stack([x / W, y / H, (x + y) / (W + H), 0.5 + y / (2 * H)][:channels], -1)
    pixels += rng.normal(0, 0.02, pixels.shape).astype(np.float32)
    write_image(path, pixels, ["R", "G", "B", "A"][:channels], {"plate": "yes"},
                pixel_type=pixel_type, compression=compression, data_window=data_window)
    return read_image(path, display_window=True).pixels


def _pixels(path: str) -> list[tuple[tuple, list[str], np.ndarray]]:
    """Every part's data window, channel names and pixels as stored (half as its bits)."""
    inp = oiio.ImageInput.open(path)
    assert inp is not None, oiio.geterror()
    out = []
    try:
        while inp.seek_subimage(len(out), 0):
            spec = inp.spec()
            pixels = inp.read_image(len(out), 0, 0, spec.nchannels, spec.format)
            assert pixels is not None, inp.geterror()
            out.append(((spec.x, spec.y, spec.width, spec.height), list(spec.channelnames),
                        pixels.view(np.uint16) if pixels.dtype == np.float16 else pixels))
        return out
    finally:
        inp.close()


def _assert_same_pixels(path: str, reference: str, label: str = "") -> None:
    """Both files have the same parts, data windows, channels and pixel bits."""
    got, want = _pixels(path), _pixels(reference)
    assert [(w, c) for w, c, _ in got] == [(w, c) for w, c, _ in want], label
    for (_, names, a), (_, _, b) in zip(got, want):
        np.testing.assert_array_equal(a, b, err_msg=f"{label} {names}")


def _chunk_bodies(path: str, part: int = 0) -> list[bytes]:
    """A part's chunks as stored: first line, size, compressed data (no part number)."""
    layout = read_layout(path)
    with open(path, "rb") as fh:
        data = fh.read()
    bodies = []
    for offset in layout.parts[part].offsets:
        start = offset + layout.lead - 4
        (size,) = struct.unpack_from("<i", data, start + 4)
        bodies.append(data[start:start + 8 + size])
    return bodies


def _layers(band_box=(60, 40, 50, 30)) -> ImagePart:
    x, y, w, h = band_box
    return ImagePart(np.full((h, w, 2), 0.5, np.float16), ["facemask.face", "facemask.hull"],
                     "facelayers", "half", (x, y), (0, 0, W, H))


@pytest.mark.parametrize("compression, lines", [("zip", 16), ("zips", 1), ("piz", 32),
                                                ("none", 1)])
@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("rows", [(0, 5), (40, 70), (141, 150), (0, 150), (0, 0)],
                         ids=["top", "middle", "last-chunk", "all", "no-face"])
def test_a_frame_with_plate_rows_reads_back_as_the_whole_frame(tmp_path, compression, lines,
                                                               channels, rows):
    plate_path = str(tmp_path / "plate.exr")
    plate = _plate(plate_path, channels, compression)
    rows_of = PlateRows.of(plate_path)
    assert rows_of is not None
    band = rows_of.band(*rows)
    assert band[0] % lines == 0 and (band[1] % lines == 0 or band[1] == H)
    assert band[0] <= rows[0] and band[1] >= rows[1] and band[1] > band[0]
    merged = plate.copy()
    merged[rows[0]:rows[1], 20:120] = 2.5  # what the faces changed: inside the band only
    names = ["R", "G", "B", "A"][:channels]
    first = ImagePart(merged[band[0]:band[1]], names, "rgba", "half", (0, band[0]), (0, 0, W, H))
    out = str(tmp_path / "out.exr")
    assert write_with_plate_rows(out, rows_of, band, [first, _layers()], {"k": "v"},
                                 compression)
    whole = str(tmp_path / "whole.exr")
    write_parts(whole, [ImagePart(merged, names, "rgba", "half"), _layers()], {"k": "v"},
                compression=compression)

    _assert_same_pixels(out, whole)
    inp = oiio.ImageInput.open(out)
    spec = inp.spec()
    inp.close()
    assert spec.get_string_attribute("k") == "v" and spec.get_string_attribute("name") == "rgba"
    assert is_whole(out) and read_exr(out).complete is True
    # The rows outside the band are the plate's chunks, byte for byte.
    copied = [i for i in range(len(_chunk_bodies(out))) if not band[0] <= i * lines < band[1]]
    assert [_chunk_bodies(out)[i] for i in copied] == [_chunk_bodies(plate_path)[i]
                                                       for i in copied]
    assert sorted(os.listdir(tmp_path)) == ["out.exr", "plate.exr", "whole.exr"]  # no temporaries


@pytest.mark.parametrize("change", ["float output", "alpha added", "other compression",
                                    "other columns"])
def test_a_plate_whose_chunks_would_decode_differently_is_not_copied(tmp_path, change):
    plate_path = str(tmp_path / "plate.exr")
    plate = _plate(plate_path, 4 if change != "alpha added" else 3)
    rgba = np.concatenate([plate[..., :3], np.ones_like(plate[..., :1])], -1)
    rows = PlateRows.of(plate_path)
    assert rows is not None
    band = rows.band(40, 70)
    pixels, x = rgba[band[0]:band[1]], 0
    if change == "other columns":  # a data window reaching left of the plate's
        pixels, x = np.pad(pixels, ((0, 0), (4, 0), (0, 0))), -4
    part = ImagePart(pixels, ["R", "G", "B", "A"], "rgba",
                     "float" if change == "float output" else "half", (x, band[0]), (0, 0, W, H))
    out = str(tmp_path / "out.exr")
    compression = "piz" if change == "other compression" else "zip"
    assert not write_with_plate_rows(out, rows, band, [part, _layers()], {}, compression)
    assert sorted(os.listdir(tmp_path)) == ["plate.exr"]  # nothing written, nothing left


def test_a_multi_part_plates_first_part_is_copied_from_its_numbered_chunks(tmp_path):
    """A plate with a second part (a depth pass, say): its first part's chunks carry a part
    number, which the copy replaces with the output's own."""
    plate_path = str(tmp_path / "plate.exr")
    rgb = _plate(str(tmp_path / "single.exr"), 3)
    write_parts(plate_path, [ImagePart(rgb, ["R", "G", "B"], "rgba", "half"),
                             ImagePart(rgb[..., :1], ["Z"], "depth", "float")], {})
    rows = PlateRows.of(plate_path)
    assert rows is not None and rows.layout.lead == 8 and rows.stores("half", "zip")
    band = rows.band(50, 60)
    merged = rgb.copy()
    merged[50:60] = 0.25
    first = ImagePart(merged[band[0]:band[1]], ["R", "G", "B"], "rgba", "half", (0, band[0]),
                      (0, 0, W, H))
    out, whole = str(tmp_path / "out.exr"), str(tmp_path / "whole.exr")
    assert write_with_plate_rows(out, rows, band, [first, _layers()], {}, "zip")
    write_parts(whole, [ImagePart(merged, ["R", "G", "B"], "rgba", "half"),
                        ImagePart(rgb[..., :1], ["Z"], "depth", "float"), _layers()], {})
    _assert_same_pixels(out, whole)  # the depth part passes through, after the first
    assert _chunk_bodies(out, 1) == _chunk_bodies(plate_path, 1)


def test_without_kernel_copies_the_chunks_are_copied_through_a_buffer(tmp_path, monkeypatch):
    """Where copy_file_range is refused (another file system, an old kernel), the same file."""
    plate_path = str(tmp_path / "plate.exr")
    plate = _plate(plate_path, 3)
    rows = PlateRows.of(plate_path)
    assert rows is not None
    band = rows.band(40, 70)
    first = ImagePart(plate[band[0]:band[1]], ["R", "G", "B"], "rgba", "half", (0, band[0]),
                      (0, 0, W, H))
    kernel, buffered = str(tmp_path / "k.exr"), str(tmp_path / "b.exr")
    assert write_with_plate_rows(kernel, rows, band, [first, _layers()], {}, "zip")

    def refused(*args, **kwargs):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", refused)
    assert write_with_plate_rows(buffered, rows, band, [first, _layers()], {}, "zip")
    _assert_same_pixels(buffered, kernel)
    for part in (0, 1):  # the chunks as stored (the headers' DateTime may differ)
        assert _chunk_bodies(buffered, part) == _chunk_bodies(kernel, part)


def test_a_truncated_tiled_or_foreign_plate_gives_no_rows(tmp_path):
    """A damaged or foreign plate gives nothing; a tiled one its header alone."""
    plate_path = str(tmp_path / "plate.exr")
    _plate(plate_path)
    data = (tmp_path / "plate.exr").read_bytes()
    (tmp_path / "cut.exr").write_bytes(data[:len(data) // 2])
    assert PlateRows.of(str(tmp_path / "cut.exr")) is None
    write_image(str(tmp_path / "p.png"), np.zeros((4, 4, 3), np.float32), ["R", "G", "B"])
    assert PlateRows.of(str(tmp_path / "p.png")) is None
    assert PlateRows.of(str(tmp_path / "missing.exr")) is None
    tiled = str(tmp_path / "tiled.exr")
    spec = oiio.ImageSpec(W, H, 3, oiio.HALF)
    spec.tile_width = spec.tile_height = 32
    out = oiio.ImageOutput.create(tiled)
    assert out.open(tiled, spec) and out.write_image(np.zeros((H, W, 3), np.float16))
    out.close()
    rows = PlateRows.of(tiled)  # its header serves the output; its tiles are no rows
    assert read_image(tiled).width == W and rows is not None and not rows.scanline
    assert not rows.stores("half", "zip")


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    root = tmp_path_factory.mktemp("rows")
    sample = make_shot("astronaut", str(root), frames=2, size=(640, 480), face_px=90.0)
    write_true_alignments(sample, str(root))
    return sample, str(root)


def _frame(shot, index: int):
    """Frame ``index`` of the shot: its number, half plate, placements, the null model's
    swaps of them (made a different face: the plate's own would leave the merge near the
    plate), the model and the colourspaces."""
    sample, root = shot
    aligned = alignments_io.load(root)
    model, colour = PassthroughModel(128), ColourSpaces(sample.colourspace)
    f = sample.frames[index]
    plate = read_image(sample.path(f), keep_half=True)
    faces = placements(aligned.frames[f], aligned.face_type, model)
    swaps = [SwappedFace(1.0 - s.face, s.learned, s.matrix, s.landmarks, s.detection)
             for s in swap_frame(plate.rgb(), faces, model, "plate", colour, frame=f)]
    return f, plate, faces, swaps, model, colour


def test_a_merged_frame_written_with_plate_rows_is_the_frame_written_whole(shot, tmp_path):
    """Through the real merge: every pixel the faces changed lies in the rows written, so the
    frame is the whole write's bits, and a third of its rows are the plate's chunks."""
    sample, _ = shot
    f, plate, _, swaps, _, colour = _frame(shot, 0)
    merged = merge_frame(plate, swaps, colour, MergeSettings())
    spliced, whole = str(tmp_path / "a.exr"), str(tmp_path / "b.exr")
    write_merged(spliced, merged, {"faceplate/job": "j"}, "half", plate=sample.path(f))
    write_merged(whole, merged, {"faceplate/job": "j"}, "half")
    _assert_same_pixels(spliced, whole)
    plate_chunks, ours = _chunk_bodies(sample.path(f)), _chunk_bodies(spliced)
    same = sum(a == b for a, b in zip(plate_chunks, ours))
    assert len(ours) == len(plate_chunks) and same >= len(ours) // 3
    assert _pixels(spliced)[0][2].shape[-1] == 3  # the plate is RGB: so is the output


def test_a_killed_splice_leaves_a_temporary_the_next_run_removes(shot, tmp_path):
    """A kill mid-write leaves a band temporary beside its frame; the next run removes it,
    also beside a frame that was finished and is skipped."""
    from faceplate.convert.pipeline import convert_shot

    sample, root = shot
    writer = FrameWriter(OutputSettings(str(tmp_path / "o.####.exr")))
    stray = tmp_path / ".o.1001.exr.abc123.band.tmp.exr"
    stray.write_bytes(b"half")
    writer.remove_stale_temporaries(1001)
    assert not stray.exists()
    out = str(tmp_path / "r" / "o.####.exr")
    first = convert_shot(sample.pattern, root, PassthroughModel(128), "plate", out)
    strays = [tmp_path / "r" / f".o.{f}.exr.abc123.band.tmp.exr" for f in sample.frames]
    for path in strays:
        path.write_bytes(b"half")
    again = convert_shot(sample.pattern, root, PassthroughModel(128), "plate", out)
    assert first.count("swapped") == again.count("skipped") == len(sample.frames)
    assert not any(path.exists() for path in strays)
    assert sorted(os.listdir(tmp_path / "r")) == [f"o.{f}.exr" for f in sample.frames]


@pytest.mark.parametrize("colour, temporal, alpha", [("seamless", 0.0, False),
                                                     ("reinhard", 2.0, False),
                                                     ("none", 0.0, True)])
def test_a_convert_reading_only_the_face_rows_equals_one_reading_the_whole_plate(
        shot, tmp_path, colour, temporal, alpha):
    """zip output of a zip plate: plate rows copied, only the rows the faces reach decoded
    (and for temporal smoothing's swap pass only the crops' rows); piz output: every row read
    and written. The pixels must be the same, bit for bit, for an RGB plate and one with an
    alpha (which the merge changes under the face and the output keeps)."""
    from faceplate.convert.pipeline import convert_shot

    sample, root = shot
    pattern, path = sample.pattern, sample.path
    if alpha:  # the sample with an alpha ramp, the same frames and alignments
        pattern = str(tmp_path / "rgba" / "plate.%04d.exr")
        path = lambda f: pattern % f
        for f in sample.frames:
            rgb = read_image(sample.path(f)).rgb()
            ramp = np.linspace(0.2, 1.0, rgb.shape[1], dtype=np.float32)
            write_image(path(f), np.dstack([rgb * ramp[:, None], np.broadcast_to(
                ramp, rgb.shape[:2])]), ["R", "G", "B", "A"], pixel_type="half")
    settings = MergeSettings(colour=colour, temporal=temporal)
    outs = {}
    for compression in ("zip", "piz"):
        out = str(tmp_path / compression / "o.####.exr")
        summary = convert_shot(pattern, root, PassthroughModel(128), "plate",
                               OutputSettings(out, compression=compression),
                               settings=settings)
        assert summary.count("swapped") == len(sample.frames)
        outs[compression] = out
    for f in sample.frames:
        ours = outs["zip"].replace("####", str(f))
        _assert_same_pixels(ours, outs["piz"].replace("####", str(f)), str(f))
        copied = sum(a == b for a, b in zip(_chunk_bodies(path(f)), _chunk_bodies(ours)))
        assert copied > 0
        assert _pixels(ours)[0][1] == (["R", "G", "B", "A"] if alpha else ["R", "G", "B"])


def test_a_frame_read_in_rows_is_made_whole_for_outputs_that_cannot_copy_them(shot, tmp_path):
    """A frame whose plate was read only where the faces are, written where the plate's
    rows cannot be copied (single-part EXR, PNG), gets its other rows from the plate."""
    sample, _ = shot
    f, full, faces, swaps, model, colour = _frame(shot, 1)
    settings = MergeSettings(colour="none")
    reach = merge_reach(faces, model.card.resolution, settings, (full.width, full.height))
    y0, y1 = rows = reach.y0, reach.y1
    assert 0 < y0 < y1 < full.height  # rows above and below are left unread
    part = read_image(sample.path(f), keep_half=True, rows=rows)
    assert part.rows == rows and not part.pixels[:y0].any() and not part.pixels[y1:].any()
    np.testing.assert_array_equal(part.pixels[y0:y1], full.pixels[y0:y1])
    merged = merge_frame(part, swaps, colour, settings)
    reference = merge_frame(full, swaps, colour, settings)
    whole = merged.whole(sample.path(f))
    assert whole.rows is None
    np.testing.assert_array_equal(whole.colour.view(np.uint16),
                                  reference.colour.view(np.uint16))
    for name, options in (("s.exr", {"single_part": True}), ("p.png", {})):
        extra = {"mask_path": str(tmp_path / "m.png"), "layers_path": str(tmp_path / "l.exr")} \
            if name.endswith(".png") else {}
        a, b = str(tmp_path / f"a{name}"), str(tmp_path / f"b{name}")
        write_merged(a, merged, {}, "half", plate=sample.path(f), **options, **extra)
        write_merged(b, reference, {}, "half", **options, **extra)
        np.testing.assert_array_equal(read_image(a).pixels, read_image(b).pixels, err_msg=name)


@pytest.mark.parametrize("compression", ["dwaa"])  # dwab's 256-line chunks: this plate is one
def test_a_lossy_plates_rows_outside_the_band_decode_as_the_plate_does(tmp_path, compression):
    """dwaa: the copied rows are the plate's own chunks, so no second generation of loss."""
    plate_path = str(tmp_path / "plate.exr")
    plate = _plate(plate_path, 3, compression)
    rows = PlateRows.of(plate_path)
    assert rows is not None and rows.stores("half", compression)
    band = rows.band(40, 70)
    first = ImagePart(plate[band[0]:band[1]], ["R", "G", "B"], "rgba", "half", (0, band[0]),
                      (0, 0, W, H))
    out = str(tmp_path / "out.exr")
    assert write_with_plate_rows(out, rows, band, [first, _layers()], {}, compression)
    got, want = _pixels(out)[0][2], _pixels(plate_path)[0][2]
    outside = np.ones(H, bool)
    outside[band[0]:band[1]] = False
    assert outside.any()
    np.testing.assert_array_equal(got[outside], want[outside])
