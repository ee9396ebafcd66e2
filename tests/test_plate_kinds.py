"""A TD's story: every kind of plate a show hands over goes through convert and comes back as
it went in, with the face swapped.

Each plate is built here with OpenImageIO from the astronaut sample shot (its faces placed by
the shot's exact transforms): overscan, a cropped data window, a display window away from
(0, 0), a single part of twenty channels, ten parts, tiled parts, two views (in one part and in
two), luminance only, and a header full of a pipeline's metadata. For each, the merged frame
must read back with the plate's windows, channels, pixel types, parts, views and metadata;
outside the matte every channel of every part must be the plate's bits; inside, the face must
be swapped.
"""

from __future__ import annotations

import numpy as np
import OpenImageIO as oiio
import pytest
from engine_helpers import tiny_model
from faceplate.cli import main
from faceplate.convert.pipeline import convert_shot
from faceplate.convert.swap import PassthroughModel
from faceplate.convert.writer import OutputSettings, what_is_not_kept
from faceplate.extract import alignments as alignments_io
from faceplate.io.images import placed, read_image
from faceplate.samples import make_shot, write_true_alignments
from faceplate_client.exr import COMPRESSIONS, read_layout

W, H = 320, 240
FRAMES = (1001, 1002)
RGB = ("R", "G", "B")

# What a pipeline writes into a plate's header; each must come back as it was.
METADATA = (
    ("chromaticities", oiio.TypeDesc("float[8]"),
     (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767)),
    ("Owner", oiio.TypeString, "Studio Ltd."),
    ("ImageDescription", oiio.TypeString, "sh010 plate, grade v3"),
    ("DateTime", oiio.TypeString, "2026:11:30 10:00:00"),
    ("smpte:TimeCode", oiio.TypeTimeCode, (0x01020304, 0)),
    ("FramesPerSecond", oiio.TypeRational, (24000, 1001)),
    ("worldToCamera", oiio.TypeMatrix, tuple(float(v) for v in range(16))),
    ("cameraSerial", oiio.TypeString, "A-0042"),
    ("lensFocalLength", oiio.TypeFloat, 35.0),
)


class BrightSwap(PassthroughModel):
    """A swap anyone can see: the plate's face with its colours rolled (R→G→B→R)."""

    def swap(self, crops, identity):
        faces, masks = super().swap(crops, identity)
        return np.ascontiguousarray(faces[..., [2, 0, 1]]), masks


def _spec(channels, types, data, display, name="", compression="zip", tile=0, extra=()):
    spec = oiio.ImageSpec(data[2], data[3], len(channels), oiio.HALF)
    spec.x, spec.y = data[:2]
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = display
    spec.channelnames = tuple(channels)
    spec.channelformats = tuple(oiio.TypeDesc(t) for t in types)
    spec.attribute("compression", compression)
    if "A" in channels:
        spec.alpha_channel = list(channels).index("A")
    if name:
        spec.attribute("name", name)
    if tile:
        spec.tile_width = spec.tile_height = tile
    for key, kind, value in extra:
        spec.attribute(key, kind, value)
    return spec


def _write(path: str, parts: list[tuple[oiio.ImageSpec, np.ndarray]]) -> None:
    out = oiio.ImageOutput.create(path)
    assert out.open(path, [s for s, _ in parts] if len(parts) > 1 else parts[0][0]), \
        oiio.geterror()
    for index, (spec, pixels) in enumerate(parts):
        if index:
            assert out.open(path, spec, "AppendSubimage"), out.geterror()
        assert out.write_image(np.ascontiguousarray(pixels, np.float32)), out.geterror()
    out.close()


def _noise(shape, seed) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 2.0, shape).astype(np.float32)


