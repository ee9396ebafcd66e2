"""Softness matching: a swap crisper than a defocused plate is blurred until its detail falls
off like the plate's, grain or no grain (the blur found is the defocus); a swap softer than the plate is left alone and
reported."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from faceplate.convert.grain import measure, unit_grain
from faceplate.convert.match_figures import sharpness_ratio
from faceplate.convert.softness import Softness, detail, luminance, match, sharpness, soften
from skimage import data


@pytest.fixture(scope="module")
def still() -> np.ndarray:
    """The astronaut's face and surroundings, linear light, clean, 400×400."""
    crop = data.astronaut()[30:230, 130:330].astype(np.float32) / 255.0
    clean = cv2.GaussianBlur(crop ** 2.2, (0, 0), 0.8)
    return cv2.resize(clean, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)


def _matte(shape: tuple[int, ...]) -> np.ndarray:
    matte = np.zeros(shape[:2], np.float32)
    cv2.ellipse(matte, (shape[1] // 2, shape[0] // 2), (shape[1] // 3, shape[0] * 2 // 5), 0,
                0, 360, 1.0, -1)
    return cv2.GaussianBlur(matte, (0, 0), 4.0)


def _grain(still: np.ndarray, seed: int) -> np.ndarray:
    n = unit_grain(still.shape, 0.7, None, np.random.default_rng(seed))
    lum = cv2.GaussianBlur(still.mean(axis=2), (0, 0), 3.0)
    amp = np.array([0.015, 0.012, 0.02]) * np.sqrt(np.maximum(lum, 0) + 0.02)[..., None]
    return (n * amp).astype(np.float32)


@pytest.mark.parametrize("defocus", [1.5, 3.0])
@pytest.mark.parametrize("grainy", [False, True])
def test_a_crisp_swap_is_softened_to_the_plates_softness(still, defocus, grainy):
    grain = _grain(still, seed=11) if grainy else np.zeros_like(still)
    plate = cv2.GaussianBlur(still, (0, 0), defocus) + grain
    matte = _matte(still.shape)
    measured = measure(plate) if grainy else None
    result = match(still, plate, matte, measured)
    assert result.sigma > 0.5 and not result.swap_softer
    softened = soften(still, result.sigma) + grain
    assert abs(sharpness_ratio(softened, plate, matte) - 1.0) < 0.15
    # Before softening the swap read visibly sharper than the plate.
    assert sharpness_ratio(still + grain, plate, matte) > 1.15 or result.sigma > 1.0
    # The blur found is the defocus itself, near enough (under grain the fine bands, mostly
    # grain, count little): within ±15 % (found: 0.3 % / 2.3 % off without grain, +5 % / −1.5 %
    # with it).
    assert abs(result.sigma / defocus - 1.0) < 0.15, result.sigma


def test_grain_does_not_make_a_soft_plate_read_sharp(still):
    matte = _matte(still.shape)
    soft = cv2.GaussianBlur(still, (0, 0), 2.0)
    grainy = soft + _grain(still, seed=12)
    clean_figure = sharpness(luminance(soft), matte)
    raw = sharpness(luminance(grainy), matte)
    removed = sharpness(luminance(grainy), matte, measure(grainy), image=grainy)
    assert raw > 2.0 * clean_figure  # the grain alone would read as detail
    assert abs(removed / clean_figure - 1.0) < abs(raw / clean_figure - 1.0) / 3


def test_a_swap_softer_than_the_plate_is_not_sharpened_but_reported(still):
    matte = _matte(still.shape)
    soft_swap = cv2.GaussianBlur(still, (0, 0), 3.0)
    plate = cv2.GaussianBlur(still, (0, 0), 0.5) + _grain(still, seed=13)
    result = match(soft_swap, plate, matte, measure(plate))
    assert result.sigma == 0.0 and result.swap_softer
    assert soften(soft_swap, result.sigma) is soft_swap
    near = match(still, still, matte)
    assert near.sigma == 0.0 and not near.swap_softer
    assert set(result.to_dict()) == {"plate_sharpness", "swap_sharpness", "plate_blur",
                                     "swap_blur", "sigma", "swap_softer"}


def test_detail_is_weighted_inside_the_matte(still):
    lum = luminance(still)
    left = np.zeros(lum.shape, np.float32)
    left[:, :50] = 1.0
    flat = lum.copy()
    flat[:, :60] = 0.3
    assert detail(flat, left)[0] < 1e-10 < detail(lum, left)[0]
    assert detail(lum, np.zeros_like(lum)) == (0.0, 0.0)
    # Softer: the swap's edges spread wider than the plate's, by 10 % and a quarter pixel.
    assert Softness(1.0, 0.85, 0.0, plate_blur=1.0, swap_blur=1.5).swap_softer
    assert not Softness(1.0, 0.85, 0.0, plate_blur=1.0, swap_blur=1.1).swap_softer
    assert not Softness(1.0, 0.85, 0.0).swap_softer  # no edges to tell


def test_a_large_box_is_matched_on_its_centred_part(still):
    """A box larger than the part match reads (the matte runs past it on every side): the
    part's cut edges do not read as detail, and the defocus is found under grain."""
    big = np.pad(still, ((300, 300), (300, 300), (0, 0)), mode="reflect")  # 1000×1000
    matte = _matte(big.shape)
    rng = np.random.default_rng(3)
    grain = (unit_grain(big.shape, 0.8, None, rng) * 0.03
             * np.sqrt(np.maximum(big, 0.0))).astype(np.float32)
    plate = cv2.GaussianBlur(big, (0, 0), 2.0) + grain
    result = match(big, plate, matte, measure(plate))
    assert abs(result.sigma / 2.0 - 1.0) < 0.15, result.sigma
