"""Plate grain: measured on a textured face shot, made again for the swap, and the round trip
the merge does (regrain a clean swap from the plate's measurement) matches the plate's grain
frame to frame."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from faceplate.convert.grain import Grain, low_pass, measure, synthesize, unit_grain
from faceplate.convert.match_figures import grain_ratio, temporal_grain
from skimage import data

# Grain std per channel: K_c · sqrt(value_c + FLOOR), value_c the clean image's own channel
# (shot noise over a read-noise floor).
K = np.array([0.03, 0.024, 0.039])
FLOOR = 0.02


def _still() -> np.ndarray:
    """The astronaut's face with hair, helmet ring and background, linear light, as a clean
    high-resolution render would be (her photo's own film grain blurred away), 600×600."""
    crop = data.astronaut()[30:230, 130:330].astype(np.float32) / 255.0
    clean = cv2.GaussianBlur(crop ** 2.2, (0, 0), 1.0)
    return cv2.resize(clean, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)


@pytest.fixture(scope="module")
def still() -> np.ndarray:
    return _still()


def _truth(values: np.ndarray) -> np.ndarray:
    """…×C channel values → the grain std of each channel there."""
    return K * np.sqrt(np.maximum(values, 0.0) + FLOOR)


def _grain(still: np.ndarray, size: float, seed: int) -> np.ndarray:
    n = unit_grain(still.shape, size, None, np.random.default_rng(seed))
    return (n * _truth(still)).astype(np.float32)


def _face_matte(shape: tuple[int, ...]) -> np.ndarray:
    matte = np.zeros(shape[:2], np.float32)
    cv2.ellipse(matte, (shape[1] // 2, shape[0] // 2), (shape[1] // 3, shape[0] * 2 // 5), 0,
                0, 360, 1.0, -1)
    return matte


def test_the_texture_alone_reads_as_far_less_than_the_grain(still):
    clean = measure(still)
    assert clean is not None
    # The face's own texture, read as grain, is under the grain the plate will carry (the
    # fitted model reads it as ~0.12 of it), so the grain tests below measure grain on
    # texture, not on a flat card.
    worst = np.max(clean.sigma / _truth(clean.levels), axis=1)
    assert 0.05 < worst.max() < 0.9


@pytest.mark.parametrize("size", [0.0, 0.7, 1.2])
def test_measure_recovers_the_grain_on_a_textured_face(still, size):
    grain = measure(still + _grain(still, size, seed=1))
    assert grain is not None and grain.sigma.shape == (8, 3) and grain.levels.shape == (8, 3)
    error = grain.sigma / _truth(grain.levels) - 1.0
    if size <= 0.7:
        # Per band and channel within ±10 %.
        assert np.abs(error).max() < 0.10, np.round(error, 3)
    else:
        # Coarser grain leaves less of itself above the high-pass, so the hair's texture counts
        # for more: ±10 % except the hair's band, which reads up to +20 % high.
        assert np.abs(np.delete(error, 1, axis=0)).max() < 0.10, np.round(error, 3)
        assert np.abs(error).max() < 0.20, np.round(error, 3)
    if size == 0.0:
        assert grain.size < 0.4  # white: finer than the estimator can tell from zero
    else:
        assert abs(grain.size / size - 1.0) < 0.25, grain.size
    # Independent channels read as nearly uncorrelated.
    corr = grain.mixing @ grain.mixing.T
    assert np.abs(corr - np.eye(3)).max() < 0.1


def test_measure_finds_correlated_channels_and_only_counts_where_asked():
    ramp = np.linspace(0.05, 0.8, 256, dtype=np.float32)[None, :, None] * np.ones(
        (256, 1, 3), np.float32)
    corr = np.array([[1.0, 0.7, 0.5], [0.7, 1.0, 0.7], [0.5, 0.7, 1.0]])
    n = unit_grain(ramp.shape, 0.7, np.linalg.cholesky(corr), np.random.default_rng(4))
    plate = ramp + 0.01 * n
    # The left third is wrecked by texture; ``where`` leaves it out.
    plate[:, :80] += 0.2 * np.random.default_rng(5).random((256, 80, 3), np.float32)
    where = np.zeros(ramp.shape[:2], bool)
    where[:, 96:] = True
    grain = measure(plate, where)
    assert grain is not None
    assert np.abs(grain.sigma / 0.01 - 1.0).max() < 0.10
    assert np.abs(grain.mixing @ grain.mixing.T - corr).max() < 0.1
    assert measure(plate[:20, :20]) is None


def test_synthesize_is_the_same_for_the_same_seed_and_new_for_another(still):
    grain = measure(still + _grain(still, 0.7, seed=2))
    assert grain is not None
    base = still[:200, :300]
    one, again = synthesize(grain, base, (7, 3)), synthesize(grain, base, (7, 3))
    other = synthesize(grain, base, (7, 4))
    assert one.dtype == np.float32 and one.shape == base.shape
    assert np.array_equal(one, again)
    assert not np.array_equal(one, other)
    assert abs(float(one.mean())) < 0.1 * float(one.std())


def test_grain_serialises_and_scales(still):
    grain = measure(still + _grain(still, 0.7, seed=3))
    assert grain is not None
    doc = json.loads(json.dumps(grain.to_dict()))
    assert set(doc) == {"size", "levels", "sigma", "mixing"}
    assert len(doc["sigma"]) == len(doc["levels"]) and len(doc["sigma"][0]) == 3
    half = grain.scaled(0.5, size=2.0)
    assert half.size == 2.0 and np.allclose(half.sigma, grain.sigma * 0.5)
    assert grain.scaled(2.0).size == grain.size
    # The amplitude is the measured std at each band centre, and clamped past the ends.
    assert np.array(doc["levels"]).shape == grain.levels.shape
    # The amplitude is the measured std at each band centre (each channel at its own value),
    # and clamped past the ends.
    at = grain.amplitude(grain.levels[None].astype(np.float32))[0]
    assert np.allclose(at, grain.sigma, rtol=1e-4)
    ends = grain.amplitude(np.array([[[-1.0] * 3, [10.0] * 3]], np.float32))[0]
    lowest, highest = np.argmin(grain.levels, axis=0), np.argmax(grain.levels, axis=0)
    assert np.allclose(ends[0], grain.sigma[lowest, range(3)], rtol=1e-5)
    assert np.allclose(ends[1], grain.sigma[highest, range(3)], rtol=1e-5)


def test_regrained_swap_matches_the_plates_grain_frame_to_frame(still):
    """The merge's round trip: the plate is the still plus fresh grain each frame; the swap
    is the clean (a little smoother) still; it is regrained from each frame's measurement of
    the plate. Frame to frame its grain is the plate's in every band and channel."""
    swap = cv2.GaussianBlur(still, (0, 0), 0.6)
    matte = _face_matte(still.shape)
    for size in (0.0, 0.7, 1.2):
        plates, regrained = [], []
        for t in range(5):
            plate = still + _grain(still, size, seed=100 + t)
            grain = measure(plate)
            assert grain is not None
            plates.append(plate)
            regrained.append(swap + synthesize(grain, swap, seed=(t,)))
        ratio = grain_ratio(regrained, plates, matte)
        assert ratio.shape == (3, 3)
        assert np.all((ratio > 0.85) & (ratio < 1.15)), (size, np.round(ratio, 3))


def test_temporal_grain_reads_the_grain_not_the_face(still):
    frames = [still + _grain(still, 0.7, seed=200 + t) for t in range(4)]
    matte = _face_matte(still.shape)
    edges, std = temporal_grain(frames, matte)
    assert edges.shape == (4,) and std.shape == (3, 3)
    # Each band's truth: the rms of each channel's std over the band's pixels (the bands are
    # of the mean of the channels, low-passed).
    lum = low_pass(np.mean(frames, axis=0)).mean(axis=2)
    band = np.clip(np.searchsorted(edges[1:-1], lum, side="right"), 0, 2)
    truth = np.array([np.sqrt(np.mean(_truth(still[(band == b) & (matte > 0)]) ** 2, axis=0))
                      for b in range(3)])
    assert np.all(np.abs(std / truth - 1.0) < 0.05), np.round(std / truth, 3)
    _, none = temporal_grain([still, still], matte, edges=edges)
    assert np.all(none == 0)


def test_grain_is_a_frozen_record():
    g = Grain(size=0.5, levels=np.array([[0.1, 0.2, 0.3], [0.5, 0.4, 0.6]]),
              sigma=np.ones((2, 3)) * 0.01, mixing=np.eye(3))
    with pytest.raises(AttributeError):
        g.size = 1.0  # type: ignore[misc]
    assert g.amplitude(np.zeros((4, 5, 3))).shape == (4, 5, 3)
    with pytest.raises(ValueError):
        g.amplitude(np.zeros((4, 5)))


def test_regrained_camera_shot_matches_the_plates_grain_per_channel(tmp_path):
    """The merge's round trip on the synthetic camera's astronaut (grain std_c = k_c·√value_c,
    each channel from its own value, so on skin red and blue differ): the box around the face
    from its landmarks; the plate is the clean frame plus the camera's fresh grain each frame,
    regrained from each frame's measurement. Frame to frame the regrained face's grain is the
    plate's within ±15 % in every band and channel."""
    from faceplate import samples
    from faceplate.io.colour import ColourSpaces

    camera = samples.Camera(grain=(0.035, 0.045, 0.06), grain_size=0.8)
    shot = samples.make_camera_shot("astronaut", str(tmp_path), camera, frames=1)
    matrix = shot.matrices[shot.frames[0]]
    points = shot.to_plate(shot.frames[0], samples.source_landmarks("astronaut"))
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    mx, my = 0.15 * (x1 - x0), 0.15 * (y1 - y0)
    rows, cols = slice(int(y0 - my), int(y1 + my)), slice(int(x0 - mx), int(x1 + mx))
    hull = np.zeros((shot.size[1], shot.size[0]), np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(points.astype(np.int32)), 1)
    weight = hull[rows, cols].astype(np.float32)
    colour = ColourSpaces(shot.colourspace)
    clean = samples.camera_frame("astronaut", matrix, shot.size, samples.Camera(), colour,
                                 np.random.default_rng(0))[rows, cols]
    rng = np.random.default_rng(7)
    plates, regrained = [], []
    for t in range(6):
        plate = samples.camera_frame("astronaut", matrix, shot.size, camera, colour,
                                     rng)[rows, cols]
        grain = measure(plate)
        assert grain is not None
        plates.append(plate)
        regrained.append(clean + synthesize(grain, clean, seed=(t,)))
    ratio = grain_ratio(regrained, plates, weight)
    assert ratio.shape == (3, 3)
    assert np.all((ratio > 0.85) & (ratio < 1.15)), np.round(ratio, 3)
