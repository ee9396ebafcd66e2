"""A picture of an extraction, for the artist who would rather look than read the JSON.

Top: a few frames spread over the shot with each face's box and landmarks, coloured by track
and labelled with the track id and its confidence; held-back (low-confidence) faces are drawn
grey with a crossed box and "held back". Below: one strip per track (a person keeps one track
across cuts), its aligned crops spread over the shot with the ``components`` mask outline, as
training and convert will see them. :func:`track_sheet` is that strip for every track alone
(``faceplate alignments --sheet``). A frame that no longer reads is left out of the picture.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from ..errors import FaceplateError
from ..face.align import crop_matrix, transform_points, warp_to_crop
from ..face.mask import landmark_mask
from ..io.colour import ColourSpaces
from ..io.images import placed, to_uint8, write_image
from ..io.sequence import open_plate
from ..pictures import fit, label, stack_rows
from .alignments import Alignments, FaceRecord
from .frame import network_frame

TRACK_COLOURS = [(255, 200, 30), (50, 200, 255), (255, 80, 130), (100, 255, 100),
                 (230, 130, 255), (255, 150, 50)]  # RGB, 8 bit (OpenCV draws text on 8 bit)
HELD_COLOUR = (140, 140, 140)

log = logging.getLogger(__name__)


def _faces(result: Alignments, frame: int) -> list[tuple[FaceRecord, bool]]:
    return [(f, False) for f in result.faces(frame)] + \
        [(f, True) for f in result.held_back.get(frame, [])]


def _spread(frames: list[int], count: int) -> list[int]:
    if not frames:
        return []
    return list(dict.fromkeys(frames[round(i)] for i in np.linspace(0, len(frames) - 1,
                                                                    min(count, len(frames)))))


class _Frames:
    """Network-space frames of the shot, read once each; None for a frame that does not read
    (damaged or gone since extraction: the picture goes without it)."""

    def __init__(self, result: Alignments, frames: list[int]):
        self._plate = open_plate(result.plate, sorted(set(frames)))
        self._colour = ColourSpaces(result.colourspace)
        self._view = result.view
        self._cache: dict[int, np.ndarray | None] = {}

    def __getitem__(self, frame: int) -> np.ndarray | None:
        if frame not in self._cache:
            try:
                image = network_frame(self._plate, frame, self._colour, self._view)[0]
                geometry = image.geometry  # the frame as Nuke shows it: the display window
                self._cache[frame] = placed(image.full(), geometry.origin,
                                            (0, 0, *geometry.frame_size))
            except FaceplateError as exc:  # the frame's own line is the reader's to write
                log.warning("preview: frame %d left out: it did not read again", frame)
                log.debug("preview: frame %d: %s", frame, exc)
                self._cache[frame] = None
        return self._cache[frame]


def write_preview(result: Alignments, out_png: str, *, samples: int = 4, tile: int = 160,
                  per_track: int = 6) -> str:
    """Write ``out_png`` (8-bit sRGB) for up to ``samples`` frames that have faces."""
    with_faces = [f for f in sorted(set(result.frames) | set(result.held_back))
                  if _faces(result, f)]
    if not with_faces:
        return ""
    picks = _spread(with_faces, samples)
    strips = _track_frames(result, per_track)
    frames = _Frames(result, picks + [f for fs in strips.values() for f in fs])
    frame_row = []
    for frame in picks:
        image = frames[frame]
        if image is None:
            continue
        drawn = to_uint8(image)
        scale = max(image.shape[:2]) / 1000.0
        for face, held in _faces(result, frame):
            _draw_face(drawn, face, held, scale, result)
        frame_row.append(label(fit(drawn, tile), str(frame)))
    if not frame_row:
        return ""
    rows = [np.hstack(frame_row)] + [_strip(result, frames, t, fs, tile)
                                     for t, fs in sorted(strips.items())]
    sheet = stack_rows(rows)
    write_image(out_png, sheet / 255.0, ["R", "G", "B"], {"faceplate/preview": result.plate},
                pixel_type="uint8")
    return out_png


def track_sheet(result: Alignments, out_png: str, *, per_track: int = 8, tile: int = 128) -> str:
    """A contact sheet with one strip per track (held-back tracks included); '' if no faces."""
    strips = _track_frames(result, per_track)
    if not strips:
        return ""
    frames = _Frames(result, [f for fs in strips.values() for f in fs])
    sheet = stack_rows([_strip(result, frames, t, fs, tile) for t, fs in sorted(strips.items())])
    write_image(out_png, sheet / 255.0, ["R", "G", "B"], {"faceplate/preview": result.plate},
                pixel_type="uint8")
    return out_png


def _track_frames(result: Alignments, count: int) -> dict[int, list[int]]:
    frames: dict[int, list[int]] = {}
    for frame in sorted(set(result.frames) | set(result.held_back)):
        for face, _ in _faces(result, frame):
            frames.setdefault(face.track, []).append(frame)
    return {t: _spread(sorted(set(fs)), count) for t, fs in frames.items()}


def _strip(result: Alignments, frames: _Frames, track: int, picks: list[int],
           tile: int) -> np.ndarray:
    info = result.track_info.get(track)
    held = bool(info and info.held_back)
    colour = HELD_COLOUR if held else TRACK_COLOURS[track % len(TRACK_COLOURS)]
    head = np.zeros((tile, tile, 3), np.uint8)
    lines = [f"track {track}"]
    if info:
        lines += [f"conf {info.confidence:.2f}", f"{info.frames} frames"]
    if held:
        lines.append("HELD BACK")
    for k, text in enumerate(lines):
        cv2.putText(head, text, (6, 24 + 20 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1,
                    cv2.LINE_AA)
    tiles = [head]
    for frame in picks:
        image = frames[frame]
        if image is None:
            continue
        for face, _ in _faces(result, frame):
            if face.track == track:
                tiles.append(_crop_tile(image, face, tile, colour, str(frame)))
                break
    return np.hstack(tiles)


def _draw_face(drawn: np.ndarray, face: FaceRecord, held: bool, scale: float,
               result: Alignments) -> None:
    c = HELD_COLOUR if held else TRACK_COLOURS[face.track % len(TRACK_COLOURS)]
    thick = max(1, round(2 * scale))
    x0, y0, x1, y1 = (round(v) for v in face.bbox)
    cv2.rectangle(drawn, (x0, y0), (x1, y1), c, thick)
    if held:  # crossed out: nothing will be swapped here
        cv2.line(drawn, (x0, y0), (x1, y1), c, thick)
        cv2.line(drawn, (x0, y1), (x1, y0), c, thick)
    else:
        for x, y in face.landmarks:
            cv2.circle(drawn, (round(x), round(y)), thick, c, -1)
    info = result.track_info.get(face.track)
    text = f"track {face.track}" + (f" {info.confidence:.2f}" if info else "") + \
        (" held back" if held else "")
    cv2.putText(drawn, text, (x0, max(12, y0 - 6)), cv2.FONT_HERSHEY_SIMPLEX,
                0.6 * scale + 0.3, c, max(1, round(scale)))


def _crop_tile(image, face, size, colour, text) -> np.ndarray:
    crop = to_uint8(warp_to_crop(image, face.matrix, size))
    pts = transform_points(face.landmarks, crop_matrix(face.matrix, size))
    matte = (landmark_mask(pts, (size, size), "components") > 0.5).astype(np.uint8)
    contours, _ = cv2.findContours(matte, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(crop, contours, -1, colour, 1, cv2.LINE_AA)
    return label(crop, text)
