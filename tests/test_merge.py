"""Merging swapped faces into a plate, on arrays: mattes, untouched pixels, scale, many faces."""

import dataclasses

import numpy as np
import pytest
from engine_helpers import PLAIN
from faceplate.convert.masks import MASK_FLOOR
from faceplate.convert.merge import LAYER_COUNT, SwappedFace, merge_faces
from faceplate.convert.settings import MergeSettings, SettingsError
from faceplate.extract.backends.dlib_backend import DlibBackend
from faceplate.face.align import alignment_matrix, warp_to_crop
from faceplate.io.colour import NETWORK_SPACE, ColourSpaces
from faceplate.samples import source_image

SIZE = 128


@pytest.fixture(scope="module")
def photo():
    """The astronaut photo (sRGB) and her real dlib landmarks."""
    rgb = source_image("astronaut")
    (face,) = DlibBackend().detect(rgb)[:1]
    return rgb, face.landmarks


def null_swap(plate_net, landmarks, shift=(0.0, 0.0)):
    """A swapped face that is the plate's own crop (a null swap), optionally moved."""
    points = landmarks + np.asarray(shift)
    matrix = alignment_matrix(points, "whole_face")
    crop = warp_to_crop(plate_net, matrix, SIZE)
    return SwappedFace(crop, np.ones((SIZE, SIZE), np.float32), matrix, points)


def merged(plate, faces, settings, colour=None):
    """The blend alone: plate match (grain, softness, motion blur) off, so values are exact."""
    rgb = plate.copy()
    alpha = np.ones(rgb.shape[:2], np.float32)
    layers = merge_faces(rgb, alpha, faces, colour or ColourSpaces(NETWORK_SPACE),
                         dataclasses.replace(settings, **PLAIN))
    return rgb, alpha, layers


def test_pixels_outside_the_matte_are_untouched_even_nan_and_hdr(photo):
    rgb, landmarks = photo
    plate = rgb.copy()
    plate[:20, :20] = np.nan  # renders do carry these
    plate[-40:, -40:] = 37.5  # and highlights far above 1.0
    swapped = null_swap(np.nan_to_num(plate), landmarks)
    swapped.face[:] = 0.5  # a flat grey "face": the change is obvious inside
    out, _, layers = merged(plate, [swapped], MergeSettings(colour="none"))
    outside = layers.face == 0
    np.testing.assert_array_equal(out[outside], plate[outside])  # NaN == NaN here
    assert np.isnan(out[:20, :20]).all() and (out[-40:, -40:] == 37.5).all()
    m = layers.face[..., None]
    expected = m * 0.5 + (1 - m) * plate  # premultiplied "over" with the matte
    err = np.abs(out - expected)[layers.face > 0]
    # Exact but for a few pixels on the crop's very edge, where the matte has faded out.
    assert np.quantile(err, 0.999) < 1e-6 and err.max() < 5e-3
    assert (layers.face > 0.99).sum() > 1000
    assert layers.face[layers.face > 0].min() >= MASK_FLOOR


def test_erode_shrinks_dilate_grows_blur_feathers(photo):
    rgb, landmarks = photo
    face = [null_swap(rgb, landmarks)]
    area = {}
    for name, erode, blur in (("sharp", 0, 0), ("eroded", 6, 0), ("dilated", -6, 0),
                              ("feathered", 0, 4)):
        _, _, layers = merged(rgb, face, MergeSettings(mask="hull", erode=erode, blur=blur))
        area[name] = (layers.face > 0).sum()
        soft = ((layers.face > 0) & (layers.face < 1)).sum()
        if name == "feathered":
            assert soft > 0.3 * (layers.face > 0.5).sum() ** 0.5 * 4  # a soft band all round
        elif name == "sharp":
            assert soft < 0.1 * area["sharp"]  # only antialiased edges
    assert area["eroded"] < 0.9 * area["sharp"] < area["sharp"] < area["dilated"]
    assert area["feathered"] > area["sharp"]


def test_face_scale_grows_the_face_about_its_centre(photo):
    rgb, landmarks = photo
    face = [null_swap(rgb, landmarks)]
    _, _, one = merged(rgb, face, MergeSettings(mask="hull", blur=0))
    _, _, big = merged(rgb, face, MergeSettings(mask="hull", blur=0, scale=1.2))
    ratio = (big.hull > 0.5).sum() / (one.hull > 0.5).sum()
    assert ratio == pytest.approx(1.44, rel=0.05)
    centre = lambda m: np.argwhere(m > 0.5).mean(0)
    assert np.abs(centre(big.hull) - centre(one.hull)).max() < 3


def test_several_faces_in_one_frame_all_merge(photo):
    rgb, landmarks = photo
    wide = np.concatenate([rgb, rgb], axis=1)  # two people side by side
    faces = [null_swap(wide, landmarks), null_swap(wide, landmarks, (rgb.shape[1], 0))]
    for f in faces:
        f.face[:] = 0.25
    out, _, layers = merged(wide, faces, MergeSettings(mask="hull", colour="none", blur=2))
    left, right = layers.face[:, :512], layers.face[:, 512:]
    assert (left > 0.99).sum() == pytest.approx((right > 0.99).sum(), rel=0.02)
    assert layers.box.x0 < 512 < layers.box.x1
    np.testing.assert_array_equal(out[layers.face == 0], wide[layers.face == 0])


