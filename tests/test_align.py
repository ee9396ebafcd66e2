"""Alignment as convert relies on it: plate → crop → plate lands where it started."""

import cv2
import numpy as np
import pytest
from faceplate.errors import FaceplateError
from faceplate.face.align import (
    FACE_TYPES,
    alignment_matrix,
    crop_matrix,
    invert,
    mean_face,
    transform_points,
    umeyama,
    warp_from_crop,
    warp_from_crop_box,
    warp_to_crop,
)
from faceplate.face.mask import landmark_mask
from faceplate.face.meanface import MEAN_FACE, MIRROR


def _similarity(scale, degrees, tx, ty):
    a = np.radians(degrees)
    lin = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.hstack([lin, [[tx], [ty]]])


def _plate_face(scale=300.0, degrees=12.0, tx=700.0, ty=260.0):
    """Mean-face landmarks placed in a 1920×1080 plate by a known similarity."""
    return transform_points(MEAN_FACE, _similarity(scale, degrees, tx, ty))


def test_umeyama_recovers_a_known_similarity():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, (30, 2))
    truth = _similarity(1.7, -33.0, 12.0, -4.0)
    np.testing.assert_allclose(umeyama(src, transform_points(src, truth)), truth, atol=1e-9)


def test_alignment_puts_the_face_on_the_mean_face_for_every_type():
    plate_pts = _plate_face()
    for face_type in FACE_TYPES:
        m = alignment_matrix(plate_pts, face_type)
        np.testing.assert_allclose(transform_points(plate_pts, m), mean_face(face_type),
                                   atol=1e-9)
    # Wider framings hold the same face smaller: head ⊃ whole_face ⊃ face.
    spans = [np.ptp(mean_face(t)[:, 0]) for t in ("face", "whole_face", "head")]
    assert spans[0] > spans[1] > spans[2]
    assert np.all((mean_face("face") > 0) & (mean_face("face") < 1))


def test_mean_face_is_symmetric_and_fills_the_unit_square():
    mirrored = MEAN_FACE[MIRROR] * [-1, 1] + [1, 0]
    np.testing.assert_allclose(mirrored, MEAN_FACE, atol=1e-6)
    assert MEAN_FACE.min() == pytest.approx(0.0, abs=1e-6)
    assert MEAN_FACE.max() == pytest.approx(1.0, abs=1e-6)


def _dots(shape, points, sigma=2.0):
    """An image of soft round dots, whose centres can be measured to a fraction of a pixel."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w), np.float32)
    for x, y in points:
        img += np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2)).astype(np.float32)
    return img


def _centroid(img, near, radius=6):
    x, y = np.round(near).astype(int)
    patch = img[y - radius:y + radius + 1, x - radius:x + radius + 1].clip(0)
    yy, xx = np.mgrid[y - radius:y + radius + 1, x - radius:x + radius + 1]
    return np.array([(xx * patch).sum(), (yy * patch).sum()]) / patch.sum()


def test_warp_to_crop_and_back_returns_within_half_a_pixel():
    plate_pts = _plate_face(scale=260.0)
    probes = plate_pts[[30, 36, 45, 48, 54, 8]]  # nose, eye corners, mouth corners, chin
    plate = _dots((1080, 1920), probes, sigma=3.0)
    m = alignment_matrix(plate_pts, "whole_face")
    size = 512
    crop = warp_to_crop(plate[..., None], m, size)
    in_crop = transform_points(probes, crop_matrix(m, size))
    for p in in_crop:  # the matrix says where each probe lands in the crop
        assert np.linalg.norm(_centroid(crop[..., 0], p) - p) < 0.5
    back = warp_from_crop(crop, m, (1920, 1080))[..., 0]
    errors = [np.linalg.norm(_centroid(back, p) - p) for p in probes]
    print("crop round trip error px:", np.round(errors, 3))
    assert max(errors) < 0.5


def test_box_limited_warp_matches_the_full_frame_warp():
    m = alignment_matrix(_plate_face(), "face")
    crop = np.random.default_rng(0).uniform(0, 1, (256, 256, 3)).astype(np.float32)
    full = warp_from_crop(crop, m, (1920, 1080))
    patch, (x0, y0, x1, y1) = warp_from_crop_box(crop, m, (1920, 1080))
    # OpenCV resamples at 1/32 px steps: a different origin rounds a little differently.
    np.testing.assert_allclose(patch, full[y0:y1, x0:x1], atol=2e-3)
    outside = full.copy()
    outside[y0:y1, x0:x1] = 0
    assert np.abs(outside).max() == 0  # nothing of the face lies outside the box
    assert (x1 - x0) * (y1 - y0) < 0.2 * 1920 * 1080
    assert warp_from_crop_box(crop, transform_m_offframe(m), (1920, 1080)) is None


def transform_m_offframe(m):
    shifted = invert(m)
    shifted[:, 2] += 5000.0
    return invert(shifted)


def test_bad_sizes_and_face_types_are_refused_with_a_message():
    m = alignment_matrix(_plate_face(), "face")
    with pytest.raises(FaceplateError, match="64"):
        warp_to_crop(np.zeros((10, 10, 3), np.float32), m, 32)
    with pytest.raises(FaceplateError, match="whole_face"):
        alignment_matrix(_plate_face(), "torso")
    with pytest.raises(FaceplateError, match="68"):
        alignment_matrix(np.zeros((5, 2)), "face")


def test_masks_cover_the_face_and_extended_adds_the_forehead():
    pts = _plate_face(degrees=0.0)
    hard = landmark_mask(pts, (1080, 1920), "components")
    ext = landmark_mask(pts, (1080, 1920), "extended")
    soft = landmark_mask(pts, (1080, 1920), "components", feather=12)
    hull = np.zeros((1080, 1920), np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(pts).astype(np.int32)), 1)
    inside = cv2.erode(hull, np.ones((5, 5), np.uint8)).astype(bool)
    outside = ~cv2.dilate(hull, np.ones((5, 5), np.uint8)).astype(bool)
    assert hard[inside].mean() > 0.95 and hard[outside].max() == 0.0
    brow_y = pts[17:27, 1].min()
    assert ext[: int(brow_y)].sum() > 20 * hard[: int(brow_y)].sum() + 1000
    assert soft.min() >= 0.0 and soft.max() <= 1.0 and soft.dtype == np.float32
    edge = (hard > 0.5) != (soft > 0.5)
    assert edge.sum() < 0.05 * inside.sum()  # feathering softens, it does not move the edge
    assert ((soft > 0.02) & (soft < 0.98)).sum() > ((hard > 0.02) & (hard < 0.98)).sum()
