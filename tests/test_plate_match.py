"""Plate match against ground truth: shots filmed by a known camera (faceplate.samples.Camera:
grain that rises with exposure and differs per channel, defocus, motion blur over a shutter)
from the bundled astronaut, merged with the perfect swap — the clean face the camera filmed —
so every difference between the merged face and the plate is plate match's to answer for.

Figures are faceplate.convert.match_figures' (the bench's): grain frame to frame per brightness
band and channel, fine detail (finest band's energy over the next), blur length along the
motion.
"""

from __future__ import annotations

import numpy as np
import pytest
from faceplate.convert.match_figures import (
    blur_length,
    focus_ratio,
    grain_ratio,
    sharpness_ratio,
)
from faceplate.convert.merge import SwappedFace
from faceplate.convert.motion import FaceMotion
from faceplate.convert.render import merge_frame
from faceplate.convert.settings import MergeSettings
from faceplate.face.align import alignment_matrix
from faceplate.io.colour import ColourSpaces
from faceplate.io.images import read_image
from faceplate.samples import (
    Camera,
    camera_frame,
    camera_swap,
    make_camera_shot,
    source_landmarks,
)

SIZE = 256  # the swap's crop: sharper than any of these plates
OFF = {"grain": "off", "soften": "off", "shutter": 0.0}
# The perfect swap's colour is the plate's own: no colour match, the hull as the matte.
BASE = {"colour": "none", "mask": "hull", "temporal": 0.0}


def _shot(tmp_path, camera: Camera, frames: int = 6, seed: int = 3):
    return make_camera_shot("astronaut", str(tmp_path), camera, frames=frames, seed=seed)


def _swaps(sample, frame: int) -> list[SwappedFace]:
    """The face the camera filmed, clean: the model that reconstructs it perfectly."""
    face, matrix, landmarks = camera_swap(sample, frame, SIZE)
    return [SwappedFace(face, np.ones((SIZE, SIZE), np.float32), matrix, landmarks, 1.0,
                        motion=FaceMotion(_matrix(sample, frame - 1),
                                          _matrix(sample, frame + 1)))]


def _matrix(sample, frame: int) -> np.ndarray | None:
    """The frame's true alignment matrix (None off the shot)."""
    if frame not in sample.matrices:
        return None
    return alignment_matrix(sample.to_plate(frame, source_landmarks("astronaut")), "whole_face")


def _merge(sample, frame: int, **settings):
    plate = read_image(sample.path(frame))
    merged = merge_frame(plate, _swaps(sample, frame), ColourSpaces(sample.colourspace),
                         MergeSettings(**(BASE | settings)), frame=frame)
    return plate, merged


def _inside(merged, level: float = 0.999) -> np.ndarray:
    """The face where the matte is whole (the figures are the face's, not its feather's)."""
    return (merged.layers.face >= level).astype(np.float32)


def test_grain_is_the_plates_in_every_brightness_band_and_channel(tmp_path):
    camera = Camera(grain=(0.035, 0.045, 0.06), grain_size=0.8)
    sample = _shot(tmp_path, camera)
    plates, merged, clean = [], [], []
    for f in sample.frames:
        plate, out = _merge(sample, f)
        plates.append(plate.rgb())
        merged.append(out.rgb)
        clean.append(_merge(sample, f, **OFF)[1].rgb)
        # The plate outside the matte is the plate's own bits.
        outside = out.layers.face == 0
        assert np.array_equal(out.rgb[outside], plate.rgb()[outside])
    weight = _inside(out)
    ratio = grain_ratio(merged, plates, weight)
    before = grain_ratio(clean, plates, weight)
    assert ratio.shape[1] == 3 and ratio.shape[0] >= 3
    assert np.all((ratio > 0.85) & (ratio < 1.15)), ratio
    assert np.all(before < 0.5), before  # the clean swap had next to none
    # Re-rendered: the same bits (grain is seeded by frame and face), new grain each frame.
    again = _merge(sample, sample.frames[2])[1]
    assert np.array_equal(again.rgb, merged[2])
    assert not np.array_equal(merged[1] - clean[1], merged[2] - clean[2])
    record = again.match_metadata()["faceplate/plate_match"]
    assert '"grain"' in record and '"softness"' in record


@pytest.mark.parametrize("grain", [(0.0, 0.0, 0.0), (0.03, 0.04, 0.05)])
def test_a_soft_plate_gets_a_swap_as_soft(tmp_path, grain):
    camera = Camera(defocus=2.0, grain=grain, grain_size=0.7)
    sample = _shot(tmp_path, camera, frames=1)
    f = sample.frames[0]
    plate, merged = _merge(sample, f)
    _, sharp = _merge(sample, f, **OFF)
    weight = _inside(merged)
    before = sharpness_ratio(sharp.rgb, plate.rgb(), weight)
    after = sharpness_ratio(merged.rgb, plate.rgb(), weight)
    if not any(grain):  # the clean swap is far crisper than the defocused plate
        assert before > 1.2, before
    assert 0.85 < after < 1.15, (before, after)


