"""Colour matching a swapped face to its plate, on arrays (network space, 0–1, weighted)."""

import cv2
import numpy as np
import pytest
from faceplate.convert.colour_match import match_colour
from faceplate.convert.settings import COLOUR_MODES, SettingsError
from faceplate.samples import source_image


@pytest.fixture(scope="module")
def face_and_plate():
    """A real face crop, and the "plate" as the same face under a warmer, darker grade."""
    face = source_image("astronaut")[60:200, 160:280].copy()
    plate = np.clip(face * np.array([1.1, 0.9, 0.7], np.float32) * 0.8 + 0.05, 0, None)
    h, w = face.shape[:2]
    weight = np.zeros((h, w), np.float32)
    cv2.ellipse(weight, (w // 2, h // 2), (w // 3, h // 3), 0, 0, 360, 1.0, -1)
    return face, plate.astype(np.float32), weight


def _weighted_mean(img, weight):
    return (img * weight[..., None]).sum((0, 1)) / weight.sum()


@pytest.mark.parametrize("mode", ["average", "reinhard", "histogram", "seamless"])
def test_every_mode_moves_the_face_to_the_plate_colour(mode, face_and_plate):
    face, plate, weight = face_and_plate
    before = np.abs(_weighted_mean(face, weight) - _weighted_mean(plate, weight)).max()
    matched = match_colour(mode, face, plate, weight)
    after = np.abs(_weighted_mean(matched, weight) - _weighted_mean(plate, weight)).max()
    assert matched.shape == face.shape and matched.dtype == np.float32
    assert before > 0.05
    assert after < 0.2 * before, (mode, before, after)


def test_none_and_empty_weight_leave_the_face_alone(face_and_plate):
    face, plate, weight = face_and_plate
    assert match_colour("none", face, plate, weight) is face
    assert match_colour("reinhard", face, plate, np.zeros_like(weight)) is face


def test_average_is_an_exact_mean_shift(face_and_plate):
    face, plate, weight = face_and_plate
    matched = match_colour("average", face, plate, weight)
    np.testing.assert_allclose(_weighted_mean(matched, weight), _weighted_mean(plate, weight),
                               atol=1e-5)
    shift = matched - face
    np.testing.assert_allclose(shift, np.broadcast_to(shift[0, 0], shift.shape), atol=1e-6)


def test_reinhard_matches_spread_in_lab(face_and_plate):
    face, plate, weight = face_and_plate
    matched = match_colour("reinhard", face, plate, weight)
    lab = [cv2.cvtColor(np.clip(x, 0, 1), cv2.COLOR_RGB2Lab) for x in (matched, plate)]
    sel = weight > 0.5
    np.testing.assert_allclose(lab[0][sel].std(0), lab[1][sel].std(0), rtol=0.08)


def test_histogram_matches_quantiles(face_and_plate):
    face, plate, weight = face_and_plate
    matched = match_colour("histogram", face, plate, weight)
    sel = weight > 0.5
    for c in range(3):
        q_m = np.quantile(matched[..., c][sel], [0.1, 0.5, 0.9])
        q_p = np.quantile(plate[..., c][sel], [0.1, 0.5, 0.9])
        np.testing.assert_allclose(q_m, q_p, atol=0.02)


def test_seamless_takes_the_plate_at_the_boundary_and_keeps_face_detail(face_and_plate):
    face, _, weight = face_and_plate
    # The plate is the face with a smooth exposure ramp and values far above 1.0 (linear-ish).
    w = weight.shape[1]
    ramp = np.linspace(1.5, 3.0, w, dtype=np.float32)[None, :, None]
    plate = face * ramp + 0.5
    matched = match_colour("seamless", face, plate, weight)
    inside = cv2.erode(weight, np.ones((9, 9), np.uint8)) > 0.5
    ring = (weight > 0.5) & ~inside
    # On the mask's edge the result meets the plate; inside, detail (gradients) is the face's.
    assert np.abs(matched - plate)[ring].mean() < 0.25 * np.abs(face - plate)[ring].mean()
    grad = lambda x: np.diff(x, axis=1)[inside[:, 1:]]
    assert np.corrcoef(grad(matched).ravel(), grad(face).ravel())[0, 1] > 0.9
    assert matched.max() > 1.5  # float, not clipped to 8 bit


def test_unknown_mode_is_a_clear_error(face_and_plate):
    face, plate, weight = face_and_plate
    with pytest.raises(SettingsError, match="use one of"):
        match_colour("magic", face, plate, weight)
    assert "seamless" in COLOUR_MODES