def _plate(kind: str, rgb: np.ndarray, frame: int, path: str) -> None:
    """Write the frame ``rgb`` (W×H, the shot's frame) as a plate of ``kind``."""
    full = (0, 0, W, H)
    meta = METADATA
    one = [(_spec(RGB, ["half"] * 3, full, full, extra=meta), rgb)]
    if kind == "overscan":  # 16 px of extra picture round the frame
        big = np.pad(rgb, ((12, 12), (16, 16), (0, 0)), mode="reflect")
        one = [(_spec(RGB, ["half"] * 3, (-16, -12, W + 32, H + 24), full, extra=meta), big)]
    elif kind == "cropped":  # a data window inside the frame, stored lossy
        one = [(_spec(RGB, ["half"] * 3, (8, 6, W - 20, H - 14), full, compression="dwaa",
                      extra=meta), rgb[6:H - 8, 8:W - 12])]
    elif kind == "offset":  # a display window away from (0, 0), the data window on it
        window = (100, 50, W, H)
        one = [(_spec(RGB, ["half"] * 3, window, window, compression="piz", extra=meta), rgb)]
    elif kind == "layers":  # twenty channels in one part, of three pixel types
        names = ["R", "G", "B", "A", "Z", "forward.u", "forward.v", "backward.u",
                 "backward.v", "diffuse.R", "diffuse.G", "diffuse.B", "specular.R",
                 "specular.G", "specular.B", "N.x", "N.y", "N.z", "id", "coverage"]
        types = ["half"] * 4 + ["float"] + ["half"] * 13 + ["uint", "float"]
        pixels = np.concatenate([rgb, np.ones_like(rgb[..., :1]),
                                 _noise((H, W, 16), frame)], -1)
        pixels[..., 18] = np.random.default_rng(frame).integers(0, 1000, (H, W)) / 4294967295.0
        one = [(_spec(names, types, full, full, compression="piz", extra=meta), pixels)]
    elif kind == "parts":  # ten parts, each with its own codec and types
        one = [(_spec(("R", "G", "B", "A"), ["half"] * 4, full, full, "rgba", extra=meta),
                np.concatenate([rgb, np.ones_like(rgb[..., :1])], -1))]
        codecs = ("piz", "zips", "dwaa", "b44", "pxr24", "rle", "none", "zip", "dwab")
        for i, codec in enumerate(codecs):
            box = (10 * i, 5 * i, W - 20 * i, H - 10 * i)
            types = ["float", "half"] if i % 2 else ["half", "half"]
            one.append((_spec((f"aov{i}.x", f"aov{i}.y"), types, box, full, f"aov{i}", codec),
                        _noise((box[3], box[2], 2), frame + i)))
    elif kind == "tiled":  # every part tiled (the first one too)
        one = [(_spec(RGB, ["half"] * 3, full, full, "rgba", tile=64, extra=meta), rgb),
               (_spec(("Z",), ["float"], full, full, "depth", "piz", tile=32),
                _noise((H, W, 1), frame))]
    elif kind == "stereo":  # two views in one part (the default view unprefixed)
        views = (("multiView", oiio.TypeDesc("string[2]"), ("left", "right")),)
        one = [(_spec(RGB + ("right.R", "right.G", "right.B"), ["half"] * 6, full, full,
                      extra=meta + views), np.concatenate([rgb, rgb[:, ::-1]], -1))]
    elif kind == "stereo-parts":  # a view a part
        one = [(_spec(RGB, ["half"] * 3, full, full, "rgba.left",
                      extra=meta + (("view", oiio.TypeString, "left"),)), rgb),
               (_spec(RGB, ["half"] * 3, full, full, "rgba.right",
                      extra=(("view", oiio.TypeString, "right"),)), rgb[:, ::-1])]
    elif kind == "luminance":
        luma = rgb @ np.array([0.2126, 0.7152, 0.0722], np.float32)
        one = [(_spec(("Y",), ["half"], full, full, extra=meta), luma[..., None])]
    _write(path, one)


