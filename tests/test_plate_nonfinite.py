"""Plates with NaN and infinite pixels (bad pixels in a render, a divide by zero in a grade)
under, near and away from the face.

The shot is the astronaut sample (known transforms, the true landmarks as alignments), its
half-float EXR frames rewritten through OpenImageIO with NaN, +inf and -inf pixels: a few
scattered over the face, a block over an eye, some just past the jaw and some far from the
face. Real converts (the API and ``faceplate convert``) are read back with OpenImageIO and
held to the rule: where ``facemask.face`` is 0 the colour channels are the plate's bits, NaN and
infinity included; where it is above 0 they are finite; every layer is finite; a frame whose
swap cannot be made (a diverged model, a face with no finite plate under it) is reported
failed, with its reason, and convert exits non-zero.
"""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import OpenImageIO as oiio
import pytest
import torch
from engine_helpers import PLAIN, tiny_model
from faceplate import cli
from faceplate.convert.colour_match import match_colour
from faceplate.convert.pipeline import convert_shot
from faceplate.convert.settings import MergeSettings
from faceplate.convert.swap import PassthroughModel
from faceplate.extract import alignments as alignments_io
from faceplate.model.card import ModelCard
from faceplate.model.store import create_model, load_model, save_model
from faceplate.samples import make_shot, source_image, write_true_alignments
from faceplate.server.arrays import from_numpy, to_numpy
from faceplate_client.protocol import EngineError

FRAMES = 5  # enough for temporal smoothing (runs of 5 frames and up) to take part
LAYERS = ("facemask.face", "facemask.learned", "facemask.hull", "facemask.occlusion",
          "faceraw.R", "faceraw.G", "faceraw.B", "faceraw.A")


def _write_half(path: str, pixels: np.ndarray) -> None:
    """A half-float, zip-compressed scanline RGB EXR, as a studio plate is."""
    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], 3, oiio.HALF)
    spec.channelnames = ("R", "G", "B")
    spec.attribute("compression", "zip")
    out = oiio.ImageOutput.create(path)
    assert out is not None and out.open(path, spec), oiio.geterror()
    assert out.write_image(np.ascontiguousarray(pixels, np.float16)), out.geterror()
    out.close()


def _read(path: str, fmt=oiio.HALF) -> dict[str, np.ndarray]:
    """Every channel by name over the display window (parts placed by their data windows)."""
    inp = oiio.ImageInput.open(path)
    assert inp is not None, oiio.geterror()
    out, part = {}, 0
    try:
        while inp.seek_subimage(part, 0):
            spec = inp.spec()
            pixels = inp.read_image(part, 0, 0, spec.nchannels, fmt)
            full = np.zeros((spec.full_height, spec.full_width, spec.nchannels), pixels.dtype)
            y, x = spec.y - spec.full_y, spec.x - spec.full_x
            full[y:y + spec.height, x:x + spec.width] = pixels
            out.update({name: full[..., i] for i, name in enumerate(spec.channelnames)})
            part += 1
    finally:
        inp.close()
    return out


def _spoil(path: str, landmarks: np.ndarray) -> np.ndarray:
    """Rewrite the plate frame at ``path`` with non-finite pixels; returns where they are."""
    pixels = _read(path)
    rgb = np.stack([pixels[c] for c in "RGB"], -1).copy()
    h, w = rgb.shape[:2]

    def at(point, channels, value, grow=0):
        x, y = np.rint(np.asarray(point, float)).astype(int)
        rgb[max(0, y - grow):y + grow + 1, max(0, x - grow):x + grow + 1, channels] = value

    at(landmarks[36:42].mean(0), slice(None), np.nan, grow=3)  # a 7×7 block over an eye
    at(landmarks[30], 0, np.inf)  # nose tip: red +inf
    at(landmarks[48], 1, -np.inf)  # mouth corner: green -inf
    at(landmarks[33], 2, np.nan)  # under the nose: blue NaN
    at((landmarks[2] + landmarks[30]) / 2, slice(None), np.nan)  # a cheek
    at((landmarks[14] + landmarks[30]) / 2, slice(None), np.inf)  # the other cheek
    at(landmarks[8] + (0.0, 14.0), slice(None), np.nan)  # just past the chin
    at(landmarks[0] - (12.0, 0.0), 1, np.inf)  # just past the jaw's edge
    at((3, 3), slice(None), np.nan)  # far from the face
    at((w - 5, 8), 0, np.inf)
    at((6, h - 4), 2, -np.inf)
    _write_half(path, rgb)
    return ~np.isfinite(rgb).all(-1)


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    """The sample shot with spoiled plates, its true alignments and a tiny untrained model."""
    root = str(tmp_path_factory.mktemp("nonfinite"))
    sample = make_shot("astronaut", os.path.join(root, "plate"), frames=FRAMES,
                       size=(320, 240), face_px=110.0)
    shot_dir = write_true_alignments(sample, os.path.join(root, "shot"))
    found = alignments_io.load(shot_dir)
    bad = {f: _spoil(sample.path(f), np.asarray(found.frames[f][0].landmarks))
           for f in sample.frames}
    return sample, shot_dir, tiny_model(os.path.join(root, "model")), bad


