"""A compositor's story: a real-face shot, extracted, converted, merged back into the plate.

The shot is a real face (the astronaut) moved through known transforms and written as ACEScg
EXR; faces are found by the real dlib backend. The null swap (a "model" whose decoder returns its
input) shows what the merge alone does to a plate; a tiny untrained FaceModel shows the real
model path. Stated tolerance for the null swap inside the matte: mean |error| < 0.01 and 99th
percentile < 0.06 (linear ACEScg, plate values up to ~1.1), from two resampling warps and the
half-float file; outside the matte: bit-identical.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import OpenImageIO as oiio
import pytest
from engine_helpers import PLAIN
from faceplate.convert.pipeline import convert_shot
from faceplate.convert.settings import MergeSettings
from faceplate.convert.swap import PassthroughModel
from faceplate.convert.writer import (
    MASK_CHANNELS,
    OUTPUT_CHANNELS,
    OutputSettings,
    read_provenance,
)
from faceplate.errors import FaceplateError
from faceplate.extract import alignments as alignments_io
from faceplate.extract.backends.dlib_backend import DlibBackend
from faceplate.face.align import alignment_matrix
from faceplate.io.colour import ColourSpaces
from faceplate.io.images import read_image, write_image
from faceplate.samples import make_shot

FRAMES = 8


def extract(shot, shot_dir: str) -> alignments_io.Alignments:
    """Real extraction of every frame with the dlib backend (network space, as extract does)."""
    colour = ColourSpaces(shot.colourspace)
    backend = DlibBackend()
    frames = {}
    for f in shot.frames:
        rgb = np.clip(colour.to_network(read_image(shot.path(f)).rgb()), 0, 1)
        frames[f] = [alignments_io.FaceRecord(d.bbox, d.score, d.landmarks,
                                              alignment_matrix(d.landmarks, "whole_face"), 0)
                     for d in backend.detect(rgb)[:1]]
    shot_alignments = alignments_io.Alignments(shot.pattern, shot.colourspace, "dlib",
                                               "whole_face", shot.size, 0.0, frames)
    alignments_io.save(shot_alignments, shot_dir)
    return shot_alignments


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("sh010"))
    sample = make_shot("astronaut", root, frames=FRAMES, size=(640, 360), face_px=130.0)
    found = extract(sample, root)
    assert all(len(found.frames[f]) == 1 for f in sample.frames), "dlib missed the face"
    return sample, root, sample.pattern.replace("%04d", "####")


class CountingModel(PassthroughModel):
    """The null swap, counting the crops it is asked to swap and the calls."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.swapped = 0
        self.batches = []

    def swap(self, crops, identity):
        self.swapped += len(crops)
        self.batches.append(len(crops))
        return super().swap(crops, identity)


def _pair(sample, out_pattern, frame):
    return read_image(sample.path(frame)), read_image(out_pattern.replace("####", str(frame)))


def test_null_swap_gives_back_the_plate(shot, tmp_path):
    sample, root, plate = shot
    out = str(tmp_path / "out.####.exr")
    summary = convert_shot(plate, root, PassthroughModel(256), "plate", out,
                           settings=MergeSettings(**PLAIN, colour="none"))
    assert summary.count("swapped") == FRAMES and summary.count("failed") == 0
    for frame in sample.frames:
        src, res = _pair(sample, out, frame)
        # The plate has no alpha, so neither has the output: it keeps the plate's channels.
        assert set(res.channels) == set(OUTPUT_CHANNELS) - {"A"}
        matte = res.channel("facemask.face")
        outside, inside = matte == 0, matte > 0
        assert 0.03 < inside.mean() < 0.5  # a face-sized matte
        diff = np.abs(res.rgb() - src.rgb())
        assert np.array_equal(res.rgb()[outside], src.rgb()[outside])  # bit-identical
        assert diff[inside].mean() < 0.01
        assert np.quantile(diff[inside], 0.99) < 0.06
        # The matte is the hull (times an all-ones learned mask), feathered.
        assert res.channel("facemask.hull").max() == 1.0
        assert res.channel("facemask.learned").max() == 1.0
        assert 0 < matte[(matte > 0) & (matte < 1)].size


