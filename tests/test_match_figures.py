"""The figures a merged face is judged by: a motion blur's length is recovered from the sharp
and blurred frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from faceplate.convert.match_figures import blur_length, line_kernel, sharpness_ratio
from skimage import data


def _box_blur(image: np.ndarray, length: float, direction: tuple[float, float]) -> np.ndarray:
    """A box blur made independently of the measure: the mean of many sub-pixel shifted
    copies along the direction."""
    shifts = (np.arange(128) + 0.5) / 128 - 0.5
    out = np.zeros_like(image)
    h, w = image.shape[:2]
    for t in shifts:
        m = np.float32([[1, 0, t * length * direction[0]], [0, 1, t * length * direction[1]]])
        out += cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT)
    return out / len(shifts)


@pytest.mark.parametrize("length", [6.0, 12.0])
def test_blur_length_recovers_a_diagonal_box_blur(length):
    sharp = (data.astronaut()[40:296, 120:376].astype(np.float32) / 255.0) ** 2.2
    direction = (float(np.cos(np.radians(35))), float(np.sin(np.radians(35))))
    blurred = _box_blur(sharp, length, direction)
    inside = np.zeros(sharp.shape[:2], np.float32)
    inside[40:-40, 40:-40] = 1.0
    found = blur_length(blurred, sharp, direction, inside)
    assert abs(found / length - 1.0) < 0.10, found
    assert blur_length(sharp, sharp, direction, inside) < 0.5
    assert sharpness_ratio(blurred, sharp, inside) < 0.7


def test_line_kernel_is_normalised_and_points_along_the_direction():
    k = line_kernel(9.0, (1.0, 0.0))
    assert abs(float(k.sum()) - 1.0) < 1e-5
    centre = k.shape[0] // 2
    assert np.allclose(k[centre].sum(), 1.0, atol=1e-5)  # horizontal: all in the middle row
    assert line_kernel(0.0, (0.0, 1.0)).shape == (3, 3)