def _pattern(sample) -> str:
    return sample.pattern.replace("%04d", "####")


def _plate(sample, frame) -> np.ndarray:
    pixels = _read(sample.path(frame))
    return np.stack([pixels[c] for c in "RGB"], -1)


def _check_frame(sample, frame: int, out_pattern: str, bad: np.ndarray) -> dict:
    """The rule for one written frame; returns its channels (float32) for more checks."""
    path = out_pattern.replace("####", str(frame))
    half, layers = _read(path), _read(path, oiio.FLOAT)
    plate, out = _plate(sample, frame), np.stack([half[c] for c in "RGB"], -1)
    assert out.dtype == np.float16
    for name in LAYERS:
        assert np.isfinite(layers[name]).all(), f"{name} is not finite in frame {frame}"
    face = layers["facemask.face"]
    outside, inside = face == 0, face > 0
    # Outside the matte: the plate's bits, NaN and infinity included.
    assert np.array_equal(out.view(np.uint16)[outside], plate.view(np.uint16)[outside])
    assert (bad & outside).any(), "some spoiled pixels should lie outside the matte"
    # Inside: finite everywhere, the spoiled pixels under the face included.
    assert np.isfinite(out[inside]).all()
    assert (bad & (face > 0.25)).sum() >= 30, "the eye block should lie under the face"
    return {"plate": plate.astype(np.float32), "out": out.astype(np.float32), "face": face,
            "layers": layers}


def test_a_swap_over_nan_and_inf_is_finite_under_the_face_and_the_plate_elsewhere(shot,
                                                                                   tmp_path):
    """The real model path (a tiny untrained model, default settings: Reinhard colour,
    temporal smoothing): every frame swapped, the face changed, nothing non-finite made."""
    sample, shot_dir, model_dir, bad = shot
    out = str(tmp_path / "out.####.exr")
    summary = convert_shot(_pattern(sample), shot_dir, load_model(model_dir, "cpu"), "other",
                           out, cache_dir=str(tmp_path / "cache"))
    assert summary.count("swapped") == FRAMES and summary.count("failed") == 0, \
        summary.to_dict()["frames"]
    for frame in sample.frames:
        got = _check_frame(sample, frame, out, bad[frame])
        core = (got["face"] > 0.25) & ~cv2.dilate(bad[frame].astype(np.uint8),
                                                 np.ones((9, 9), np.uint8)).astype(bool)
        # The swap happened: an untrained decoder's face is nothing like the plate's.
        assert np.abs(got["out"][core] - got["plate"][core]).mean() > 0.02
        assert got["layers"]["facemask.learned"].max() > 0
        assert got["layers"]["faceraw.A"].max() > 0


@pytest.mark.parametrize("colour", ["reinhard", "histogram", "seamless"])
def test_the_null_swap_over_nan_and_inf_still_gives_back_the_plate(shot, tmp_path, colour):
    """The null swap shows what the merge does: colour statistics from the finite samples only,
    so the face away from the spoiled pixels comes back within convert's stated tolerance
    (mean |error| < 0.01, 99th percentile < 0.06), and the spoiled pixels under the face are
    filled from the plate around them."""
    sample, shot_dir, _, bad = shot
    out = str(tmp_path / "null.####.exr")
    frames = sample.frames[:2]
    summary = convert_shot(_pattern(sample), shot_dir, PassthroughModel(256), "plate", out,
                           frames=frames, settings=MergeSettings(**PLAIN, colour=colour, temporal=0.0))
    assert summary.count("swapped") == len(frames) and summary.count("failed") == 0
    for frame in frames:
        got = _check_frame(sample, frame, out, bad[frame])
        near = cv2.dilate(bad[frame].astype(np.uint8), np.ones((13, 13), np.uint8)) > 0
        kept = (got["face"] > 0) & ~near
        diff = np.abs(got["out"][kept] - got["plate"][kept])
        assert diff.mean() < 0.01 and np.quantile(diff, 0.99) < 0.06, (colour, diff.mean())
        # The eye block, under the face, is filled from the skin and eye around it.
        filled = got["out"][bad[frame] & (got["face"] > 0.99)]
        skin = np.median(got["plate"][(got["face"] > 0.99) & ~bad[frame]], axis=0)
        assert len(filled) and np.abs(filled - skin).max() < 1.0


