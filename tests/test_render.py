"""One frame renderer for convert and the engine's merge op (faceplate.convert.render): the
same plate, swaps and settings give the same bits, the same provenance and the same status
through ``convert_shot`` and through the ``merge`` op of a real engine.

The shot is the astronaut sample (half-float EXR frames, its true alignments with a detection
confidence; its last frame holds no face) and the tiny untrained model. Convert swaps each
frame itself (no swap cache, no temporal smoothing: a single-frame merge has neither); the op
gets the swaps ``swap_frame`` makes of the same crops with the same model. Every channel of
both files — the plate's colour and every layer — is compared as its stored bits.
"""

from __future__ import annotations

import os

import numpy as np
import OpenImageIO as oiio
import pytest
from engine_helpers import tiny_model
from faceplate.convert.pipeline import convert_shot, placements, plate_rgb, swap_frame
from faceplate.convert.render import FAILED, PASSTHROUGH, SWAPPED
from faceplate.convert.settings import MergeSettings
from faceplate.convert.writer import OutputSettings, read_provenance
from faceplate.errors import FaceplateError
from faceplate.extract import alignments as alignments_io
from faceplate.io.colour import ColourSpaces
from faceplate.io.images import read_image, write_image
from faceplate.model.store import load_model
from faceplate.samples import make_shot, write_true_alignments
from faceplate.server.arrays import from_numpy, to_numpy
from faceplate_client import protocol as p

FRAMES = 3
IDENTITY = "other"


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    """The sample shot, its alignments (the last frame: no face detected), the tiny model,
    and an occluder matte sequence (a bar across the face)."""
    root = str(tmp_path_factory.mktemp("render"))
    sample = make_shot("astronaut", os.path.join(root, "plate"), frames=FRAMES,
                       size=(320, 240), face_px=110.0)
    shot_dir = write_true_alignments(sample, os.path.join(root, "shot"))
    found = alignments_io.load(shot_dir)
    for f in sample.frames:
        for r in found.frames[f]:
            r.confidence = 0.875  # the op gets it as the confidences array
    found.frames[sample.frames[-1]] = []
    alignments_io.save(found, shot_dir, merge=False)
    model_dir = tiny_model(os.path.join(root, "model"))
    occluder = os.path.join(root, "occluder.####.exr")
    for f in sample.frames:
        points = np.asarray(found.frames[sample.frames[0]][0].landmarks)
        matte = np.zeros((240, 320), np.float32)
        x = int(points[:, 0].mean())
        matte[:, x - 6:x + 6] = 1.0
        matte[:, x - 9:x - 6] = 0.5
        write_image(occluder.replace("####", str(f)), matte[..., None], ["A"])
    return sample, shot_dir, model_dir, occluder


@pytest.fixture(scope="module")
def model(shot):
    return load_model(shot[2], device="cpu")


def _pattern(sample) -> str:
    return sample.pattern.replace("%04d", "####")


def _convert(shot, model, settings: MergeSettings, frame: int, out: str):
    sample, shot_dir, _, _ = shot
    summary = convert_shot(_pattern(sample), shot_dir, model, IDENTITY, OutputSettings(out),
                           frames=[frame], settings=settings, batch_frames=1, serial=True)
    (report,) = summary.frames
    return report


def _op_arrays(shot, model, frame: int, nan: bool = False) -> dict:
    """The frame's faces (frame pixels, as FaceAlign gives them) and their swaps, as convert
    makes them: the same crops of the same half plate through the same model."""
    sample, shot_dir, _, _ = shot
    found = alignments_io.load(shot_dir)
    faces = placements(found.frames[frame], found.face_type, model)
    image = read_image(sample.path(frame), keep_half=True)
    colour = ColourSpaces(found.colourspace)
    swaps = swap_frame(plate_rgb(image), faces, model, IDENTITY, colour)
    size = model.card.resolution
    face = np.stack([s.face for s in swaps]) if swaps else np.zeros((0, size, size, 3), np.float32)
    learned = np.stack([s.learned for s in swaps]) if swaps \
        else np.zeros((0, size, size), np.float32)
    if nan:
        face = np.full_like(face, np.nan)
    return {"faces": from_numpy(face.astype(np.float32)),
            "masks": from_numpy(learned.astype(np.float32)),
            "matrices": from_numpy(np.array([f.matrix for f in faces], np.float64)
                                   .reshape(-1, 2, 3)),
            "landmarks": from_numpy(np.array([f.landmarks for f in faces], np.float64)
                                    .reshape(-1, 68, 2)),
            "confidences": from_numpy(np.array([f.detection for f in faces], np.float64)),
            **{side: from_numpy(_neighbours(found, faces, frame + step, model))
               for side, step in (("before", -1), ("after", 1))}}


def _neighbours(found, faces, other: int, model) -> np.ndarray:
    """Each face's track's matrix on frame ``other`` (NaN where it has none), as the FaceMerge
    node sends them (the shot has no cuts): the face's motion."""
    there = {f.track: f.matrix for f in placements(found.frames.get(other) or [],
                                                  found.face_type, model)}
    return np.array([there.get(f.track, np.full((2, 3), np.nan)) for f in faces],
                    np.float64).reshape(-1, 2, 3)


def _op(client, shot, settings: MergeSettings, frame: int, arrays: dict, out: str = ""):
    sample, shot_dir, model_dir, _ = shot
    params = {"path": sample.path(frame), "model": model_dir, "identity": IDENTITY,
              "frame": frame, "output": out,
              "colourspace": alignments_io.load(shot_dir).colourspace,
              **settings.to_dict()}
    return client.call("merge", params, arrays)


