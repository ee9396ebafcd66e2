"""A picture of an extraction, for the artist who would rather look than read the JSON.

Top: a few frames spread over the shot with each face's box and landmarks, coloured by track
and labelled with the track id. Bottom: the aligned crop of each of those faces with its
``components`` mask outline, as training and convert will see them.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..face.align import crop_matrix, transform_points, warp_to_crop
from ..face.mask import landmark_mask
from ..io.colour import ColourSpaces
from ..io.images import to_uint8, write_image
from ..io.sequence import open_plate
from ..pictures import fit, label, stack_rows
from .alignments import Alignments
from .frame import network_frame

TRACK_COLOURS = [(255, 200, 30), (50, 200, 255), (255, 80, 130), (100, 255, 100),
                 (230, 130, 255), (255, 150, 50)]  # RGB, 8 bit (OpenCV draws text on 8 bit)


def write_preview(result: Alignments, out_png: str, *, samples: int = 4, tile: int = 160) -> str:
    """Write ``out_png`` (8-bit sRGB) for up to ``samples`` frames that have faces."""
    with_faces = [f for f in sorted(result.frames) if result.frames[f]]
    if not with_faces:
        return ""
    picks = [with_faces[round(i)] for i in np.linspace(0, len(with_faces) - 1,
                                                       min(samples, len(with_faces)))]
    plate = open_plate(result.plate, sorted(set(picks)))
    colour = ColourSpaces(result.colourspace)
    frame_row, crop_row = [], []
    for frame in dict.fromkeys(picks):
        image = network_frame(plate, frame, colour)[0].full()
        drawn = to_uint8(image)
        scale = max(image.shape[:2]) / 1000.0
        for face in result.frames[frame]:
            c = TRACK_COLOURS[face.track % len(TRACK_COLOURS)]
            x0, y0, x1, y1 = (round(v) for v in face.bbox)
            cv2.rectangle(drawn, (x0, y0), (x1, y1), c, max(1, round(2 * scale)))
            for x, y in face.landmarks:
                cv2.circle(drawn, (round(x), round(y)), max(1, round(2 * scale)), c, -1)
            cv2.putText(drawn, f"track {face.track}", (x0, max(12, y0 - 6)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale + 0.3, c, max(1, round(scale)))
            crop_row.append(_crop_tile(image, face, tile, c, f"{frame} t{face.track}"))
        frame_row.append(label(fit(drawn, tile), str(frame)))
    sheet = stack_rows([np.hstack(frame_row), np.hstack(crop_row)])
    write_image(out_png, sheet / 255.0, ["R", "G", "B"], {"faceplate/preview": result.plate},
                pixel_type="uint8")
    return out_png


def _crop_tile(image, face, size, colour, text) -> np.ndarray:
    crop = to_uint8(warp_to_crop(image, face.matrix, size))
    pts = transform_points(face.landmarks, crop_matrix(face.matrix, size))
    matte = (landmark_mask(pts, (size, size), "components") > 0.5).astype(np.uint8)
    contours, _ = cv2.findContours(matte, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(crop, contours, -1, colour, 1, cv2.LINE_AA)
    return label(crop, text)
