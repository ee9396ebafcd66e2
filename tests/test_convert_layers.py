"""The merged EXR's other layers and the confidence metadata (docs/compositor.md, *What
FaceMerge delivers*): faceregion, faceraw, facest and faceplate/confidence, read back with
OpenImageIO from real converts of a sample shot with known transforms."""

from __future__ import annotations

import json
import os
import sys

import cv2
import numpy as np
import OpenImageIO as oiio
import pytest
from engine_helpers import running_engine
from faceplate.convert.cache import SwapCache
from faceplate.convert.confidence import face_confidence, reconstruction_confidence
from faceplate.convert.pipeline import (
    convert_shot,
    file_stamp,
    merge_frame,
    placements,
    swap_frame,
)
from faceplate.convert.settings import MergeSettings
from faceplate.convert.swap import PassthroughModel
from faceplate.convert.writer import OUTPUT_CHANNELS, SIDECAR_CHANNELS, OutputSettings
from faceplate.extract import alignments as alignments_io
from faceplate.extract.backends.base import Detection
from faceplate.extract.confidence import prior, unverified
from faceplate.face.align import crop_matrix, transform_points, warp_to_crop
from faceplate.face.stmap import apply_stmap
from faceplate.io.colour import ColourSpaces
from faceplate.io.images import read_image
from faceplate.model.card import ModelCard
from faceplate.model.store import create_model, load_model
from faceplate.samples import make_shot, source_landmarks, write_true_alignments
from faceplate.server.arrays import from_numpy, to_numpy
from faceplate.train.data import face_mask
from faceplate_client.layout import (
    CONFIDENCE_KEY,
    CONFIDENCE_PARTS,
    FACERAW_CHANNELS,
    FACEREGION_CHANNELS,
    FACEST_CHANNELS,
)

# What convert writes for an RGB plate (the samples are): its channels, no alpha, and the layers.
RGB_PLATE_CHANNELS = [c for c in OUTPUT_CHANNELS if c != "A"]

FRAMES = 4
REGION = dict(zip(("eyes", "brows", "mouth", "skin"), FACEREGION_CHANNELS))


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    """A sample shot whose alignments are its exact transforms, a tiny real model, one convert
    with the swap cache and a face-only output."""
    root = tmp_path_factory.mktemp("sh020")
    sample = make_shot("astronaut", str(root), frames=FRAMES, size=(480, 320), face_px=120.0)
    write_true_alignments(sample, str(root))
    model_dir = str(root / "model")
    create_model(model_dir, ModelCard.for_resolution(
        ["astronaut", "other"], 64, encoder_widths=[8, 16, 32], latent=32, bridge=16,
        decoder_widths=[16, 8], consent="test fixture: public-domain NASA photo"))
    model = load_model(model_dir, "cpu")
    out = str(root / "out" / "o.####.exr")
    summary = convert_shot(sample.pattern, str(root), model, "other",
                           OutputSettings(out, face_pattern=str(root / "out" / "f.####.exr")),
                           cache_dir=str(root / "cache"))
    assert summary.count("swapped") == FRAMES
    return sample, str(root), model, out


def _read(path: str):
    """Pixels by channel name over the display window (each part placed by its data window,
    zero outside), the first part's metadata and every part's spec, straight from OpenImageIO."""
    inp = oiio.ImageInput.open(path)
    assert inp is not None, oiio.geterror()
    specs, channels = [], {}
    try:
        while inp.seek_subimage(len(specs), 0):
            spec = inp.spec()
            pixels = inp.read_image(len(specs), 0, 0, spec.nchannels, oiio.FLOAT)
            specs.append(spec)
            full = np.zeros((spec.full_height, spec.full_width, spec.nchannels), np.float32)
            y, x = spec.y - spec.full_y, spec.x - spec.full_x
            full[y:y + spec.height, x:x + spec.width] = pixels
            channels.update({name: full[..., i] for i, name in enumerate(spec.channelnames)})
        return channels, {a.name: str(a.value) for a in specs[0].extra_attribs}, specs
    finally:
        inp.close()