def test_plate_round_trip_through_network_space_errs_under_1e3(shot):
    sample, _, _ = shot
    colour = ColourSpaces(sample.colourspace)
    rgb = read_image(sample.path(sample.frames[0])).rgb()
    hot = rgb * 4.0  # linear highlights above 1.0 must survive the inverse
    for pixels in (rgb, hot):
        back = colour.to_plate(colour.to_network(pixels))
        assert np.abs(back - pixels).max() < 1e-3 * max(1.0, float(pixels.max()))


def test_every_frame_carries_provenance(shot, tmp_path):
    _, root, plate = shot
    out = str(tmp_path / "p.####.exr")
    convert_shot(plate, root, PassthroughModel(128), "plate", out, frames="1001-1002")
    aligned = alignments_io.load(root)
    for frame in (1001, 1002):
        meta = read_provenance(out.replace("####", str(frame)))
        assert meta["faceplate/synthetic"] == "1"
        assert meta["faceplate/model"] == "passthrough"
        assert meta["faceplate/identities"] == "plate,passthrough"
        assert meta["faceplate/to_identity"] == "plate"
        assert meta["faceplate/version"]
        assert "null swap" in meta["faceplate/consent"]
        matrices = np.asarray(json.loads(meta["faceplate/matrix"]))
        np.testing.assert_allclose(matrices[0], aligned.frames[frame][0].matrix, atol=1e-8)
        assert MergeSettings.from_dict(json.loads(meta["faceplate/merge"])) == MergeSettings()


def test_frame_without_a_face_passes_the_plate_through(shot, tmp_path):
    sample, root, plate = shot
    shot_dir = str(tmp_path / "shot")
    aligned = alignments_io.load(root)
    aligned.frames[1002] = []  # nothing detected
    del aligned.frames[1003]  # never extracted
    alignments_io.save(aligned, shot_dir, merge=False)
    out = str(tmp_path / "o.####.exr")
    summary = convert_shot(plate, shot_dir, PassthroughModel(128), "plate", out,
                           frames="1001-1003")
    assert [f.status for f in summary.frames] == ["swapped", "passthrough", "passthrough"]
    assert "no face detected" in summary.frames[1].message
    for frame in (1002, 1003):
        src, res = _pair(sample, out, frame)
        assert np.array_equal(res.rgb(), src.rgb())
        assert all(res.channel(c).max() == 0 for c in MASK_CHANNELS)
        meta = read_provenance(out.replace("####", str(frame)))
        assert meta["faceplate/synthetic"] == "0"
        assert meta["faceplate/status"].startswith("passthrough")


def test_rerun_skips_done_frames_and_new_settings_remerge_from_the_cache(shot, tmp_path):
    _, root, plate = shot
    out, cache = str(tmp_path / "o.####.exr"), str(tmp_path / "cache")
    model = CountingModel(128)
    first = convert_shot(plate, root, model, "plate", out, frames="1001-1003", cache_dir=cache)
    # Temporal smoothing (σ 2 frames: 6 either side) swaps the neighbours up to 1008 too.
    assert first.count("swapped") == 3 and model.swapped == FRAMES
    again = convert_shot(plate, root, model, "plate", out, frames="1001-1003", cache_dir=cache)
    assert again.count("skipped") == 3 and model.swapped == FRAMES
    before = os.path.getmtime(out.replace("####", "1002"))
    softer = MergeSettings(blur=3.0, erode=2.0, colour="average")
    remerged = convert_shot(plate, root, model, "plate", out, frames="1001-1003",
                            cache_dir=cache, settings=softer)
    assert remerged.count("swapped") == 3
    assert model.swapped == FRAMES  # every face came from the swap cache
    umask = os.umask(0)
    os.umask(umask)
    for folder, _, names in os.walk(cache):  # shared with farm workers: not mkstemp's 0600
        for name in names:
            assert os.stat(os.path.join(folder, name)).st_mode & 0o777 == 0o666 & ~umask
    assert os.path.getmtime(out.replace("####", "1002")) >= before
    meta = read_provenance(out.replace("####", "1002"))
    assert json.loads(meta["faceplate/merge"])["colour"] == "average"