KINDS = ("overscan", "cropped", "offset", "layers", "parts", "tiled", "stereo",
         "stereo-parts", "luminance")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The astronaut shot (320×240, a 110 px face) and its exact alignments."""
    root = tmp_path_factory.mktemp("base")
    sample = make_shot("astronaut", str(root / "plate"), frames=len(FRAMES), first=FRAMES[0],
                       size=(W, H), face_px=110.0)
    write_true_alignments(sample, str(root / "shot"))
    return sample, str(root / "shot")


@pytest.fixture(scope="module", params=KINDS)
def converted(request, base, tmp_path_factory):
    """A plate of one kind, converted: (kind, plate pattern, output pattern, summary)."""
    kind = request.param
    sample, shot = base
    root = tmp_path_factory.mktemp(kind)
    plate = str(root / "plate.%04d.exr")
    for frame in FRAMES:
        _plate(kind, read_image(sample.path(frame)).rgb(), frame, plate % frame)
    out = str(root / "comp" / "merged.####.exr")
    summary = convert_shot(str(root / "plate.####.exr"), shot, BrightSwap(), "passthrough",
                           OutputSettings(out), serial=True)
    return kind, plate, out.replace("####", "%04d"), summary


def _parts(path: str) -> list[dict]:
    """Every part: its spec's windows, names, types, attributes and pixels (as float32 bits)."""
    inp = oiio.ImageInput.open(path)
    assert inp is not None, oiio.geterror()
    out = []
    try:
        while inp.seek_subimage(len(out), 0):
            s = inp.spec()
            pixels = inp.read_image(len(out), 0, 0, s.nchannels, oiio.FLOAT)
            assert pixels is not None, inp.geterror()
            out.append({"data": (s.x, s.y, s.width, s.height),
                        "display": (s.full_x, s.full_y, s.full_width, s.full_height),
                        "channels": list(s.channelnames),
                        "types": [str(t) for t in s.channelformats or [s.format] * s.nchannels],
                        "tiles": (s.tile_width, s.tile_height),
                        "attributes": {a.name: a.value for a in s.extra_attribs},
                        "pixels": pixels.reshape(s.height, s.width, s.nchannels)})
    finally:
        inp.close()
    return out


def _metadata(part: dict) -> dict:
    """A part's attributes but for how its file is laid out (what OpenImageIO derives from the
    structure: chunk sizes and counts, the number of parts, the compression)."""
    return {k: v for k, v in part["attributes"].items()
            if k not in ("compression", "openexr:chunkCount") and not k.startswith("oiio:")}


def _matte(parts: list[dict]) -> np.ndarray:
    """The output's facemask.face over its first part's data window."""
    layers = next(p for p in parts if "facemask.face" in p["channels"])
    face = layers["pixels"][..., layers["channels"].index("facemask.face")]
    x, y, w, h = parts[0]["data"]
    return placed(face, (layers["data"][0] - x, layers["data"][1] - y), (0, 0, w, h))


def test_the_merged_frame_keeps_everything_the_plate_holds(converted):
    kind, plate, out, summary = converted
    assert summary.count("swapped") == len(FRAMES) and not summary.count("failed"), \
        summary.to_dict()
    for frame in FRAMES:
        want, got = _parts(plate % frame), _parts(out % frame)
        by_name = {p["attributes"].get("name"): p for p in got[1:]}
        first = got[0]
        # windows, channels, pixel types of the first part: the plate's
        for key in ("data", "display", "channels", "types"):
            assert first[key] == want[0][key], (kind, key)
        # its metadata: every attribute the plate's header holds
        for key, value in _metadata(want[0]).items():
            assert first["attributes"].get(key) == value, (kind, key)
        # the other parts (views, layers, tiles): as stored, each by its name
        for part in want[1:]:
            name = part["attributes"]["name"]
            mine = by_name[name]
            for key in ("data", "display", "channels", "types", "tiles"):
                assert mine[key] == part[key], (kind, name, key)
            assert _metadata(mine) == _metadata(part), (kind, name)
            assert np.array_equal(mine["pixels"].view(np.uint32),
                                  part["pixels"].view(np.uint32)), (kind, name)
        assert "facelayers" in by_name and by_name["facelayers"]["display"] == want[0]["display"]
        # outside the matte: the plate's bits in every channel; inside: the face swapped
        matte = _matte(got)
        outside, inside = matte == 0, matte > 0.9
        assert inside.sum() > 1500 and outside.sum() > 0.5 * matte.size, kind
        mine, theirs = first["pixels"].view(np.uint32), want[0]["pixels"].view(np.uint32)
        assert np.array_equal(mine[outside], theirs[outside]), kind
        colour = [first["channels"].index(c) for c in ("Y",) if c in first["channels"]] or \
            [first["channels"].index(c) for c in RGB]
        changed = np.any(first["pixels"][..., colour] != want[0]["pixels"][..., colour], -1)
        assert changed[inside].mean() > 0.9, kind
        assert np.isfinite(first["pixels"][inside][..., colour]).all(), kind