def _stored(path: str) -> dict:
    """Every part's every channel as its stored bits, with the part's windows."""
    inp = oiio.ImageInput.open(path)
    assert inp is not None, oiio.geterror()
    out: dict = {}
    try:
        index = 0
        while inp.seek_subimage(index, 0):
            spec = inp.spec()
            name = spec.getattribute("name") or str(index)
            out[name, "windows"] = (spec.x, spec.y, spec.width, spec.height, spec.full_x,
                                    spec.full_y, spec.full_width, spec.full_height)
            for c, (channel, kind) in enumerate(zip(spec.channelnames, spec.channelformats
                                                    or [spec.format] * spec.nchannels)):
                half = kind == oiio.TypeDesc(oiio.HALF)
                pixels = inp.read_image(index, 0, c, c + 1, "half" if half else "float")
                assert pixels is not None, inp.geterror()
                out[name, channel] = np.ascontiguousarray(pixels[..., 0]).view(
                    np.uint16 if half else np.uint32)
            index += 1
    finally:
        inp.close()
    return out


def _same_bits(a: str, b: str) -> None:
    ours, theirs = _stored(a), _stored(b)
    assert sorted(ours) == sorted(theirs)
    assert any(k[1].startswith("facemask.") for k in ours)  # the layers are compared too
    for key in ours:
        assert np.array_equal(ours[key], theirs[key]), f"{key} differs"


CASES = {
    "swapped": (MergeSettings(temporal=0.0), 0, SWAPPED),
    "occlusion matte": (None, 0, SWAPPED),  # settings need the shot's matte path
    "no face": (MergeSettings(temporal=0.0), -1, PASSTHROUGH),
}


@pytest.mark.parametrize("case", list(CASES))
def test_convert_and_the_merge_op_write_the_same_bits(case, shot, model, running, tmp_path):
    client, _ = running
    sample, _, _, occluder = shot
    settings, index, status = CASES[case]
    if settings is None:
        settings = MergeSettings(mask="occlusion", occlusion_matte=occluder, temporal=0.0)
    frame = sample.frames[index]
    report = _convert(shot, model, settings, frame, str(tmp_path / "convert.####.exr"))
    assert report.status == status
    converted = str(tmp_path / f"convert.{frame}.exr")
    written = str(tmp_path / "op.exr")
    reply = _op(client, shot, settings, frame, _op_arrays(shot, model, frame), written)
    assert reply.params["status"] == report.status
    assert reply.params["message"] == report.message
    _same_bits(converted, written)
    # Provenance: every key and value, the job digest included (the same plate file, matte
    # file, faces and settings; no temporal context), and the op's reply says the same.
    ours, theirs = read_provenance(converted), read_provenance(written)
    assert ours == theirs
    assert {k: str(v) for k, v in reply.params["metadata"].items()} == theirs
    if status == PASSTHROUGH:
        assert ours["faceplate/status"] == \
            "passthrough: no face detected: plate written unchanged"
        assert ours["faceplate/synthetic"] == "0"
    else:
        assert ours["faceplate/status"] == "swapped" and ours["faceplate/synthetic"] == "1"
    if case == "occlusion matte":
        occlusion = _stored(converted)["facelayers", "facemask.occlusion"]
        assert occlusion.any()  # the occluder was cut out

    # Inline: the same frame in memory, its colour the bits written (half plate, half out).
    inline = _op(client, shot, settings, frame, _op_arrays(shot, model, frame))
    assert inline.params["status"] == report.status
    rgb = to_numpy(inline.arrays["rgba"])
    stored = _stored(converted)
    for i, channel in enumerate("RGB"):
        assert np.array_equal(rgb[..., i].astype(np.float16).view(np.uint16),
                              stored["rgba", channel])


def test_a_frame_that_cannot_be_swapped_fails_the_same_in_both(shot, model, running, tmp_path):
    """A NaN swap (a diverged model): convert fails the frame, the op fails the request, with
    the same reason; neither writes anything."""
    client, _ = running
    sample = shot[0]
    frame = sample.frames[0]
    settings = MergeSettings(temporal=0.0)

    class NaNModel:  # the tiny model's card, NaN faces
        card = model.card

        def swap(self, crops, identity):
            faces, masks = model.swap(crops, identity)
            return np.full_like(faces, np.nan), masks

    report = _convert(shot, NaNModel(), settings, frame, str(tmp_path / "nan.####.exr"))
    assert report.status == FAILED and "NaN or infinite" in report.message
    assert report.message.endswith("; not written")
    written = str(tmp_path / "op.exr")
    with pytest.raises(p.EngineError) as failed:
        _op(client, shot, settings, frame, _op_arrays(shot, model, frame, nan=True), written)
    assert failed.value.code == p.FAILED
    assert failed.value.message == report.message
    assert not os.path.exists(written)
    assert not os.path.exists(str(tmp_path / f"nan.{frame}.exr"))


def test_the_occlusion_source_never_merges_without_its_matte(shot, model, running, tmp_path):
    """The rule kept (faceplate.convert.render): no occluder matte, no render. Convert finds
    no occlusion model for the shot and stops; the op, which has no shot, refuses the request
    instead of merging hull × learned."""
    client, _ = running
    sample = shot[0]
    frame = sample.frames[0]
    settings = MergeSettings(mask="occlusion", temporal=0.0)
    with pytest.raises(FaceplateError, match="no occlusion model"):
        _convert(shot, model, settings, frame, str(tmp_path / "occ.####.exr"))
    with pytest.raises(p.EngineError) as refused:
        _op(client, shot, settings, frame, _op_arrays(shot, model, frame))
    assert refused.value.code == p.BAD_PARAMS
    assert "occlusion_matte" in refused.value.message