def test_killed_run_leaves_no_half_written_frame_and_resumes(shot, tmp_path):
    sample, root, plate = shot
    out_dir = tmp_path / "render"
    out = str(out_dir / "k.####.exr")
    cmd = [sys.executable, "-m", "faceplate.cli", "convert", plate, "--alignments", root,
           "--null-swap", "--to", "plate", "-o", out, "--no-cache"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if out_dir.is_dir() and len([p for p in os.listdir(out_dir)
                                     if not p.startswith(".")]) >= 2:
            break
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    written = sorted(p for p in os.listdir(out_dir) if not p.startswith("."))
    assert 2 <= len(written) < FRAMES
    for name in written:  # every frame on disk is whole and stamped
        image = read_image(str(out_dir / name))
        assert image.channels and read_provenance(str(out_dir / name))["faceplate/job"]

    resumed = subprocess.run(cmd + ["--json"], env=env, capture_output=True, text=True,
                             timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["skipped"] == len(written)
    assert result["swapped"] == FRAMES - len(written)
    assert sorted(os.listdir(out_dir)) == [f"k.{f}.exr" for f in sample.frames]  # no .tmp left


def test_a_real_face_model_swaps_the_face_only(shot, tmp_path):
    store = pytest.importorskip("faceplate.model.store")
    from faceplate.model.card import ModelCard

    card = ModelCard.for_resolution(["astronaut", "other"], 64, encoder_widths=[8, 16, 32],
                                    latent=32, bridge=16, decoder_widths=[16, 8],
                                    consent="test fixture: public-domain NASA photo")
    model = store.create_model(str(tmp_path / "model"), card)
    model = store.load_model(str(tmp_path / "model"), device="cpu")
    sample, root, plate = shot
    out = str(tmp_path / "m.####.exr")
    summary = convert_shot(plate, root, model, "other", out, frames="1001-1002",
                           settings=MergeSettings(mask="hull", colour="reinhard"))
    assert summary.count("swapped") == 2
    for frame in (1001, 1002):
        src, res = _pair(sample, out, frame)
        matte = res.channel("facemask.face")
        assert np.array_equal(res.rgb()[matte == 0], src.rgb()[matte == 0])
        assert np.abs(res.rgb() - src.rgb())[matte > 0.5].mean() > 1e-3  # it did swap
        meta = read_provenance(out.replace("####", str(frame)))
        assert meta["faceplate/model"] == card.model_id
        assert meta["faceplate/identities"] == "astronaut,other"
        assert meta["faceplate/consent"] == card.consent


def test_artist_matte_limits_the_merge(shot, tmp_path):
    sample, root, plate = shot
    aligned = alignments_io.load(root)
    matte_pattern = str(tmp_path / "roto.%04d.exr")
    w, h = sample.size
    yy, xx = np.mgrid[0:h, 0:w]
    for frame in (1001, 1002):
        cx, cy = aligned.frames[frame][0].landmarks[30]  # nose tip
        disc = ((xx - cx) ** 2 + (yy - cy) ** 2 < 25 ** 2).astype(np.float32)
        write_image(matte_pattern % frame, disc[..., None], ["A"])
    out = str(tmp_path / "r.####.exr")
    settings = MergeSettings(mask="image", mask_image=str(tmp_path / "roto.####.exr"), blur=0)
    convert_shot(plate, root, PassthroughModel(128), "plate", out, frames="1001-1002",
                 settings=settings)
    res = read_image(out.replace("####", "1001"))
    disc_area = np.pi * 25 ** 2
    assert 0.9 * disc_area < (res.channel("facemask.face") > 0).sum() < 1.1 * disc_area
    with pytest.raises(FaceplateError, match="missing frames 1003"):
        convert_shot(plate, root, PassthroughModel(128), "plate", out, frames="1001-1003",
                     settings=settings)


def test_png_dpx_and_face_only_outputs(shot, tmp_path):
    sample, root, plate = shot
    model = PassthroughModel(128)
    convert_shot(plate, root, model, "plate", str(tmp_path / "o.####.png"), frames="1001")
    png = read_image(str(tmp_path / "o.1001.png"))
    side = read_image(str(tmp_path / "o.facemask.1001.png"))
    assert png.channels == ["R", "G", "B"] == side.channels  # the plate's: it has no alpha
    assert side.pixels.max() > 0.99
    assert read_provenance(str(tmp_path / "o.1001.png"))["faceplate/synthetic"] == "1"

    convert_shot(plate, root, model, "plate", str(tmp_path / "d.####.dpx"), frames="1001")
    assert read_provenance(str(tmp_path / "d.1001.dpx"))["faceplate/synthetic"] == "1"
    assert os.path.isfile(str(tmp_path / "d.1001.dpx.provenance.json"))

    out = OutputSettings(str(tmp_path / "x.####.exr"), compression="piz",
                         face_pattern=str(tmp_path / "face.####.exr"))
    convert_shot(plate, root, model, "plate", out, frames="1001")
    face = read_image(str(tmp_path / "face.1001.exr"))  # the data window's pixels
    full = read_image(str(tmp_path / "x.1001.exr"))
    spec = oiio.ImageInput.open(str(tmp_path / "face.1001.exr")).spec()
    assert (spec.full_width, spec.full_height) == sample.size  # display window: the plate
    assert face.width * face.height < 0.5 * spec.full_width * spec.full_height  # data: the face
    window = full.channel("facemask.face")[spec.y:spec.y + spec.height,
                                           spec.x:spec.x + spec.width]
    assert face.channels == ["R", "G", "B", "A"]
    np.testing.assert_array_equal(face.channel("A"), window)
    assert full.channel("facemask.face").sum() == pytest.approx(window.sum())
    assert np.all(face.rgb()[face.channel("A") == 0] == 0)  # over black, premultiplied


def test_bad_requests_say_what_to_do(shot, tmp_path):
    _, root, plate = shot
    with pytest.raises(FaceplateError, match="no identity 'nobody'"):
        convert_shot(plate, root, PassthroughModel(128), "nobody", str(tmp_path / "o.####.exr"))
    with pytest.raises(FaceplateError, match="no frame number"):
        convert_shot(plate, root, PassthroughModel(128), "plate", str(tmp_path / "o.exr"))
    with pytest.raises(FaceplateError, match="run faceplate extract"):
        convert_shot(plate, str(tmp_path), PassthroughModel(128), "plate",
                     str(tmp_path / "o.####.exr"))


def test_faces_of_several_frames_share_one_batched_model_call(shot, tmp_path):
    _, root, plate = shot
    model = CountingModel(128)
    convert_shot(plate, root, model, "plate", str(tmp_path / "o.####.exr"), frames="1001-1006",
                 batch_frames=4, batch_size=8, settings=MergeSettings(temporal=0))
    assert model.batches == [4, 2]
    # With temporal smoothing the first pass swaps the frames and their neighbours (to 1008)
    # in the same groups; rendering then takes every face from the (temporary) cache.
    model = CountingModel(128)
    convert_shot(plate, root, model, "plate", str(tmp_path / "t.####.exr"), frames="1001-1006",
                 batch_frames=4, batch_size=8)
    assert model.batches == [4, 4]


def test_an_unreadable_plate_frame_fails_alone(shot, tmp_path):
    sample, root, _ = shot
    for frame in (1001, 1002, 1003):
        shutil.copy(sample.path(frame), tmp_path / f"plate.{frame}.exr")
    with open(tmp_path / "plate.1002.exr", "r+b") as fh:
        fh.truncate(200)  # a render that died half-way
    out = str(tmp_path / "o.####.exr")
    summary = convert_shot(str(tmp_path / "plate.####.exr"), root, PassthroughModel(128),
                           "plate", out)
    assert [f.status for f in summary.frames] == ["swapped", "failed", "swapped"]
    assert summary.frames[1].message.startswith(f"cannot read {tmp_path / 'plate.1002.exr'} (")
    assert sorted(os.listdir(tmp_path)).count("o.1002.exr") == 0


def test_cli_reports_bad_settings_as_a_message(shot, tmp_path, capsys):
    from faceplate.cli import main

    _, root, plate = shot
    base = ["convert", plate, "--alignments", root, "--null-swap", "--to", "plate",
            "-o", str(tmp_path / "o.####.exr"), "--frames", "1001"]
    assert main(base + ["--mask", "image"]) == 2
    assert "needs a matte sequence" in capsys.readouterr().err
    settings = tmp_path / "merge.json"
    settings.write_text(json.dumps({"colour": "average", "blur": 2}))
    sheet = tmp_path / "sheet.png"
    assert main(base + ["--settings", str(settings), "--erode", "3", "--json",
                        "--sheet", str(sheet)]) == 0
    assert read_image(str(sheet)).width > 0  # the contact sheet to look at
    merge = json.loads(read_provenance(str(tmp_path / "o.1001.exr"))["faceplate/merge"])
    assert (merge["colour"], merge["blur"], merge["erode"]) == ("average", 2, 3.0)


def test_the_engine_path_swap_then_merge_equals_convert_shot(shot, tmp_path):
    """The nodes' path (swap_frame, its cache, then merge_frame) gives the frame convert_shot
    writes for the shot."""
    from faceplate.convert.cache import SwapCache
    from faceplate.convert.pipeline import merge_frame, placements, swap_frame

    sample, root, pattern = shot
    aligned = alignments_io.load(root)
    model, colour = CountingModel(128), ColourSpaces(sample.colourspace)
    plate = read_image(sample.path(1004))
    faces = placements(aligned.frames[1004], aligned.face_type, model)
    # The nodes merge one frame (no temporal smoothing); their motion blur needs the
    # neighbours' matrices the FaceMerge node sends (test_render), not given here.
    settings = MergeSettings(colour="seamless", erode=2, temporal=0, shutter=0.0)
    out = str(tmp_path / "o.####.exr")
    convert_shot(pattern, root, model, "plate", OutputSettings(out, pixel_type="float"),
                 frames=[1004], settings=settings, colourspace=sample.colourspace)
    whole = read_image(out.replace("####", "1004"))
    cache = SwapCache(str(tmp_path / "cache"))
    swaps = swap_frame(plate.rgb(), faces, model, "plate", colour, frame=1004, cache=cache)
    again = swap_frame(plate.rgb(), faces, model, "plate", colour, frame=1004, cache=cache)
    assert model.batches == [1, 1]  # convert_shot, then the first swap_frame; then the cache
    split = merge_frame(plate, again, colour, settings, frame=1004)
    assert split.channels == [c for c in OUTPUT_CHANNELS if c != "A"]  # an RGB plate's
    # (the motion vectors need the neighbours' matrices, which the node sends: test_render)
    for c in [c for c in split.channels if c.split(".")[0] not in ("forward", "backward")]:
        np.testing.assert_allclose(split.channel(c), whole.channel(c), atol=1e-3, err_msg=c)
    np.testing.assert_array_equal(swaps[0].matrix, faces[0].matrix)
    assert np.array_equal(plate.rgb(), read_image(sample.path(1004)).rgb())  # plate untouched


def test_a_damaged_output_frame_is_redone_on_resume(shot, tmp_path):
    _, root, plate = shot
    out = str(tmp_path / "o.####.exr")
    model = PassthroughModel(128)
    convert_shot(plate, root, model, "plate", out, frames="1001-1002")
    damaged = out.replace("####", "1002")
    os.truncate(damaged, os.path.getsize(damaged) // 2)  # a copy that died half-way
    again = convert_shot(plate, root, model, "plate", out, frames="1001-1002")
    assert [f.status for f in again.frames] == ["skipped", "swapped"]
    assert read_image(damaged).channels


def test_a_display_referred_png_plate_converts_too(shot, tmp_path):
    from faceplate.io.colour import NETWORK_SPACE

    _, root, _ = shot
    png = make_shot("astronaut", str(tmp_path), frames=2, size=(640, 360), face_px=130.0,
                    colourspace=NETWORK_SPACE, ext="png")  # same motion as the EXR shot
    out = str(tmp_path / "o.####.exr")
    summary = convert_shot(png.pattern.replace("%04d", "####"), root, PassthroughModel(256),
                           "plate", out, colourspace=NETWORK_SPACE,
                           settings=MergeSettings(**PLAIN, colour="none"))
    assert summary.colourspace == NETWORK_SPACE and summary.count("swapped") == 2
    src, res = _pair(png, out, 1002)
    matte = res.channel("facemask.face")
    assert np.array_equal(res.rgb()[matte == 0], src.rgb()[matte == 0])  # float EXR out
    assert np.abs(res.rgb() - src.rgb())[matte > 0].mean() < 0.01


def _pixels(path):
    """Every channel of a written frame, as OpenImageIO decodes it."""
    image = read_image(path)
    return image.channels, image.pixels


def test_only_faces_writes_the_face_frames_with_their_numbers_and_lists_the_ranges(
        shot, tmp_path, capsys):
    from faceplate import cli

    _, root, plate = shot
    shot_dir = str(tmp_path / "shot")
    aligned = alignments_io.load(root)
    aligned.frames[1003] = []  # nothing detected
    del aligned.frames[1004]  # never extracted
    alignments_io.save(aligned, shot_dir, merge=False)
    out = str(tmp_path / "faces" / "o.####.exr")
    summary = convert_shot(plate, shot_dir, PassthroughModel(128), "plate", out,
                           frames="1001-1006", only_faces=True)
    assert sorted(os.listdir(tmp_path / "faces")) == [f"o.{f}.exr" for f in
                                                       (1001, 1002, 1005, 1006)]
    for frame in (1001, 1002, 1005, 1006):
        meta = read_provenance(out.replace("####", str(frame)))
        assert meta["faceplate/frame"] == str(frame) and meta["faceplate/synthetic"] == "1"
    d = summary.to_dict()
    assert (d["ranges"], d["face_ranges"], d["no_face_ranges"]) == \
        ("1001-1002,1005-1006", "1001-1002,1005-1006", "1003-1004")
    assert d["omitted"] == 2 and d["written"] == 4 and (d["first"], d["last"]) == (1001, 1006)
    assert {f["frame"]: f["status"] for f in d["frames"]}[1003] == "omitted"
    # The CLI says the same, and a re-run counts the frames on disk as written.
    code = cli.main(["convert", plate, "--alignments", shot_dir, "--null-swap", "--to", "plate",
                     "-o", out, "--frames", "1001-1006", "--only-faces", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["skipped"] == 4 and result["ranges"] == "1001-1002,1005-1006"


def test_smoothed_frames_are_the_same_bits_whatever_the_chunking(shot, tmp_path):
    """A farm chunk, a resume or the whole shot: each frame's smoothed colour statistics and
    masks come from the same neighbours, so the frame is bit-identical."""
    _, root, plate = shot
    settings = MergeSettings(colour="reinhard", temporal=2.0, temporal_swap=0.5)
    model = PassthroughModel(128)
    whole = str(tmp_path / "whole" / "o.####.exr")
    chunks = str(tmp_path / "chunks" / "o.####.exr")
    convert_shot(plate, root, model, "plate", whole, frames="1001-1008", settings=settings,
                 cache_dir=str(tmp_path / "cache_whole"))
    for part in ("1001-1004", "1005-1008"):  # separate caches: nothing is shared
        convert_shot(plate, root, model, "plate", chunks, frames=part, settings=settings,
                     cache_dir=str(tmp_path / f"cache_{part}"))
    plain = str(tmp_path / "plain" / "o.####.exr")
    convert_shot(plate, root, model, "plate", plain, frames="1001-1008",
                 settings=MergeSettings(colour="reinhard", temporal=0.0))
    changed = 0
    for frame in range(1001, 1009):
        a, b = _pixels(whole.replace("####", str(frame))), _pixels(
            chunks.replace("####", str(frame)))
        assert a[0] == b[0] and np.array_equal(a[1], b[1]), frame
        changed += not np.array_equal(a[1], _pixels(plain.replace("####", str(frame)))[1])
    assert changed == 8  # the smoothing did change every frame


def test_nothing_is_smoothed_across_a_cut(shot, tmp_path):
    """With a cut at 1005, frames before it never see the frames after it: their faces are
    not even swapped, and the output is what a shot ending at 1004 gives."""
    _, root, plate = shot
    aligned = alignments_io.load(root)
    cut_dir, short_dir = str(tmp_path / "cut"), str(tmp_path / "short")
    aligned.cuts = [1005]
    alignments_io.save(aligned, cut_dir, merge=False)
    aligned.cuts = []
    for frame in range(1005, 1009):
        del aligned.frames[frame]
    alignments_io.save(aligned, short_dir, merge=False)
    model = CountingModel(128)
    out_cut, out_short = str(tmp_path / "a.####.exr"), str(tmp_path / "b.####.exr")
    convert_shot(plate, cut_dir, model, "plate", out_cut, frames="1001-1004")
    assert model.swapped == 4
    convert_shot(plate, short_dir, model, "plate", out_short, frames="1001-1004")
    for frame in range(1001, 1005):
        assert np.array_equal(_pixels(out_cut.replace("####", str(frame)))[1],
                              _pixels(out_short.replace("####", str(frame)))[1])


def test_overlapped_stages_write_the_serial_bits(shot, tmp_path):
    _, root, plate = shot
    model = PassthroughModel(128)
    outs = {}
    for serial in (True, False):
        outs[serial] = OutputSettings(str(tmp_path / f"s{serial}" / "o.####.exr"),
                                      face_pattern=str(tmp_path / f"s{serial}" / "f.####.exr"))
        summary = convert_shot(plate, root, model, "plate", outs[serial], frames="1001-1008",
                               batch_frames=3, serial=serial)
        assert [f.frame for f in summary.frames] == list(range(1001, 1009))
    for frame in range(1001, 1009):
        for pattern in ("pattern", "face_pattern"):
            a = _pixels(getattr(outs[True], pattern).replace("####", str(frame)))
            b = _pixels(getattr(outs[False], pattern).replace("####", str(frame)))
            assert a[0] == b[0] and np.array_equal(a[1], b[1]), (frame, pattern)


def test_a_cancelled_render_leaves_whole_frames_and_stops_its_threads(shot, tmp_path):
    import threading

    _, root, plate = shot
    out_dir = tmp_path / "render"
    out = str(out_dir / "c.####.exr")

    class Cancelled(Exception):
        pass

    def listener(event):
        if event.done >= 3:
            raise Cancelled

    before = {t.name for t in threading.enumerate()}
    with pytest.raises(Cancelled):
        convert_shot(plate, root, PassthroughModel(128), "plate", out,
                     progress_listener=listener, batch_frames=2)
    assert not [t for t in threading.enumerate()
                if t.name.startswith("convert-") and t.name not in before]
    written = sorted(os.listdir(out_dir))
    assert 3 <= len(written) < FRAMES and not [n for n in written if n.startswith(".")]
    for name in written:
        assert read_image(str(out_dir / name)).channels
    resumed = convert_shot(plate, root, PassthroughModel(128), "plate", out)
    assert resumed.count("skipped") == len(written)
    assert resumed.count("swapped") == FRAMES - len(written)