def test_the_output_compression_follows_the_plate_unless_lossy(converted):
    """piz stays piz; a dwaa plate is written losslessly (zip), so no pixel outside the face
    takes a second generation of loss."""
    kind, _, out, _ = converted
    layout = read_layout(out % FRAMES[0])
    want = {"cropped": "zip", "offset": "piz", "layers": "piz"}.get(kind, "zip")
    assert COMPRESSIONS[layout.parts[0].header.compression] == want, kind


def test_what_the_output_cannot_keep_is_said_once(converted, tmp_path):
    """A lossy plate compression and uint IDs are said in the summary; a PNG or single-part
    output says what it drops of a plate that holds more."""
    kind, plate, _, summary = converted
    want = {"cropped": ["lossy"], "layers": ["uint channel(s) id"]}.get(kind, [])
    assert [w for w in want if not any(w in note for note in summary.not_kept)] == [], kind
    assert len(summary.not_kept) == len(want), (kind, summary.not_kept)
    first = plate % FRAMES[0]
    png = what_is_not_kept(first, OutputSettings(str(tmp_path / "o.####.png")))
    single = [n for n in what_is_not_kept(first, OutputSettings(str(tmp_path / "o.####.exr"),
                                                                single_part=True))
              if "--single-part" in n]
    png = [n for n in png if ".png output" in n]  # every kind holds more than a PNG can
    assert len(png) == 1, (kind, png)
    assert bool(single) == (kind in ("parts", "tiled", "stereo-parts")), (kind, single)


@pytest.mark.parametrize("converted", ["stereo"], indirect=True)
def test_the_swapped_views_other_view_passes_through(converted):
    """Of a stereo plate, the default view is swapped and the other view is the plate's."""
    _, plate, out, _ = converted
    want, got = _parts(plate % FRAMES[0]), _parts(out % FRAMES[0])
    names = got[0]["channels"]
    right = [names.index(f"right.{c}") for c in RGB]
    assert np.array_equal(got[0]["pixels"][..., right].view(np.uint32),
                          want[0]["pixels"][..., right].view(np.uint32))
    assert got[0]["attributes"]["multiView"] == ("left", "right")


def test_convert_cli_on_an_overscan_plate_places_the_face_where_it_was(base, tmp_path):
    """The same shot as a plain plate and as an overscan plate: the merged frames agree over
    the frame, so the face lands where it was in Nuke."""
    sample, shot = base
    model = tiny_model(str(tmp_path / "model"))
    for kind in ("plain", "overscan"):
        for frame in FRAMES:
            _plate(kind, read_image(sample.path(frame)).rgb(), frame,
                   str(tmp_path / f"{kind}.{frame:04d}.exr"))
        assert main(["convert", str(tmp_path / f"{kind}.####.exr"), "--alignments", shot,
                     "-m", model, "--to", "other", "-o",
                     str(tmp_path / kind / "out.####.exr")]) == 0
    for frame in FRAMES:
        plain = read_image(str(tmp_path / "plain" / f"out.{frame:04d}.exr"), True)
        over = read_image(str(tmp_path / "overscan" / f"out.{frame:04d}.exr"), True)
        assert read_image(str(tmp_path / "overscan" / f"out.{frame:04d}.exr")).frame.data == \
            (-16, -12, W + 32, H + 24)
        assert plain.channels == over.channels
        face = plain.channels.index("facemask.face")
        assert np.abs(plain.pixels[..., face] - over.pixels[..., face]).max() < 1e-3


