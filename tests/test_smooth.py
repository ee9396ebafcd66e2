"""Smoothing: shaky landmarks on a moving face get steadier and closer to the truth."""

import numpy as np
import pytest
from faceplate.errors import FaceplateError
from faceplate.extract.smooth import gcv_sigma, interocular, jitter, smooth_track
from faceplate.face.align import transform_points
from faceplate.face.meanface import MEAN_FACE
from faceplate.samples import SOURCES, frame_matrix

FRAMES = list(range(1001, 1049))  # two seconds at 24 fps


def _true_track(source="grace_hopper"):
    """Mean-face landmarks carried through a sample shot's exact per-frame motion."""
    src = SOURCES[source]
    face = (MEAN_FACE - 0.5) * src["face_width"] + src["centre"]
    n = len(FRAMES)
    return np.array([transform_points(face, frame_matrix(source, i / (n - 1), 160.0, (960, 540)))
                     for i in range(n)])


def _error(track, truth):
    return float(np.linalg.norm(track - truth, axis=-1).mean() / interocular(truth).mean())


def test_smoothing_removes_jitter_added_to_a_moving_face():
    truth = _true_track()
    noisy = truth + np.random.default_rng(0).normal(0.0, 1.5, truth.shape)  # ≈2 % of the IOD
    smoothed = smooth_track(FRAMES, noisy, 0.5)
    report = {"jitter_true": jitter(truth), "jitter_noisy": jitter(noisy),
              "jitter_smoothed": jitter(smoothed), "error_noisy": _error(noisy, truth),
              "error_smoothed": _error(smoothed, truth)}
    print({k: round(v, 4) for k, v in report.items()})
    # Shake above the true motion's own acceleration is mostly gone…
    assert jitter(smoothed) - jitter(truth) < 0.2 * (jitter(noisy) - jitter(truth))
    # …and the landmarks are closer to the truth, not just steadier.
    assert _error(smoothed, truth) < 0.6 * _error(noisy, truth)
    stronger = smooth_track(FRAMES, noisy, 1.0)
    assert jitter(stronger) <= jitter(smoothed) + 1e-9


def test_clean_fast_motion_is_left_nearly_alone():
    truth = _true_track("astronaut")[::3]  # the same motion three times as fast
    frames = FRAMES[: len(truth)]
    assert _error(smooth_track(frames, truth, 0.5), truth) < 0.01


def test_strength_zero_is_off_and_quadratic_motion_is_kept_exactly():
    truth = _true_track()
    np.testing.assert_array_equal(smooth_track(FRAMES, truth, 0.0), truth)
    t = np.arange(30, dtype=float)
    parabola = np.stack([3 * t + 0.2 * t ** 2, -t + 0.05 * t ** 2], axis=-1)[:, None, :]
    np.testing.assert_allclose(smooth_track(list(range(30)), parabola, 1.0), parabola, atol=1e-6)


def test_gaps_split_a_track_so_nothing_leaks_across_an_occlusion():
    frames = list(range(1, 11)) + list(range(30, 40))
    pts = np.zeros((20, 68, 2))
    pts[10:] = 500.0  # the face is somewhere else after the gap
    pts += np.random.default_rng(1).normal(0, 1.0, pts.shape)
    out = smooth_track(frames, pts, 1.0)
    assert np.abs(out[:10]).max() < 5 and np.abs(out[10:] - 500).max() < 5


def test_gcv_picks_wider_windows_for_noisier_tracks():
    t = np.arange(48, dtype=float)
    clean = np.sin(t / 6.0)[:, None] * 40
    rng = np.random.default_rng(2)
    assert gcv_sigma(t, clean + rng.normal(0, 3.0, clean.shape)) > \
        gcv_sigma(t, clean + rng.normal(0, 0.05, clean.shape))


def test_strength_outside_zero_to_one_is_refused():
    with pytest.raises(FaceplateError, match="0–1"):
        smooth_track(FRAMES, _true_track(), 1.5)


def test_fixed_keys_keep_their_values_and_their_neighbours_blend_toward_them():
    from faceplate.extract.smooth import FIX_SIGMA, blend_fixed

    truth = _true_track()
    frames = list(FRAMES)
    key, earlier = 20, 14
    fixed = truth[key] + [6.0, -4.0]
    out = blend_fixed(frames, truth, {key: fixed, earlier: truth[earlier]}, 0.5)
    np.testing.assert_array_equal(out[key], fixed)  # exactly the artist's values
    np.testing.assert_array_equal(out[earlier], truth[earlier])  # an earlier fix stays put
    shift = (out - truth)[:, 8, 0]
    assert 6.0 > shift[key + 1] > shift[key + 2] > shift[key + 4] > 0.0  # fades out
    assert shift[key - 1] > shift[key - 3] > 0.0  # toward the earlier key: pulled back to it
    reach = int(np.ceil(3 * FIX_SIGMA * 0.5))
    far = [i for i in range(len(frames)) if abs(i - key) > reach]
    np.testing.assert_array_equal(out[far], truth[far])  # bit-identical out of reach
    # never across a cut, and smoothing 0 changes only the fixed frame
    cut = blend_fixed(frames, truth, {key: fixed}, 0.5, cuts={FRAMES[key + 1]})
    np.testing.assert_array_equal(cut[key + 1:], truth[key + 1:])
    off = blend_fixed(frames, truth, {key: fixed}, 0.0)
    changed = [i for i in range(len(frames)) if not np.array_equal(off[i], truth[i])]
    assert changed == [key]
