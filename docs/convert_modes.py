"""Draws docs/convert-modes.png: colour modes and mattes of `faceplate convert`, on real faces.

The "model" here swaps in Grace Hopper's aligned face (matplotlib's sample photo) for every
face, with her landmark hull as its learned mask, so the merge settings have something visibly
different to match and blend. The plate is the astronaut (scikit-image) as scene-linear ACEScg.
Run: .venv/bin/python docs/convert_modes.py
"""

from __future__ import annotations

import os

import cv2
import numpy as np
from faceplate.convert.merge import SwappedFace, merge_faces
from faceplate.convert.settings import MergeSettings
from faceplate.extract.backends.dlib_backend import DlibBackend
from faceplate.face.align import alignment_matrix
from faceplate.io.colour import ColourSpaces
from faceplate.samples import sample_swap, source_image

SIZE, TILE = 256, 220


def main() -> str:
    detect = DlibBackend()
    plate_srgb = source_image("astronaut")
    (her,) = detect.detect(plate_srgb)[:1]
    face, learned = sample_swap("grace_hopper", SIZE)
    colour = ColourSpaces("ACEScg")
    plate = colour.to_plate(plate_srgb)
    swap = SwappedFace(face, learned, alignment_matrix(her.landmarks, "whole_face"),
                       her.landmarks)
    x0, y0, x1, y1 = (int(v) for v in her.bbox)
    pad = (x1 - x0) // 2
    view = (slice(max(0, y0 - pad), y1 + pad), slice(max(0, x0 - pad), x1 + pad))

    def tile(settings: MergeSettings, show: str, label: str) -> np.ndarray:
        rgb = plate.copy()
        layers = merge_faces(rgb, None, [swap], colour, settings)
        if show == "matte":
            img = np.repeat(layers.face[..., None], 3, -1) * 0.8 + plate_srgb * 0.2
        else:
            img = np.clip(colour.to_network(rgb), 0, 1)
        img = cv2.resize(np.ascontiguousarray(img[view]), (TILE, TILE),
                         interpolation=cv2.INTER_AREA)
        img = (np.clip(img, 0, 1)[..., ::-1] * 255).round().astype(np.uint8)  # BGR, 8 bit
        cv2.rectangle(img, (0, 0), (TILE, 18), (0, 0, 0), -1)
        cv2.putText(img, label, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1,
                    cv2.LINE_AA)
        return img

    colours = [tile(MergeSettings(mask="hull", colour=c), "rgb", f"--colour {c}")
               for c in ("none", "average", "reinhard", "histogram", "seamless")]
    mattes = [tile(MergeSettings(**kw), "matte", label) for kw, label in (
        ({"mask": "hull", "blur": 2}, "--mask hull"),
        ({"mask": "learned", "blur": 2}, "--mask learned"),
        ({"mask": "hull*learned", "blur": 2}, "--mask hull*learned"),
        ({"mask": "hull", "erode": 8, "blur": 2}, "--erode 8"),
        ({"mask": "hull", "erode": -8, "blur": 10}, "--erode -8 --blur 10"))]
    sheet = np.vstack([np.hstack(colours), np.hstack(mattes)])
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "convert-modes.png")
    cv2.imwrite(out, sheet)
    return out


if __name__ == "__main__":
    print(main())
