"""Frame patterns and ranges as TDs type them."""

import numpy as np
import pytest
from faceplate.io.images import ImageError, read_image, write_image
from faceplate.io.sequence import (
    SequenceError,
    SequencePattern,
    format_frame_range,
    open_plate,
    parse_frame_range,
)


def test_frame_ranges():
    assert parse_frame_range("1001-1004") == [1001, 1002, 1003, 1004]
    assert parse_frame_range("1-9x4,20") == [1, 5, 9, 20]
    assert format_frame_range([1, 2, 3, 7, 9, 10]) == "1-3,7,9-10"
    with pytest.raises(SequenceError):
        parse_frame_range("10-1")
    with pytest.raises(SequenceError):
        parse_frame_range("abc")


@pytest.mark.parametrize("spelling", ["plate.####.exr", "plate.%04d.exr", "plate.@@@@.exr"])
def test_patterns_find_frames_on_disk(tmp_path, spelling):
    for f in (1001, 1002, 1005):
        write_image(str(tmp_path / f"plate.{f:04d}.exr"), np.zeros((4, 4, 3)), ["R", "G", "B"])
    plate = open_plate(str(tmp_path / spelling))
    assert plate.frames == (1001, 1002, 1005)
    assert plate.frame_path(1002) == str(tmp_path / "plate.1002.exr")
    assert SequencePattern.parse(str(tmp_path / spelling)).hashes.endswith("plate.####.exr")
    assert open_plate(str(tmp_path / spelling), "1002-1003").frames == (1002, 1003)


def test_exr_round_trip_keeps_named_channels_metadata_and_values_above_one(tmp_path):
    path = str(tmp_path / "a.exr")
    px = np.random.default_rng(0).uniform(0, 8, (6, 5, 5)).astype(np.float32)
    names = ["R", "G", "B", "A", "facemask.face"]
    write_image(path, px, names, {"faceplate/synthetic": "1"}, pixel_type="float")
    img = read_image(path)
    for i, n in enumerate(names):
        np.testing.assert_array_equal(img.channel(n), px[..., i])
    assert img.metadata["faceplate/synthetic"] == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["a.exr"]  # no temporary left behind


def test_unreadable_files_give_messages(tmp_path):
    bad = tmp_path / "bad.exr"
    bad.write_bytes(b"not an exr")
    with pytest.raises(ImageError, match="cannot read"):
        read_image(str(bad))
    with pytest.raises(SequenceError, match="no frames"):
        open_plate(str(tmp_path / "none.####.exr"))


def test_to_half_gives_the_bits_numpys_conversion_gives():
    """The layers reach the writer through to_half (OpenCV's vectorised conversion): every
    value must round as NumPy's astype rounds it, edge cases included."""
    import warnings

    from faceplate.io.images import to_half

    edges = np.array([0.0, -0.0, 1e-8, 6e-8, 3e-5, 6.1e-5, 65504, 65519, 65520, 7e4, -7e4,
                      np.inf, -np.inf, np.nan, 1 / 3, -2.5, 1e-3], np.float32)
    rng = np.random.default_rng(0)
    for values in (edges, rng.normal(0, 100, (37, 29, 15)).astype(np.float32),
                   rng.random((5, 7, 3)).astype(np.float32)[:, 1:5]):  # a strided view
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NumPy warns of the overflow to inf
            want = values.astype(np.float16)
        got = to_half(values)
        assert got.dtype == np.float16 and got.shape == values.shape
        np.testing.assert_array_equal(got.view(np.uint16), want.view(np.uint16))