def _stack(channels: dict, names) -> np.ndarray:
    return np.stack([channels[n] for n in names], axis=-1)


def _frame(shot, index: int):
    """Frame ``index`` of the shot: its number, plate, the model's placements of its faces and
    the shot's colourspaces."""
    sample, root, model, _ = shot
    aligned = alignments_io.load(root)
    f = sample.frames[index]
    return (f, read_image(sample.path(f)), placements(aligned.frames[f], aligned.face_type, model),
            ColourSpaces(sample.colourspace))


class RefusingModel(PassthroughModel):
    """A re-merge must come from the swap cache: this model fails the test if it is run."""

    def __init__(self, card):
        self.card = card

    def swap(self, crops, identity):
        raise AssertionError("the model ran: the swap cache missed")


def test_every_layer_and_the_confidence_metadata_read_back(shot):
    sample, _, _, out = shot
    for f in sample.frames:
        channels, meta, (rgba, layers) = _read(out.replace("####", str(f)))
        assert sorted(channels) == sorted(RGB_PLATE_CHANNELS)
        # The plate's RGB over the frame; the layers in their own part over the face's box only.
        assert [p.getattribute("name") for p in (rgba, layers)] == ["rgba", "facelayers"]
        assert (rgba.width, rgba.height) == (rgba.full_width, rgba.full_height)
        assert layers.width * layers.height < rgba.width * rgba.height
        regions = _stack(channels, FACEREGION_CHANNELS)
        raw = _stack(channels, FACERAW_CHANNELS)
        st = _stack(channels, FACEST_CHANNELS)
        for i, name in enumerate(REGION):
            assert regions[..., i].max() > 0.9, name  # every region drawn, soft
            assert 0 < ((regions[..., i] > 0) & (regions[..., i] < 1)).sum()
        assert 0 <= regions.min() and regions.max() <= 1
        assert raw[..., 3].max() > 0.2 and np.all(raw[..., :3] <= raw[..., 3:] + 1e-3)
        assert set(np.unique(st[..., 2])) == {0.0, 1.0}
        assert np.all(st[..., :2][st[..., 2] == 0] == 0)
        overall = float(meta[CONFIDENCE_KEY])
        parts = [float(meta[f"{CONFIDENCE_KEY}/{p}"]) for p in CONFIDENCE_PARTS]
        assert 0 < overall <= 1 and all(0 <= p <= 1 for p in parts)
        assert overall == pytest.approx(float(np.prod(parts)) ** (1 / 3), abs=1e-3)
        (face,) = json.loads(meta[f"{CONFIDENCE_KEY}/faces"])
        assert face["confidence"] == pytest.approx(overall, abs=1e-4)
        assert meta["faceplate/synthetic"] == "1"
        # The face-only output keeps working: RGBA over its own data window.
        (face_spec,) = _read(out.replace("o.####", f"f.{f}"))[2]
        assert list(face_spec.channelnames) == ["R", "G", "B", "A"]
        assert face_spec.width < rgba.width and face_spec.full_width == rgba.width


def test_untouched_plate_pixels_stay_bit_identical(shot):
    sample, _, _, out = shot
    for f in sample.frames:
        channels, _, _ = _read(out.replace("####", str(f)))
        plate, _, _ = _read(sample.path(f))
        untouched = channels["facemask.face"] == 0
        assert 0.5 < untouched.mean() < 1
        for c in "RGB":  # a half plate written as half: the very bits
            assert np.array_equal(channels[c][untouched], plate[c][untouched])