def test_another_persons_face_is_softened_for_the_plates_focus_not_its_skin(tmp_path):
    """Grace Hopper's wrinkled face on the astronaut's smooth one (the bundled public-domain
    samples): the edge spread of the merged face comes to the plate's, whatever the skin."""
    from faceplate.samples import sample_swap

    face, learned = sample_swap("grace_hopper", SIZE, hull="components")
    sample = _shot(tmp_path, Camera(defocus=2.0), frames=1)
    f = sample.frames[0]
    plate, colour = read_image(sample.path(f)), ColourSpaces(sample.colourspace)
    (own,) = _swaps(sample, f)
    swap = SwappedFace(face, learned, own.matrix, own.landmarks, 1.0)
    merged = merge_frame(plate, [swap], colour, MergeSettings(**BASE), frame=f)
    sharp = merge_frame(plate, [swap], colour, MergeSettings(**(BASE | OFF)), frame=f)
    weight = _inside(merged)
    before = focus_ratio(sharp.rgb, plate.rgb(), weight)
    after = focus_ratio(merged.rgb, plate.rgb(), weight)
    assert before is not None and before < 0.7, before  # her photo is far crisper
    assert after is not None and 0.8 < after < 1.2, (before, after)


def test_a_swap_softer_than_the_plate_is_never_sharpened_only_reported(tmp_path):
    sample = _shot(tmp_path, Camera(), frames=1)
    f = sample.frames[0]
    plate, colour = read_image(sample.path(f)), ColourSpaces(sample.colourspace)
    (swap,) = _swaps(sample, f)
    small = 48  # a small model's face: upscaled, softer than the plate
    import cv2

    swap.face = cv2.resize(cv2.resize(swap.face, (small, small), interpolation=cv2.INTER_AREA),
                           (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
    settings = MergeSettings(**(BASE | {"grain": "off", "shutter": 0.0}))
    merged = merge_frame(plate, [swap], colour, settings, frame=f)
    plain = merge_frame(plate, [swap], colour, MergeSettings(**(BASE | OFF)), frame=f)
    assert np.array_equal(merged.rgb, plain.rgb)  # nothing done to it
    import json

    (record,) = json.loads(merged.match_metadata()["faceplate/plate_match"])
    assert record["softness"]["sigma"] == 0
    assert record["softness"]["swap_softer"] is True


def test_motion_blur_follows_the_track_and_the_vectors_are_nukes(tmp_path):
    camera = Camera(velocity=(14.0, 0.0), shutter=180.0)
    sample = _shot(tmp_path, camera, frames=3)
    f = sample.frames[1]
    plate, blurred = _merge(sample, f, grain="off", soften="off")
    _, still = _merge(sample, f, **OFF)
    weight = _inside(blurred)
    truth = camera.blur_length()  # 7 px
    length = blur_length(blurred.rgb, still.rgb, (1.0, 0.0), weight)
    assert abs(length - truth) < 0.25 * truth, (length, truth)
    # The plate itself is blurred as much (the same figure, against the clean frame).
    clean = camera_frame("astronaut", sample.matrices[f], sample.size, Camera(),
                         ColourSpaces(sample.colourspace),
                         np.random.default_rng(0))
    assert abs(blur_length(plate.rgb(), clean, (1.0, 0.0), weight) - truth) < 0.25 * truth
    # Vectors: pixels per frame to the next frame (forward) and the previous (backward), v up.
    inside = weight > 0
    vec = blurred.layers.vectors
    np.testing.assert_allclose(vec[inside][:, 0], 14.0, atol=0.3)  # forward.u
    np.testing.assert_allclose(vec[inside][:, 1], 0.0, atol=0.3)  # forward.v
    np.testing.assert_allclose(vec[inside][:, 2], -14.0, atol=0.3)  # backward.u
    assert np.all(vec[blurred.layers.face == 0] == 0)


def test_no_blur_across_a_cut_and_a_still_face_is_not_blurred(tmp_path):
    camera = Camera(velocity=(14.0, 0.0), shutter=180.0)
    sample = _shot(tmp_path, camera, frames=3)
    f = sample.frames[1]
    plate, colour = read_image(sample.path(f)), ColourSpaces(sample.colourspace)
    (swap,) = _swaps(sample, f)
    settings = MergeSettings(**(BASE | {"grain": "off", "soften": "off"}))
    # Neighbours on neither side (a cut both ways, a one-frame track): still.
    swap.motion = FaceMotion(None, None)
    alone = merge_frame(plate, [swap], colour, settings, frame=f)
    swap.motion = None
    plain = merge_frame(plate, [swap], colour, settings, frame=f)
    assert np.array_equal(alone.rgb, plain.rgb)
    assert not alone.layers.vectors.any()
    # One side only (a cut after it): the motion is taken as steady, mirrored.
    swap.motion = FaceMotion(_matrix(sample, f - 1), None)
    one = merge_frame(plate, [swap], colour, settings, frame=f)
    swap.motion = FaceMotion(_matrix(sample, f - 1), _matrix(sample, f + 1))
    both = merge_frame(plate, [swap], colour, settings, frame=f)
    np.testing.assert_allclose(one.rgb, both.rgb, atol=2e-3)


def test_the_match_settings_come_from_one_declaration():
    settings = MergeSettings(grain="off", grain_amount=0.5, grain_size=1.5, soften="off",
                             shutter=90.0)
    assert MergeSettings.from_dict(settings.to_dict()) == settings
    names = {s["name"] for s in MergeSettings.knobs()}
    assert {"grain", "grain_amount", "grain_size", "soften", "shutter"} <= names
    assert MergeSettings().shutter == 180.0 and MergeSettings().grain == "auto"


def test_convert_takes_the_motion_from_the_track_and_never_across_a_cut(tmp_path):
    """A shot render: each face's motion comes from its track on the frames either side, read
    from the alignments; at a cut the frame before belongs to another shot, so it is not used
    (the motion is taken as steady from the frame after)."""
    import json

    from faceplate.convert.pipeline import convert_shot
    from faceplate.convert.swap import PassthroughModel
    from faceplate.extract import alignments as alignments_io
    from faceplate.samples import write_true_alignments

    sample = _shot(tmp_path / "plate", Camera(velocity=(14.0, 0.0), shutter=180.0), frames=4)
    shot_dir = write_true_alignments(sample, str(tmp_path / "shot"))
    cut = sample.frames[2]
    found = alignments_io.load(shot_dir)
    away = found.frames[cut - 1][0]  # the shot before the cut: its face somewhere else
    away.landmarks = away.landmarks + [0.0, 120.0]
    away.matrix = alignment_matrix(away.landmarks, "whole_face")
    found.cuts = [cut]
    alignments_io.save(found, shot_dir, merge=False)
    out = str(tmp_path / "out" / "m.####.exr")
    summary = convert_shot(sample.pattern.replace("%04d", "####"), shot_dir,
                           PassthroughModel(128), "passthrough", out,
                           settings=MergeSettings(temporal=0.0, grain="off", soften="off"))
    assert summary.count("swapped") == 4

    def motion(frame: int) -> dict:
        meta = read_image(out.replace("####", f"{frame:04d}")).metadata
        (record,) = json.loads(meta["faceplate/plate_match"])
        return record["motion"]

    at_cut = motion(cut)
    np.testing.assert_allclose(at_cut["forward"], [14.0, 0.0], atol=0.5)
    np.testing.assert_allclose(at_cut["backward"], [-14.0, 0.0], atol=0.5)  # not the 120 px
    before_cut = motion(cut - 1)  # its next frame is across the cut: steady from its previous
    np.testing.assert_allclose(before_cut["backward"], [-14.0, -120.0], atol=0.5)
    np.testing.assert_allclose(before_cut["forward"], [14.0, 120.0], atol=0.5)


def test_two_eyes_get_a_cameras_independent_grain(tmp_path):
    """A stereo plate's views are converted one at a time with the same frame numbers: each
    view's grain is its own (the same grain in both eyes would float in front of the face)."""
    import dataclasses

    sample = _shot(tmp_path, Camera(grain=(0.035, 0.045, 0.06), grain_size=0.8), frames=1)
    f = sample.frames[0]
    plate, colour = read_image(sample.path(f)), ColourSpaces(sample.colourspace)
    settings = MergeSettings(**BASE)
    swaps = _swaps(sample, f)
    eyes = {view: merge_frame(dataclasses.replace(plate, view=view), swaps, colour, settings,
                              frame=f).rgb for view in ("left", "right")}
    again = merge_frame(dataclasses.replace(plate, view="left"), swaps, colour, settings,
                        frame=f).rgb
    inside = _inside(merge_frame(plate, swaps, colour, settings, frame=f)) > 0
    assert np.array_equal(again, eyes["left"])
    difference = np.abs(eyes["left"] - eyes["right"])[inside]
    assert difference.mean() > 0.005  # grain-sized, not a rounding
