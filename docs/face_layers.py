"""Draws docs/face-layers.png: every layer of the merged EXR, on real faces.

The plate is the astronaut (scikit-image) as scene-linear ACEScg, moved through a sample shot
(faceplate.samples); the "model" swaps in Grace Hopper's aligned face (matplotlib's sample
photo) with her landmark hull as its learned mask, as docs/convert_modes.py does. Each row is a
frame; the columns are the layers FaceMerge and `faceplate convert` write, cut to the face.
Run: .venv/bin/python docs/face_layers.py
"""

from __future__ import annotations

import os
import tempfile

import cv2
import numpy as np
from faceplate.contact_sheet import region_picture
from faceplate.convert.merge import SwappedFace
from faceplate.convert.pipeline import merge_frame
from faceplate.convert.settings import MergeSettings
from faceplate.extract.backends.dlib_backend import DlibBackend
from faceplate.face.align import alignment_matrix, warp_to_crop
from faceplate.face.stmap import apply_stmap
from faceplate.io.colour import ColourSpaces
from faceplate.io.images import read_image, to_uint8
from faceplate.pictures import label, stack_rows
from faceplate.samples import make_shot, sample_swap

SIZE, TILE, SHOWN = 256, 200, (1001, 1008)


def _cut(image: np.ndarray, view: tuple[slice, slice]) -> np.ndarray:
    img = np.ascontiguousarray(np.clip(image[view], 0, 1))
    return cv2.resize(img, (TILE, TILE), interpolation=cv2.INTER_AREA)


def main() -> str:
    detect = DlibBackend()
    face, learned = sample_swap("grace_hopper", SIZE)
    colour = ColourSpaces("ACEScg")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        sample = make_shot("astronaut", tmp, frames=12, size=(640, 360), face_px=150.0)
        for f in SHOWN:
            plate = read_image(sample.path(f))
            shown = np.clip(colour.to_network(plate.rgb()), 0, 1)
            (seen,) = detect.detect(shown)[:1]
            matrix = alignment_matrix(seen.landmarks, "whole_face")
            swap = SwappedFace(face, learned, matrix, seen.landmarks, seen.score)
            merged = merge_frame(plate, [swap], colour, MergeSettings(colour="reinhard"))
            layers = merged.layers
            x0, y0, x1, y1 = (int(v) for v in seen.bbox)
            pad = (x1 - x0) // 2
            view = (slice(max(0, y0 - pad), y1 + pad), slice(max(0, x0 - pad), x1 + pad))
            raw = colour.to_network(layers.raw[..., :3])
            st = np.dstack([layers.st[..., 0], layers.st[..., 1], np.zeros_like(layers.st[..., 0])])
            back = apply_stmap(warp_to_crop(shown, matrix, SIZE), layers.st)
            back = back * layers.st[..., 2:] + shown * 0.25 * (1 - layers.st[..., 2:])
            confidence = layers.confidences[0]
            tiles = [
                (shown, f"plate {f}"),
                (np.clip(colour.to_network(merged.rgb), 0, 1), "merged"),
                (np.repeat(layers.face[..., None], 3, -1), "facemask.face"),
                (region_picture(layers.regions) + 0.25 * shown, "faceregion"),
                (raw, "faceraw (premultiplied)"),
                (st, "facest (s, t as red, green)"),
                (back, "aligned crop through facest"),
            ]
            row = [label(to_uint8(_cut(img, view)), text) for img, text in tiles]
            cv2.putText(row[1], f"confidence {confidence.overall:.2f}", (4, TILE - 8),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
            rows.append(np.hstack([np.pad(t, ((2, 2), (2, 2), (0, 0))) for t in row]))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "face-layers.png")
    cv2.imwrite(path, cv2.cvtColor(stack_rows(rows), cv2.COLOR_RGB2BGR))
    return path


if __name__ == "__main__":
    print(main())