def _centroid(matte: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[:matte.shape[0], :matte.shape[1]]
    return np.array([(xs * matte).sum(), (ys * matte).sum()]) / matte.sum()


def test_regions_move_with_the_landmarks(shot):
    """Each region follows the shot's known transform: its centre lands where the transform
    takes the part's landmarks, and frame A's matte carried to frame B is frame B's."""
    sample, _, _, out = shot
    source = source_landmarks(sample.source)
    parts = {"eyes": slice(36, 48), "mouth": slice(48, 60)}
    first, last = sample.frames[0], sample.frames[-1]
    mattes = {f: _stack(_read(out.replace("####", str(f)))[0], FACEREGION_CHANNELS)
              for f in (first, last)}
    for f in (first, last):
        points = sample.to_plate(f, source)
        for name, part in parts.items():
            matte = mattes[f][..., list(REGION).index(name)]
            assert np.linalg.norm(_centroid(matte) - points[part].mean(axis=0)) < 2.0, name
    a, b = (np.vstack([sample.matrices[f], [0, 0, 1]]) for f in (first, last))
    a_to_b = (b @ np.linalg.inv(a))[:2]
    assert np.abs(a_to_b - np.eye(3)[:2]).max() > 0.05  # the face really moved
    for i, name in enumerate(REGION):
        carried = cv2.warpAffine(mattes[first][..., i], a_to_b, sample.size,
                                 flags=cv2.INTER_LINEAR)
        there = mattes[last][..., i]
        overlap = np.minimum(carried, there).sum() / np.maximum(carried, there).sum()
        assert overlap > 0.85, (name, overlap)


def test_faceraw_is_the_cached_swap_warped_and_a_re_merge_gives_it_without_the_model(shot):
    sample, root, model, out = shot
    f, plate, faces, colour = _frame(shot, 1)
    refusing = RefusingModel(model.card)
    (swap,) = swap_frame(plate.rgb(), faces, refusing, "other", colour, frame=f,
                         cache=SwapCache(os.path.join(root, "cache")),
                         source=file_stamp(sample.path(f)))
    written = _stack(_read(out.replace("####", str(f)))[0], FACERAW_CHANNELS)

    # An independent warp of the cached swap: OpenCV's affine warp by the crop matrix.
    size, (w, h) = swap.face.shape[0], sample.size
    to_crop = crop_matrix(swap.matrix, size)
    flags = cv2.WARP_INVERSE_MAP
    face = cv2.warpAffine(swap.face, to_crop, (w, h), flags=cv2.INTER_CUBIC | flags)
    mask = cv2.warpAffine(swap.learned, to_crop, (w, h), flags=cv2.INTER_LINEAR | flags)
    reach = cv2.warpAffine(np.ones((size, size), np.float32), to_crop, (w, h),
                           flags=cv2.INTER_CUBIC | flags)
    inside = np.abs(reach - 1) < 1e-4  # the crop's inside, beyond its border's reach
    alpha = np.clip(mask, 0, 1)
    expected = colour.to_plate(np.clip(face, 0, 1)) * alpha[..., None]
    assert inside.sum() > 5000
    np.testing.assert_allclose(written[..., 3][inside], alpha[inside], atol=2e-3)
    np.testing.assert_allclose(written[..., :3][inside], expected[inside], atol=4e-3, rtol=4e-3)
    assert np.all(written[~(reach > 0)] == 0)  # nothing beyond the crop

    # A re-merge with other settings from the cache: the same raw render, a new blend.
    again = merge_frame(plate, [swap], colour, MergeSettings(blur=2.0, colour="average"))
    raw = np.stack([again.channel(c) for c in FACERAW_CHANNELS], axis=-1)
    np.testing.assert_allclose(raw, written, atol=2e-3 * max(1.0, float(raw.max())))
    before = _read(out.replace("####", str(f)))[0]["facemask.face"]
    assert not np.allclose(again.layers.face, before, atol=1e-2)  # the blend did change


def test_facest_maps_plate_pixels_to_the_aligned_crop_within_half_a_pixel(shot):
    sample, _, _, out = shot
    size = 512
    for f in sample.frames[::2]:
        channels, meta, _ = _read(out.replace("####", str(f)))
        st = _stack(channels, FACEST_CHANNELS)
        (matrix,) = (np.asarray(m) for m in json.loads(meta["faceplate/matrix"]))
        valid = st[..., 2] > 0
        # A crop whose pixels hold their own positions, sampled through the map, says which
        # crop pixel each plate pixel maps to: compare with the alignment matrix.
        ys, xs = np.mgrid[:size, :size].astype(np.float32)
        where = apply_stmap(np.dstack([xs, ys]), st)
        ys_p, xs_p = np.nonzero(valid)
        truth = transform_points(np.stack([xs_p, ys_p], axis=-1).astype(np.float64),
                                 crop_matrix(matrix, size))
        inner = ((truth > 1) & (truth < size - 2)).all(axis=1)  # bilinear needs neighbours
        error = np.linalg.norm(where[ys_p, xs_p][inner] - truth[inner], axis=1)
        assert inner.sum() > 10000 and error.max() < 0.5, error.max()
        # And the plate's own aligned crop, sampled through the map, is the plate again.
        plate = read_image(sample.path(f)).rgb()
        crop = warp_to_crop(plate, matrix, size)
        back = apply_stmap(crop, st)
        inside = valid & (cv2.erode(valid.astype(np.uint8), np.ones((5, 5))) > 0)
        assert np.abs(back[inside] - plate[inside]).mean() < 0.02 * float(plate[inside].mean())


def _detection(landmarks: np.ndarray, score: float) -> Detection:
    lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
    return Detection((float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])), score,
                     landmarks)