def test_learned_mask_and_product(photo):
    rgb, landmarks = photo
    face = null_swap(rgb, landmarks)
    face.learned[:, : SIZE // 2] = 0.0  # the model says: only the right half of the crop
    _, _, hull = merged(rgb, [face], MergeSettings(mask="hull", blur=0))
    _, _, learned = merged(rgb, [face], MergeSettings(mask="learned", blur=0))
    _, _, product = merged(rgb, [face], MergeSettings(mask="hull*learned", blur=0))
    assert (product.face > 0.5).sum() < 0.6 * (hull.face > 0.5).sum()
    assert (product.face <= np.minimum(hull.face, learned.face) + 1e-6).all()
    np.testing.assert_array_equal(product.learned, learned.learned)


def test_scene_linear_plate_keeps_its_colour_through_the_merge(photo):
    rgb, landmarks = photo
    colour = ColourSpaces("ACEScg")
    plate = colour.to_plate(rgb) * 3.0  # exposed up: skin well above 1.0 in places
    swapped = null_swap(np.clip(colour.to_network(plate), 0, 1), landmarks)
    out, _, layers = merged(plate, [swapped], MergeSettings(mask="hull", colour="none"),
                            colour)
    unclipped = colour.to_network(plate).max(-1) < 0.98  # where the null swap is not clipped
    inside = (layers.face > 0.99) & unclipped
    ratio = out[inside].mean(0) / plate[inside].mean(0)  # no colour drift, only resampling
    np.testing.assert_allclose(ratio, 1.0, atol=0.01)


def test_settings_round_trip_and_reject_bad_values():
    s = MergeSettings(mask="hull", erode=3, blur=2.5, colour="seamless", sharpen=0.5, scale=1.1)
    assert MergeSettings.from_dict(s.to_dict()) == s
    assert s.digest() != MergeSettings().digest()
    names = [k["name"] for k in MergeSettings.knobs()]
    assert names[:2] == ["mask", "mask_image"] and "colour" in names
    with pytest.raises(SettingsError, match="needs a matte"):
        MergeSettings(mask="image")
    with pytest.raises(SettingsError, match="unknown merge settings"):
        MergeSettings.from_dict({"feather": 3})
    with pytest.raises(SettingsError, match="between 0.5 and 2"):
        MergeSettings(scale=3)


def test_sharpen_adds_detail_inside_the_face_only(photo):
    rgb, landmarks = photo
    face = [null_swap(rgb, landmarks)]
    soft, _, layers = merged(rgb, face, MergeSettings(mask="hull", colour="none"))
    crisp, _, _ = merged(rgb, face, MergeSettings(mask="hull", colour="none", sharpen=1.5))
    inside = layers.face > 0.99

    def detail(img):
        return np.abs(np.diff(img, axis=1))[inside[:, 1:]].mean()

    assert detail(crisp) > 1.3 * detail(soft)
    np.testing.assert_array_equal(crisp[layers.face == 0], rgb[layers.face == 0])


def test_faces_leaving_the_frame(photo):
    rgb, landmarks = photo
    half_out = null_swap(rgb, landmarks)
    half_out.face[:] = 0.5
    shift = np.array([-210.0, 0.0])  # the face's centre sits on the left edge
    half_out.landmarks = half_out.landmarks + shift
    half_out.matrix = alignment_matrix(half_out.landmarks, "whole_face")
    gone = null_swap(rgb, landmarks, (-2000.0, 0.0))
    out, _, layers = merged(rgb, [half_out, gone], MergeSettings(mask="hull", colour="average"))
    assert layers.face[:, :5].max() > 0.99 and layers.box.x0 == 0
    assert layers.face[:, 150:].max() == 0
    np.testing.assert_array_equal(out[layers.face == 0], rgb[layers.face == 0])


def test_layers_are_stored_over_the_faces_extent_only(photo):
    """Each layer lives in one box-sized array: every non-zero layer pixel of two faces (one
    cut by the frame's edge) is inside the extent, which is far smaller than the frame."""
    rgb, landmarks = photo
    wide = np.concatenate([rgb, rgb], axis=1)
    left = null_swap(wide, landmarks, shift=(-200.0, 0.0))  # reaches past the left edge
    right = null_swap(wide, landmarks, shift=(512.0, 0.0))
    _, _, layers = merged(wide, [left, right], MergeSettings(colour="none"))
    e = layers.extent
    assert layers.data.shape == (e.height, e.width, LAYER_COUNT)
    assert e.x0 == 0 and e.width * e.height < 0.8 * wide.shape[0] * wide.shape[1]
    for plane in (layers.face, layers.learned, layers.hull, layers.regions, layers.raw,
                  layers.st):
        assert plane.shape[:2] == wide.shape[:2]
        outside = np.ones(wide.shape[:2], bool)
        outside[e.slices] = False
        assert not plane[outside].any()
    # Both faces are in every layer (the ST map's valid channel, the raw render's alpha).
    for x in (100, 512 + 256):
        assert layers.st[:, x - 20:x + 20, 2].max() == 1.0
        assert layers.raw[:, x - 20:x + 20, 3].max() > 0.5