@pytest.mark.parametrize("kind", ["overscan", "cropped"])
def test_extract_gives_frame_pixels_whatever_the_plate_stores(base, tmp_path, kind):
    """Extract on the plate as a plain EXR and as ``kind``: the landmarks are frame pixels in
    both (the same within a pixel: the detector sees other borders), the size is the frame's,
    and both agree with the shot's exact landmarks."""
    sample, shot = base
    found = {}
    for name in ("plain", kind):
        for frame in FRAMES:
            _plate(name, read_image(sample.path(frame)).rgb(), frame,
                   str(tmp_path / f"{name}.{frame:04d}.exr"))
        shot_dir = str(tmp_path / f"shot_{name}")
        assert main(["extract", str(tmp_path / f"{name}.####.exr"), "-o", shot_dir,
                     "--backend", "dlib", "--colourspace", "ACEScg"]) == 0
        found[name] = alignments_io.load(shot_dir)
    truth = alignments_io.load(shot)
    for frame in FRAMES:
        plain, other = found["plain"].frames[frame][0], found[kind].frames[frame][0]
        exact = truth.frames[frame][0].landmarks
        assert found[kind].frame_size(frame) == (W, H)
        assert np.abs(other.landmarks - plain.landmarks).mean() < 1.0, kind
        assert np.abs(other.landmarks - exact).mean() < 3.0, kind
        assert np.abs(other.matrix - plain.matrix).max() < 0.02, kind


@pytest.mark.parametrize("kind", ["stereo", "stereo-parts"])
def test_each_view_is_swapped_with_its_own_alignments(base, tmp_path, kind):
    """A compositor swaps the right eye too: extract --view right finds its faces (the right
    view is the mirror image here), convert swaps that view and nothing else, and converting
    the result for the left view with the left's alignments leaves both swapped, each with its
    own layers part."""
    sample, left_shot = base
    plate = str(tmp_path / "plate.%04d.exr")
    for frame in FRAMES:
        _plate(kind, read_image(sample.path(frame)).rgb(), frame, plate % frame)
    pattern = str(tmp_path / "plate.####.exr")
    right_shot = str(tmp_path / "right")
    assert main(["extract", pattern, "-o", right_shot, "--backend", "dlib", "--view", "right",
                 "--colourspace", "ACEScg"]) == 0
    right = alignments_io.load(right_shot)
    left = alignments_io.load(left_shot)
    assert right.view == "right"
    for frame in FRAMES:  # the mirror image's face: mirrored landmarks
        mirrored = left.frames[frame][0].landmarks[:, 0]
        found = right.frames[frame][0].landmarks[:, 0]
        assert abs(np.mean(found) - (W - np.mean(mirrored))) < 3.0
    once = str(tmp_path / "right_done" / "out.####.exr")
    convert_shot(pattern, right_shot, BrightSwap(), "passthrough", OutputSettings(once),
                 serial=True)
    both = str(tmp_path / "both" / "out.####.exr")
    convert_shot(once, left_shot, BrightSwap(), "passthrough", OutputSettings(both),
                 serial=True)
    for frame in FRAMES:
        want = _parts(plate % frame)
        after_right = _parts(once.replace("####", f"{frame:04d}"))
        after_both = _parts(both.replace("####", f"{frame:04d}"))
        names = {p["attributes"].get("name"): p for p in after_both}
        assert {"facelayers", "facelayers.right"} <= set(names), kind
        assert names["facelayers.right"]["attributes"]["view"] == "right"
        left_part, right_part = (0, 1) if kind == "stereo-parts" else (0, 0)
        left_rgb = [want[left_part]["channels"].index(c) for c in RGB]
        right_rgb = [want[right_part]["channels"].index(
            c if kind == "stereo-parts" else f"right.{c}") for c in RGB]
        # the right view swapped first, the left untouched by that run
        assert np.array_equal(after_right[left_part]["pixels"][..., left_rgb].view(np.uint32),
                              want[left_part]["pixels"][..., left_rgb].view(np.uint32)), kind
        for part, channels in ((right_part, right_rgb), (left_part, left_rgb)):
            changed = np.any(after_both[part]["pixels"][..., channels] !=
                             want[part]["pixels"][..., channels], -1)
            assert changed.mean() > 0.02, (kind, part)
        named = [p["attributes"].get("name") for p in want]  # a single part has no name
        assert [p["attributes"].get("name") for p in after_both][:len(want)] == \
            [n or "rgba" for n in named], kind  # the parts keep their places