def test_confidence_is_lower_on_a_doubtful_face_than_on_a_clear_one(shot):
    model = shot[2]
    f, plate, (clear,), colour = _frame(shot, 0)
    clear.detection = prior(_detection(clear.landmarks, 0.95))
    assert clear.detection is not None  # a sure face: no second opinion needed
    rng = np.random.default_rng(1)
    eyes = np.linalg.norm(clear.landmarks[36:42].mean(0) - clear.landmarks[42:48].mean(0))
    # Landmarks forced onto something face-like: a weak detection with a broken shape, rated
    # by extraction's own judge (no second detector), as a held-back track's faces are.
    bent = clear.landmarks + rng.normal(0, 0.12 * eyes, clear.landmarks.shape)
    doubtful = type(clear)(clear.matrix, bent, unverified(_detection(bent, 0.55)))
    assert doubtful.detection < clear.detection
    scores = {}
    for name, face in (("clear", clear), ("doubtful", doubtful)):
        swaps = swap_frame(plate.rgb(), [face], model, "other", colour, frame=f)
        merged = merge_frame(plate, swaps, colour, MergeSettings())
        scores[name] = merged.confidence_metadata()
    c, d = scores["clear"], scores["doubtful"]
    assert float(d[CONFIDENCE_KEY]) < float(c[CONFIDENCE_KEY]) - 0.1
    assert float(d[f"{CONFIDENCE_KEY}/landmark"]) < float(c[f"{CONFIDENCE_KEY}/landmark"])
    assert float(c[f"{CONFIDENCE_KEY}/detection"]) > 0.9


