"""Two people in a shot: tracks stay with their person, even across an exit and re-entry."""

import cv2
import numpy as np
import pytest
from faceplate.errors import FaceplateError
from faceplate.extract import alignments
from faceplate.extract.backends.base import Detection
from faceplate.extract.backends.dlib_backend import DlibBackend
from faceplate.extract.pipeline import extract_shot
from faceplate.extract.select import Selection
from faceplate.extract.track import Tracker
from faceplate.io.images import write_image
from faceplate.samples import SOURCES, source_image

SIZE = (640, 360)
AWAY = range(5, 19)  # Grace Hopper leaves for 14 frames, longer than a track waits by overlap


def _place(canvas, name, face_px, centre):
    src = SOURCES[name]
    s = face_px / src["face_width"]
    m = np.array([[s, 0, centre[0] - s * src["centre"][0]],
                  [0, s, centre[1] - s * src["centre"][1]]])
    photo = source_image(name)
    warped = cv2.warpAffine(photo, m, SIZE, flags=cv2.INTER_AREA)
    inside = cv2.warpAffine(np.ones(photo.shape[:2], np.float32), m, SIZE)[..., None]
    half = np.zeros_like(inside)
    if centre[0] < SIZE[0] / 2:
        half[:, : SIZE[0] // 2] = 1
    else:
        half[:, SIZE[0] // 2:] = 1
    return canvas * (1 - inside * half) + warped * inside * half


@pytest.fixture(scope="module")
def two_people(tmp_path_factory):
    root = tmp_path_factory.mktemp("two")
    for frame in range(1, 21):
        canvas = np.zeros((SIZE[1], SIZE[0], 3), np.float32)
        canvas = _place(canvas, "astronaut", 150, (170 + 2 * frame, 170))
        if frame not in AWAY:
            canvas = _place(canvas, "grace_hopper", 100, (470 - 2 * frame, 180))
        write_image(str(root / f"two.{frame:04d}.png"), canvas, ["R", "G", "B"])
    reference = str(root / "grace.png")
    write_image(reference, source_image("grace_hopper"), ["R", "G", "B"])
    return str(root / "two.####.png"), reference


@pytest.fixture(scope="module")
def backend():
    return DlibBackend()


def _tracks_by_side(result):
    """Track ids seen on the left (astronaut) and right (Grace Hopper) per frame."""
    left, right = {}, {}
    for frame, faces in result.frames.items():
        for face in faces:
            side = left if face.landmarks[:, 0].mean() < SIZE[0] / 2 else right
            side[frame] = face.track
    return left, right


def test_each_person_keeps_one_track_through_an_exit_and_return(two_people, tmp_path, backend):
    plate, _ = two_people
    summary = extract_shot(plate, str(tmp_path / "all"), backend=backend, preview=False)
    left, right = _tracks_by_side(alignments.load(str(tmp_path / "all")))
    assert sorted(left) == list(range(1, 21))
    assert sorted(right) == [f for f in range(1, 21) if f not in AWAY]
    assert len(set(left.values())) == 1 and len(set(right.values())) == 1
    assert set(left.values()) != set(right.values())
    assert summary.tracks == sorted(set(left.values()) | set(right.values()))


def test_pick_a_person_by_reference_photo_by_index_or_by_track(two_people, tmp_path, backend):
    plate, reference = two_people
    by_ref = extract_shot(plate, str(tmp_path / "ref"), backend=backend,
                          select=f"ref:{reference}", preview=False)
    left, right = _tracks_by_side(alignments.load(str(tmp_path / "ref")))
    assert not left and sorted(right) == [f for f in range(1, 21) if f not in AWAY]
    assert by_ref.exit_code == 1 and by_ref.no_face == list(AWAY)

    extract_shot(plate, str(tmp_path / "index"), backend=backend, select="index:0", preview=False)
    left, right = _tracks_by_side(alignments.load(str(tmp_path / "index")))
    assert sorted(left) == list(range(1, 21)) and not right  # the larger face

    astronaut_track = next(iter(left.values()))
    extract_shot(plate, str(tmp_path / "track"), backend=backend, frames="1-4",
                 select=f"track:{1 - astronaut_track}", preview=False)
    left, right = _tracks_by_side(alignments.load(str(tmp_path / "track")))
    assert not left and sorted(right) == [1, 2, 3, 4]


def test_tracker_follows_overlap_and_starts_new_tracks_without_descriptors():
    tracker = Tracker()
    lm = np.zeros((68, 2))
    a = Detection((100, 100, 200, 200), 1.0, lm)
    b = Detection((400, 100, 500, 200), 1.0, lm)
    assert tracker.update(1, [a, b]) == [0, 1]
    moved = [Detection((412, 102, 512, 202), 1.0, lm), Detection((106, 100, 206, 200), 1.0, lm)]
    assert tracker.update(2, moved) == [1, 0]
    assert tracker.update(40, [a]) == [2]  # gone too long, no descriptor: a new track


def test_selection_spellings():
    assert Selection.parse("all").everything and Selection.parse(None).everything
    assert Selection.parse("track:0,2").tracks == (0, 2)
    assert Selection.parse("index:0").indices == (0,)
    assert Selection.parse("ref:/a/b.png").reference == "/a/b.png"
    assert str(Selection.parse("track:3")) == "track:3"
    with pytest.raises(FaceplateError, match="track:0,2"):
        Selection.parse("tracks=1")
