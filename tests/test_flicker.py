"""The flicker measure: the face's own motion is removed, what the merge adds is counted."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from faceplate.convert.flicker import flicker, onto_previous


def _moving(frames: int = 5, size=(200, 160)):
    rng = np.random.default_rng(3)
    texture = cv2.GaussianBlur(rng.random((400, 400, 3), np.float32), (0, 0), 2.5)
    plates, matrices, mattes = [], [], []
    for i in range(frames):
        a, s = math.radians(3 * i), 1.0 + 0.02 * i
        lin = s * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        to_plate = np.hstack([lin, (np.array([100.0 + 4 * i, 80.0 - 2 * i])
                                    - lin @ np.array([200.0, 200.0]))[:, None]])
        plates.append(cv2.warpAffine(texture, to_plate, size, flags=cv2.INTER_CUBIC))
        # plate → "unit crop": here the texture's own coordinates scaled down
        matrices.append(np.vstack([cv2.invertAffineTransform(to_plate) / 400.0]))
        matte = np.zeros(size[::-1], np.float32)
        cv2.circle(matte, (int(100 + 4 * i), int(80 - 2 * i)), 40, 1.0, -1)
        mattes.append(matte)
    return plates, matrices, mattes


def test_motion_is_removed_and_only_added_change_counts():
    plates, matrices, mattes = _moving()
    moved = onto_previous(plates[1], matrices[1], matrices[0])
    inside = mattes[0] > 0.5
    assert np.abs(moved - plates[0])[inside].mean() < 0.2 * np.abs(plates[1] - plates[0])[
        inside].mean()
    same = flicker(plates, plates, matrices, mattes)
    assert same.pairs == 4 and same.ratio == 1.0
    # A merge that pulses the face's brightness frame to frame flickers more than the plate.
    pulsing = [p + 0.05 * (i % 2) * m[..., None] for i, (p, m) in enumerate(zip(plates, mattes))]
    assert flicker(plates, pulsing, matrices, mattes).ratio > 1.5
    empty = [np.zeros_like(m) for m in mattes]
    assert flicker(plates, plates, matrices, empty).pairs == 0


def test_lowpass_ignores_fine_texture_and_keeps_pulsing():
    plates, matrices, mattes = _moving()
    rng = np.random.default_rng(5)
    grainy = [p + 0.1 * rng.standard_normal(p.shape).astype(np.float32) for p in plates]
    pulsing = [p + 0.05 * (i % 2) * m[..., None] for i, (p, m) in enumerate(zip(plates, mattes))]
    full_grain = flicker(plates, grainy, matrices, mattes).merged
    full_pulse = flicker(plates, pulsing, matrices, mattes).merged
    assert full_grain > full_pulse  # at full detail grain counts more than a 5% pulse
    soft_grain = flicker(plates, grainy, matrices, mattes, lowpass=0.02).merged
    soft_pulse = flicker(plates, pulsing, matrices, mattes, lowpass=0.02).merged
    assert soft_grain < 0.2 * soft_pulse  # blurred, the pulse is what is left


def test_temporal_windows_stop_at_cuts_and_gaps_and_sum_to_one():
    from faceplate.convert.temporal import Windows, reach

    frames = list(range(1, 21)) + list(range(25, 28))  # a gap after 20, a short run after it
    windows = Windows({0: frames}, cuts=[11], sigma=2.0)
    assert reach(2.0) == 6
    for frame in range(1, 11):
        used = windows.weights(frame, 0)
        assert all(f <= 10 for f, _ in used) and math.isclose(sum(w for _, w in used), 1.0)
    assert {f for f, _ in windows.weights(11, 0)} <= set(range(11, 18))
    assert windows.weights(26, 0) == [(26, 1.0)]  # 3 frames: not smoothed
    assert windows.weights(5, 1) == [(5, 1.0)]  # another track has no run here
    assert windows.needed([(1, 0)]) == list(range(1, 8))
    assert Windows({0: frames}, cuts=[], sigma=0.0).weights(5, 0) == [(5, 1.0)]


@pytest.mark.parametrize("mode", ["average", "reinhard", "histogram", "seamless"])
def test_steady_colour_follows_the_neighbourhood_not_the_frame(mode):
    """A plate crop that pulses frame to frame gets one smoothed colour transform, in every
    colour mode: the face comes out at the neighbourhood's colour, not the frame's."""
    from faceplate.convert.colour_match import apply, face_weight
    from faceplate.convert.temporal import FaceSample, frame_colour, steady
    from faceplate.face.align import crop_matrix, invert, mean_face, transform_points

    size, rng = 64, np.random.default_rng(0)
    matrix = np.array([[1 / 200.0, 0, 0], [0, 1 / 200.0, 0]])
    landmarks = transform_points(mean_face("whole_face") * size, invert(crop_matrix(matrix, size)))
    face = np.clip(0.5 + 0.05 * rng.standard_normal((size, size, 3)), 0, 1).astype(np.float32)
    samples = [FaceSample(face, np.ones((size, size), np.float32),
                          np.full((size, size, 3), 0.4 + 0.1 * (i % 2), np.float32)
                          + 0.02 * rng.standard_normal((size, size, 3)).astype(np.float32),
                          matrix, landmarks) for i in range(5)]
    weight = face_weight(landmarks, matrix, samples[0].learned, "components")
    assert weight.sum() > 100
    inside = weight > 0.5
    weights = [0.2] * 5
    parts = [(w, frame_colour(mode, s, "components", "hull*learned"))
             for w, s in zip(weights, samples)]
    result = steady(samples[2], list(zip(weights, samples)), parts, 0.0)
    assert result.colour is not None and result.colour.mode == mode
    per_frame = [float(apply(t, face)[inside].mean()) for _, t in parts]  # 0.5, 0.4, 0.5, …
    smoothed = float(apply(result.colour, face)[inside].mean())
    assert abs(smoothed - np.mean(per_frame)) < 0.01, (smoothed, per_frame)
    assert abs(smoothed - per_frame[2]) > 0.03