def test_reconstruction_confidence_is_the_learned_masks_agreement_with_the_face():
    landmarks = source_landmarks("astronaut")
    from faceplate.face.align import alignment_matrix

    matrix = alignment_matrix(landmarks, "whole_face")
    size = 128
    target = face_mask(transform_points(landmarks, crop_matrix(matrix, size)), size) / 255.0
    assert reconstruction_confidence(target, matrix, landmarks) == pytest.approx(1.0)
    shifted = np.roll(target, size // 4, axis=1)
    half = reconstruction_confidence(shifted, matrix, landmarks)
    assert 0.2 < half < 0.9
    assert reconstruction_confidence(np.zeros_like(target), matrix, landmarks) == 0.0
    sure = face_confidence(None, target, matrix, landmarks)
    assert sure.detection == 1.0 and sure.overall > 0.95  # unknown detection: not held against


def test_the_confidence_threshold_changes_the_mix(shot):
    model = shot[2]
    f, plate, faces, colour = _frame(shot, 0)
    swaps = swap_frame(plate.rgb(), faces, model, "other", colour, frame=f)
    full = merge_frame(plate, swaps, colour, MergeSettings(mask="hull"))
    c = full.layers.confidences[0].overall
    half = merge_frame(plate, swaps, colour, MergeSettings(
        mask="hull", confidence_threshold=c + 0.05, confidence_softness=0.1))
    gone = merge_frame(plate, swaps, colour, MergeSettings(
        mask="hull", confidence_threshold=c + 0.2, confidence_softness=0.1))
    assert full.layers.face.max() > 0.99
    np.testing.assert_allclose(half.layers.face.max(), 0.5, atol=0.02)
    assert gone.layers.face.max() == 0
    assert np.array_equal(gone.rgb, plate.rgb())  # the plate, untouched
    # The other layers do not depend on the mix: the raw render is there to judge.
    np.testing.assert_array_equal(gone.layers.raw, full.layers.raw)
    np.testing.assert_array_equal(gone.layers.hull, full.layers.hull)
    np.testing.assert_array_equal(gone.layers.regions, full.layers.regions)


def test_png_outputs_get_the_layers_in_an_exr_sidecar(shot, tmp_path):
    sample, root, _, _ = shot
    convert_shot(sample.pattern, root, PassthroughModel(128), "plate",
                 str(tmp_path / "o.####.png"), frames=str(sample.frames[0]))
    f = sample.frames[0]
    assert read_image(str(tmp_path / f"o.{f}.png")).channels == ["R", "G", "B"]
    assert read_image(str(tmp_path / f"o.facemask.{f}.png")).channels == ["R", "G", "B"]
    channels, meta, (spec,) = _read(str(tmp_path / f"o.facelayers.{f}.exr"))
    assert sorted(channels) == sorted(SIDECAR_CHANNELS)
    assert spec.format == oiio.HALF and spec.width < spec.full_width  # the face's box
    assert channels["facest.valid"].max() == 1 and channels["faceraw.A"].max() > 0.99
    assert float(meta[CONFIDENCE_KEY]) > 0.5 and meta["faceplate/synthetic"] == "1"


def test_the_hosts_exr_reader_sees_both_parts_and_a_truncated_copy(shot, tmp_path):
    """Publishing inside Nuke reads EXR headers with the standard library: it must see every
    channel of both parts, and a copy cut short in the layer part as incomplete."""
    from faceplate_client.exr import read_exr

    sample, _, _, out = shot
    path = out.replace("####", str(sample.frames[0]))
    info = read_exr(path)
    assert sorted(info.channels) == sorted(RGB_PLATE_CHANNELS) and info.complete is True
    assert (info.width, info.height) == (480, 320)
    assert info.attributes["faceplate/synthetic"] == "1"
    with open(path, "rb") as fh:
        data = fh.read()
    cut = tmp_path / "cut.exr"
    cut.write_bytes(data[:-200])
    broken = read_exr(str(cut))
    assert broken.complete is False and "cut short" in broken.problem


def test_a_single_part_exr_holds_the_same_channels(shot, tmp_path):
    """``--single-part`` (for readers without multi-part EXR): one full-frame part, the same
    pixels as the default's two parts."""
    sample, root, _, out = shot
    f = sample.frames[0]
    single = str(tmp_path / "s.####.exr")
    convert_shot(sample.pattern, root, RefusingModel(load_model(os.path.join(root, "model"),
                                                                 "cpu").card), "other",
                 OutputSettings(single, single_part=True), frames=str(f),
                 cache_dir=os.path.join(root, "cache"))
    one, _, specs = _read(single.replace("####", str(f)))
    two = _read(out.replace("####", str(f)))[0]
    assert len(specs) == 1 and sorted(one) == sorted(two) == sorted(RGB_PLATE_CHANNELS)
    for name in RGB_PLATE_CHANNELS:
        np.testing.assert_array_equal(one[name], two[name], err_msg=name)
    assert read_image(single.replace("####", str(f))).channels == read_image(
        out.replace("####", str(f))).channels


def test_the_merge_op_keys_its_mix_from_confidence(shot, tmp_path):
    """FaceMerge's knobs reach a real engine as merge params, with align's confidences."""
    sample, root, model, _ = shot
    f, plate, (face,), colour = _frame(shot, 0)
    (swap,) = swap_frame(plate.rgb(), [face], model, "other", colour, frame=f)
    arrays = {"faces": from_numpy(swap.face[None]), "masks": from_numpy(swap.learned[None]),
              "matrices": from_numpy(swap.matrix[None].astype(np.float32)),
              "landmarks": from_numpy(swap.landmarks[None].astype(np.float32))}
    common = {"path": sample.path(f), "model": os.path.join(root, "model"),
              "identity": "other", "frame": f, "mask": "hull"}
    with running_engine(tmp_path) as client:
        sure = client.call("merge", common, {**arrays, "confidences": from_numpy(
            np.array([0.95], np.float32))})
        doubt = client.call("merge", {**common, "confidence_threshold": 0.6},
                            {**arrays, "confidences": from_numpy(np.array([0.1], np.float32))})
    layout = sure.params["channels"][3:]  # after the RGB plate's R, G, B: the layers
    assert sure.params["metadata"][f"{CONFIDENCE_KEY}/detection"] == "0.9500"
    assert float(doubt.params["metadata"][CONFIDENCE_KEY]) < 0.5
    sure_face = to_numpy(sure.arrays["layers"])[..., layout.index("facemask.face")]
    doubt_face = to_numpy(doubt.arrays["layers"])[..., layout.index("facemask.face")]
    assert sure_face.max() > 0.99 and doubt_face.max() == 0
    np.testing.assert_array_equal(to_numpy(doubt.arrays["rgba"])[..., :3], plate.rgb())


def test_init_declares_every_layer_for_nuke():
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke_standin"))
    from session import start

    nuke = start(gui=False)
    assert nuke._state.layers["faceregion"] == list(FACEREGION_CHANNELS)
    assert nuke._state.layers["faceraw"] == ["faceraw.red", "faceraw.green", "faceraw.blue",
                                             "faceraw.alpha"]
    assert nuke._state.layers["facest"] == list(FACEST_CHANNELS)
    assert all(len(c) <= 4 for c in nuke._state.layers.values())


def test_the_contact_sheet_shows_the_raw_render_and_the_regions(shot, tmp_path):
    from faceplate.contact_sheet import COLUMNS, contact_sheet

    sample, root, _, out = shot
    tile = 96
    path = contact_sheet(sample.pattern, root, out, str(tmp_path / "sheet.png"),
                         colourspace=sample.colourspace, rows=2, tile=tile)
    sheet = read_image(path).rgb()
    first = round(sample.size[0] * tile / sample.size[1]) + 4  # the plate keeps its aspect

    def column(name: str) -> np.ndarray:
        x = first + (COLUMNS.index(name) - 1) * (tile + 4)
        return sheet[20:tile, x + 2:x + 2 + tile]  # below the caption, first row

    assert column("faceraw").mean() > 0.1  # the (untrained, flat) render, not black
    regions = column("faceregion")
    # eyes red, brows green, mouth blue: each colour is there
    for channel in range(3):
        others = [c for c in range(3) if c != channel]
        strong = regions[..., channel] > 1.5 * regions[..., others].max(axis=-1) + 0.1
        assert strong.sum() > 10, channel
