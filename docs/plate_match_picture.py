"""Draws docs/plate-match.png: a swap on a grainy, soft, moving plate, before and after plate
match.

The plate is the bundled astronaut (scikit-image) filmed by a known camera
(faceplate.samples.Camera: grain rising with exposure and stronger in blue, a slight defocus,
the face moving 12 px a frame under a 180° shutter), as scene-linear ACEScg. The "model" swaps
in Grace Hopper's aligned face (matplotlib's sample photo), clean and sharp as a network render
is, with her landmark hull as its learned mask. Top row: the face; bottom row: the same crops
zoomed 4× (nearest neighbour, so the grain shows as it is).
Run: .venv/bin/python docs/plate_match_picture.py
"""

from __future__ import annotations

import os
import tempfile

import cv2
import numpy as np
from faceplate.convert.merge import SwappedFace
from faceplate.convert.motion import FaceMotion
from faceplate.convert.render import merge_frame
from faceplate.convert.settings import MergeSettings
from faceplate.face.align import alignment_matrix
from faceplate.io.colour import ColourSpaces
from faceplate.io.images import read_image
from faceplate.samples import Camera, make_camera_shot, sample_swap, source_landmarks

SIZE, TILE, ZOOM = 256, 300, 4
CAMERA = Camera(velocity=(12.0, 0.0), shutter=180.0, defocus=1.2, grain=(0.05, 0.06, 0.08),
                grain_size=0.8)


def main() -> str:
    face, learned = sample_swap("grace_hopper", SIZE)
    with tempfile.TemporaryDirectory() as tmp:
        sample = make_camera_shot("astronaut", tmp, CAMERA, frames=3, seed=1)
        colour = ColourSpaces(sample.colourspace)
        points = {f: sample.to_plate(f, source_landmarks("astronaut")) for f in sample.frames}
        matrices = {f: alignment_matrix(p, "whole_face") for f, p in points.items()}
        f = sample.frames[1]
        plate = read_image(sample.path(f))
        swap = SwappedFace(face, learned, matrices[f], points[f],
                           motion=FaceMotion(matrices[f - 1], matrices[f + 1]))

        def merged(**settings) -> np.ndarray:
            out = merge_frame(plate, [swap], colour, MergeSettings(temporal=0.0, **settings),
                              frame=f)
            return out.rgb

        views = [("plate", plate.rgb()),
                 ("before: plate match off", merged(grain="off", soften="off", shutter=0.0)),
                 ("after: grain, soften, shutter 180", merged())]
    x0, y0 = points[f].min(axis=0).astype(int)
    x1, y1 = points[f].max(axis=0).astype(int)
    pad = (x1 - x0) // 5
    whole = (slice(y0 - pad, y1 + pad), slice(x0 - pad, x1 + pad))
    cx, cy = int(points[f][30, 0]), int(points[f][30, 1])  # the nose tip
    half = TILE // ZOOM // 2
    near = (slice(cy - half, cy + half), slice(cx - 2 * half, cx))  # cheek, nose and edge
    rows = []
    for view, interpolation in ((whole, cv2.INTER_AREA), (near, cv2.INTER_NEAREST)):
        rows.append(np.hstack([_tile(colour.to_network(rgb[view]), label, interpolation)
                               for label, rgb in views]))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plate-match.png")
    cv2.imwrite(path, np.vstack(rows))
    return path


def _tile(rgb: np.ndarray, label: str, interpolation: int) -> np.ndarray:
    img = cv2.resize(np.ascontiguousarray(np.clip(rgb, 0, 1)), (TILE, TILE),
                     interpolation=interpolation)
    img = (img[..., ::-1] * 255).round().astype(np.uint8)  # BGR, 8 bit
    cv2.rectangle(img, (0, 0), (TILE, 18), (0, 0, 0), -1)
    cv2.putText(img, label, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1,
                cv2.LINE_AA)
    return img


if __name__ == "__main__":
    print(main())