def test_a_diverged_model_fails_its_frames_and_convert_exits_non_zero(shot, tmp_path, capsys):
    """A model whose weights went NaN (a diverged training run) swaps NaN faces: nothing of it
    is written, every frame is reported failed with the reason, and the CLI exits non-zero."""
    sample, shot_dir, model_dir, _ = shot
    broken = str(tmp_path / "diverged")
    model = create_model(broken, ModelCard.load(os.path.join(model_dir, "card.json")))
    with torch.no_grad():
        for p in model.network.parameters():
            p.fill_(float("nan"))
    save_model(broken, model.card, model.network)
    out = str(tmp_path / "broken.####.exr")
    code = cli.main(["convert", _pattern(sample), "--alignments",
                     shot_dir, "-m", broken, "--to", "other", "-o", out, "--frames", "1001-1002",
                     "--device", "cpu", "--no-cache", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code not in (0, 2)  # finished, with frames failed (2: could not run at all)
    assert summary["failed"] == 2 and summary["swapped"] == 0
    for report in summary["frames"]:
        assert report["status"] == "failed" and "NaN or infinite" in report["message"]
    assert not any(os.path.exists(out.replace("####", str(f))) for f in (1001, 1002))


class NaNModel(PassthroughModel):
    """A broken model: finite input, NaN faces (the swap's test double)."""

    def swap(self, crops, identity):
        faces, masks = super().swap(crops, identity)
        return np.full_like(faces, np.nan), masks


def test_an_unswappable_face_is_failed_not_swapped(shot, tmp_path):
    """A NaN face from the model, and a plate whose whole face is NaN: each frame is failed
    with its reason (the other frames still swap)."""
    sample, shot_dir, _, _ = shot
    first, second = sample.frames[:2]
    summary = convert_shot(_pattern(sample), shot_dir, NaNModel(64), "plate",
                           str(tmp_path / "nan.####.exr"), frames=[first])
    (report,) = summary.frames
    assert report.status == "failed" and "model" in report.message
    assert summary.to_dict()["failed"] == 1 and summary.to_dict()["swapped"] == 0

    # The whole face NaN (in a copy of the plate): nothing to swap or colour-match against.
    pattern = str(tmp_path / "plate.%04d.exr")
    for frame in (first, second):
        plate = _plate(sample, frame).copy()
        if frame == second:
            points = np.asarray(alignments_io.load(shot_dir).frames[frame][0].landmarks)
            x0, y0 = np.floor(points.min(0)).astype(int) - 20
            x1, y1 = np.ceil(points.max(0)).astype(int) + 20
            plate[max(y0, 0):y1, max(x0, 0):x1] = np.nan
        _write_half(pattern % frame, plate)
    summary = convert_shot(pattern.replace("%04d", "####"), shot_dir, PassthroughModel(256),
                           "plate", str(tmp_path / "hole.####.exr"), frames=[first, second],
                           settings=MergeSettings(temporal=0.0))
    by_frame = {r.frame: r for r in summary.frames}
    assert by_frame[first].status == "swapped"
    assert by_frame[second].status == "failed"
    assert "plate under the face" in by_frame[second].message


def test_the_merge_op_keeps_the_plate_outside_and_finite_layers(shot, running):
    """FaceMerge's path: the engine's swap op on the spoiled plate gives finite faces, and its
    merge op finite layers, the plate outside the matte and finite pixels inside."""
    client, _ = running
    sample, shot_dir, model_dir, bad = shot
    frame = sample.frames[0]
    record = alignments_io.load(shot_dir).frames[frame][0]
    placement = {"matrices": from_numpy(np.asarray(record.matrix, np.float32)[None]),
                 "landmarks": from_numpy(np.asarray(record.landmarks, np.float32)[None])}
    common = {"path": sample.path(frame), "model": model_dir, "identity": "other"}
    swapped = client.call("swap", common, placement)
    faces, masks = to_numpy(swapped.arrays["faces"]), to_numpy(swapped.arrays["masks"])
    assert np.isfinite(faces).all() and np.isfinite(masks).all()
    merged = client.call("merge", {**common, "frame": frame},
                         {"faces": from_numpy(faces), "masks": from_numpy(masks), **placement})
    assert merged.params["metadata"]["faceplate/status"] == "swapped"
    layout = merged.params["channels"][3:]
    layers, rgb = to_numpy(merged.arrays["layers"]), to_numpy(merged.arrays["rgba"])[..., :3]
    assert np.isfinite(layers).all()
    face = layers[..., layout.index("facemask.face")]
    plate = _plate(sample, frame).astype(np.float32)
    outside = face == 0
    assert np.array_equal(rgb[outside], plate[outside], equal_nan=True)
    assert not np.isfinite(rgb[outside & bad[frame]]).all()
    assert np.isfinite(rgb[face > 0]).all() and (bad[frame] & (face > 0.5)).any()
    # A NaN face is refused before any merge; so is a plate with no finite face to go over.
    with pytest.raises(EngineError, match="NaN"):
        client.call("merge", {**common, "frame": frame},
                    {"faces": from_numpy(np.full_like(faces, np.nan)),
                     "masks": from_numpy(masks), **placement})
    holed = plate.copy()
    x0, y0 = np.floor(record.landmarks.min(0)).astype(int) - 20
    x1, y1 = np.ceil(record.landmarks.max(0)).astype(int) + 20
    holed[max(y0, 0):y1, max(x0, 0):x1] = np.nan
    with pytest.raises(EngineError, match="plate under the face"):
        client.call("merge", {"model": model_dir, "identity": "other", "frame": frame},
                    {"image": from_numpy(holed), "faces": from_numpy(faces),
                     "masks": from_numpy(masks), **placement})


@pytest.fixture(scope="module")
def face_and_marked_plate():
    """A real face crop, its plate under a warmer, darker grade, and that plate's crop with NaN
    where the plate had non-finite pixels (as ``aligned_crop`` marks them): a block inside the
    face, scattered samples, and samples on the matte's edge, where ``seamless`` reads the
    plate."""
    face = source_image("astronaut")[60:200, 160:280].copy()
    plate = np.clip(face * np.array([1.1, 0.9, 0.7], np.float32) * 0.8 + 0.05, 0, None)
    h, w = face.shape[:2]
    weight = np.zeros((h, w), np.float32)
    cv2.ellipse(weight, (w // 2, h // 2), (w // 3, h // 3), 0, 0, 360, 1.0, -1)
    holes = np.zeros((h, w), bool)
    holes[50:70, 40:60] = True
    rng = np.random.default_rng(1)
    holes[rng.integers(0, h, 300), rng.integers(0, w, 300)] = True
    edge = cv2.ellipse(np.zeros((h, w), np.uint8), (w // 2, h // 2), (w // 3, h // 3), 0, 0,
                       360, 1, 3) > 0
    holes |= edge & (np.arange(w)[None, :] < w // 2)
    marked = plate.astype(np.float32).copy()
    marked[holes] = np.nan
    return face, plate.astype(np.float32), marked, weight, holes


@pytest.mark.parametrize("mode", ["average", "reinhard", "histogram"])
def test_colour_statistics_give_the_marked_samples_no_weight(mode, face_and_marked_plate):
    """The statistics modes measure exactly what they measure with those samples weighed out."""
    face, plate, marked, weight, holes = face_and_marked_plate
    anything = plate.copy()
    anything[holes] = 100.0  # weighed out: their value must not matter
    got = match_colour(mode, face, marked, weight)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, match_colour(mode, face, anything, weight * ~holes),
                               atol=1e-5)


def test_the_seamless_membrane_interpolates_over_the_marked_samples(face_and_marked_plate):
    face, plate, marked, weight, _ = face_and_marked_plate
    got = match_colour("seamless", face, marked, weight)
    clean = match_colour("seamless", face, plate, weight)
    assert np.isfinite(got).all()
    assert np.abs(got - clean)[weight > 0].mean() < 0.01
